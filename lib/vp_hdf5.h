/*
 * vp_hdf5: the vector readers' HDF5 path (vp_io.h).  ann-benchmarks
 * distributes its data sets as HDF5 files of two-dimensional datasets
 * (train and test: float32 n x d; neighbors: int32 nq x 100); a user names
 * one as FILE:DATASET ("glove-100-angular.hdf5:train").  Rows are read a
 * batch at a time as hyperslabs, so a large dataset is never held twice,
 * converted to float32 (or int32 for ids) by libhdf5, and checked like
 * every other input.
 */
#ifndef VP_HDF5_H
#define VP_HDF5_H

#include <stddef.h>
#include <stdint.h>

#include "vp_err.h"
#include "vp_io.h"

/* Is path an HDF5 dataset name: "NAME.hdf5:DATASET" or "NAME.h5:DATASET",
 * or a file ending in .hdf5 / .h5 (then its dataset must be named)? */
int vp_hdf5_spec(const char *path);

/* Opens the dataset: r->dim and r->count from its shape.  Returns 0 or a
 * negative VP_E_* (VP_E_IO: no such file; VP_E_FORMAT: not HDF5, no such
 * dataset (the message lists those there), not 1- or 2-dimensional, not
 * numbers). */
int vp_hdf5_open(struct vp_reader *r, const char *path, struct vp_error *err);

/* Reads up to max_rows rows as float (ints 0) or int32 (ints 1).  Returns
 * rows read, 0 at the end, or a negative VP_E_*. */
long vp_hdf5_read(struct vp_reader *r, void *out, size_t max_rows, int ints,
		  struct vp_error *err);

void vp_hdf5_close(struct vp_reader *r);

#endif
