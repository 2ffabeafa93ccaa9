/*
 * vp_search: search an opened index, whatever its type and however many
 * segments it has.
 *
 * A searcher owns the mapping of one index file and a view of each
 * segment.  Many processes may open the same file: the mapping is read-only
 * and shared, so the page cache holds one copy.  A query batch is searched
 * in every segment and the per-segment top-k lists are merged; segments
 * hold contiguous ranges of external ids, so ids are stable across appends.
 */
#ifndef VP_SEARCH_H
#define VP_SEARCH_H

#include <stddef.h>
#include <stdint.h>

#include "vp_build.h"
#include "vp_err.h"
#include "vp_flat.h"
#include "vp_hnsw.h"
#include "vp_index.h"
#include "vp_ivf.h"
#include "vp_params.h"

struct vp_segment {
	struct vp_segment_meta meta;
	struct vp_flat flat;
	struct vp_flat_pool pool; /* per-thread scratch, reused across calls */
	struct vp_hnsw hnsw;
	struct vp_hnsw_pool hpool;
	struct vp_ivf ivf;
	struct vp_ivf_pool ipool;
};

struct vp_searcher {
	struct vp_index ix;
	struct vp_segment *seg;
	size_t nseg;
	float *qbuf; /* normalised copies of cosine queries */
	size_t qcap;
	float *pd;   /* per-segment results before the merge */
	int64_t *pi;
	size_t pcap;
};

/* Opens and validates an index (bounds always; checksums when verify).
 * Returns 0 or a negative VP_E_*. */
int vp_searcher_open(struct vp_searcher *s, const char *path, int verify,
		     struct vp_error *err);

/* Searches nq queries of the index's dimension for their k nearest
 * neighbours; writes nq*k ascending distances and ids (padded with +inf and
 * -1).  ps holds search parameters already checked for this index type.
 * Returns 0 or a negative VP_E_*. */
int vp_searcher_search(struct vp_searcher *s, const float *q, size_t nq,
		       size_t k, const struct vp_param_set *ps, int threads,
		       float *dist, int64_t *ids, struct vp_error *err);

void vp_searcher_close(struct vp_searcher *s);

#endif
