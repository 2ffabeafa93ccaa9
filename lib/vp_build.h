/*
 * vp_build: turn a set of vectors into an index file, whatever the type.
 */
#ifndef VP_BUILD_H
#define VP_BUILD_H

#include <stddef.h>
#include <stdint.h>

#include "vp_err.h"
#include "vp_index.h"
#include "vp_hnsw.h"
#include "vp_params.h"

struct vp_build_opts {
	int type;    /* enum vp_index_type */
	int metric;  /* enum vp_metric */
	int threads;
	uint64_t seed;
	struct vp_param_set params;
	vp_progress_fn progress; /* optional, called from one thread */
	void *progress_ctx;
};

/* Fills o with the defaults: FLAT, l2, 1 thread, VP_SEED_DEFAULT. */
void vp_build_opts_init(struct vp_build_opts *o);

/* Builds an index of the n x dim rows in data and commits it through w
 * (temp file + rename).  For cosine, data is normalised in place.  Returns
 * 0 or a negative VP_E_* (VP_E_UNSUPP for a type this version lacks). */
int vp_build_index(struct vp_index_writer *w, float *data, size_t n,
		   uint32_t dim, const struct vp_build_opts *o,
		   struct vp_error *err);

#endif
