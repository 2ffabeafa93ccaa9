/*
 * vp_io: vector files in and out.
 *
 * Formats: fvecs, bvecs, ivecs (each row: int32 dimension, then the values),
 * and the big-ann-benchmarks layout fbin, u8bin, ibin (uint32 count, uint32
 * dimension, then count*dimension values).  All little-endian.  And a
 * two-dimensional dataset of an HDF5 file, as ann-benchmarks distributes
 * them ("x.hdf5:train", "x.hdf5:neighbors"), through libhdf5 (vp_hdf5.c).
 *
 * Files, stdin and pipes are read through a buffer, one batch at a time, so
 * an input of any length is never held whole.  Every
 * malformed input is an error naming the file and the row or offset:
 * truncated record, inconsistent, zero or absurd dimension, NaN or infinity.
 */
#ifndef VP_IO_H
#define VP_IO_H

#include <stddef.h>
#include <stdint.h>

#include "vp_err.h"

#define VP_DIM_MAX 65536u /* larger dimensions are taken for a foreign file */

enum vp_vecfmt {
	VP_FMT_AUTO = 0, /* from the file name; fvecs for stdin or unknown */
	VP_FMT_FVECS,
	VP_FMT_BVECS,
	VP_FMT_IVECS,
	VP_FMT_FBIN,
	VP_FMT_U8BIN,
	VP_FMT_IBIN,
	VP_FMT_HDF5,     /* "FILE.hdf5:DATASET" (ann-benchmarks), vp_hdf5 */
};

struct vp_reader {
	const char *name;      /* as given, "-" is shown as "<stdin>" */
	enum vp_vecfmt fmt;
	uint32_t dim;          /* 0 only for an empty input */
	uint64_t count;        /* rows in the input, UINT64_MAX while unknown */
	uint64_t row;          /* rows delivered so far */
	uint64_t total_bytes;  /* size when known (for progress), else 0 */
	uint64_t consumed;     /* bytes consumed so far */
	/* private */
	int fd, own_fd, sized; /* sized: a regular file, total_bytes known */
	unsigned char *buf;
	size_t cap, len, off;
	int eof;
	int64_t h5f, h5d;      /* HDF5: file and dataset (vp_hdf5), 0 when none */
	int h5int;             /* HDF5: the dataset holds integers */
};

/* Parses "fvecs", "bvecs", ...; returns the format or VP_FMT_AUTO (0) when
 * the name is unknown. */
enum vp_vecfmt vp_vecfmt_parse(const char *s);

/* Returns the format's name ("fvecs"). */
const char *vp_vecfmt_name(enum vp_vecfmt fmt);

/* Opens path ("-" or NULL for stdin) and reads enough to learn the
 * dimension.  Returns 0, or a negative VP_E_* with err filled. */
int vp_reader_open(struct vp_reader *r, const char *path, enum vp_vecfmt fmt,
		   struct vp_error *err);

/* Reads up to max_rows rows as floats into out (max_rows * dim floats).
 * Integer formats are converted.  Returns the number of rows read, 0 at the
 * end of the input, or a negative VP_E_* (truncation, bad row, NaN). */
long vp_reader_read(struct vp_reader *r, float *out, size_t max_rows,
		    struct vp_error *err);

/* Reads up to max_rows rows of an ivecs or ibin input as int32.
 * Returns rows read, 0 at the end, or a negative VP_E_*. */
long vp_reader_read_ints(struct vp_reader *r, int32_t *out, size_t max_rows,
			 struct vp_error *err);

/* Checks n rows of d floats read from r (the first is row r->row) for
 * NaN, infinity and magnitudes whose squares could overflow.  Returns 0 or
 * VP_E_VALUE naming row and column. */
int vp_reader_check(const struct vp_reader *r, const float *rows, size_t n,
		    size_t d, struct vp_error *err);

/* Releases the mapping or buffer and closes the file. */
void vp_reader_close(struct vp_reader *r);

/* Reads a whole input as floats into a malloc'd array (*out, *n rows of
 * *dim).  Returns 0 or a negative VP_E_*. */
int vp_read_all(const char *path, enum vp_vecfmt fmt, float **out, size_t *n,
		uint32_t *dim, struct vp_error *err);

/* Reads a whole ivecs/ibin input into a malloc'd int32 array. */
int vp_read_all_ints(const char *path, enum vp_vecfmt fmt, int32_t **out,
		     size_t *n, uint32_t *dim, struct vp_error *err);

/* Writes rows to a stdio stream in fvecs, ivecs or fbin layout.  For fbin
 * the header (count, dim) is written by vp_write_fbin_header first.
 * Return 0 or VP_E_IO. */
int vp_write_fvecs(void *stream, const float *rows, size_t n, uint32_t dim,
		   struct vp_error *err);
int vp_write_ivecs(void *stream, const int32_t *rows, size_t n, uint32_t dim,
		   struct vp_error *err);
int vp_write_fbin_header(void *stream, uint32_t n, uint32_t dim,
			 struct vp_error *err);
int vp_write_raw(void *stream, const void *data, size_t bytes,
		 struct vp_error *err);

/* Text of numbers for tsv and json output, without printf's cost on the
 * common cases.  Each writes at buf (room for VP_NUM_MAX bytes, no NUL)
 * and returns the length.  vp_fmt_g9 writes exactly what printf's "%.9g"
 * writes (integral values below 1e9 directly, others through snprintf). */
#define VP_NUM_MAX 32
size_t vp_fmt_u64(char *buf, uint64_t v);
size_t vp_fmt_i64(char *buf, int64_t v);
size_t vp_fmt_g9(char *buf, float v);

/* Reads a whole text file (at most max bytes) into a malloc'd buffer,
 * NUL-terminated.  Returns 0, VP_E_IO (unreadable), VP_E_FORMAT (larger
 * than max) or VP_E_NOMEM, naming path. */
int vp_read_text(const char *path, size_t max, char **out, size_t *len,
		 struct vp_error *err);

#endif
