/*
 * vp_flat: the exact (FLAT) index.
 *
 * Sections: "vectors" (count x dim float32, row-major, page-aligned) and
 * "norms" (count float32 squared norms, so L2 search needs no pass over the
 * data to compute them).  Search is the GEMM formulation of exact search:
 * ||q - x||^2 = ||q||^2 - 2<q,x> + ||x||^2, with the inner products of a
 * block of queries against a block of base vectors computed by the
 * register-tiled dot_block kernel, and each block's distances folded into
 * per-query bounded heaps.
 */
#ifndef VP_FLAT_H
#define VP_FLAT_H

#include <stddef.h>
#include <stdint.h>

#include "vp_err.h"
#include "vp_topk.h"

/* Tuning of the blocked scan (not user knobs: fixed by the cache sizes). */
#define VP_FLAT_QBLOCK 128 /* queries kept in L2 while base vectors stream */
#define VP_FLAT_XBLOCK 240 /* base vectors per dot block (multiple of 6 and 4) */

struct vp_flat {
	const float *x;     /* n x d */
	const float *norms; /* n squared norms */
	size_t n, d;
	int metric;
	int64_t id_base;    /* external id of row 0 */
	const uint64_t *dead; /* deleted rows, a bit each (vp_edit), or NULL */
};

/* One query against rows [lo, hi): pushes partial distances (without the
 * query's own norm, see vp_flat_dist) into h with ids id_base + row.  c is
 * scratch of VP_FLAT_XBLOCK floats.  The building block of IVF_FLAT. */
void vp_flat_scan1(const struct vp_flat *f, const float *q, size_t lo,
		   size_t hi, struct vp_topk *h, float *c);

/* Turns a partial distance from vp_flat_scan1 into the metric's distance;
 * qnorm is the query's squared norm. */
float vp_flat_dist(int metric, float partial, float qnorm);

/* Per-thread scratch kept between calls, so that a search allocates
 * nothing once warm (the latency loop calls search once per query). */
struct vp_flat_pool {
	void **per_thread; /* struct scratch *, one per thread, made on demand */
	int nthreads;
	size_t k;          /* the k the scratch was made for */
	float *pd;         /* base-parallel partial lists */
	int64_t *pi;
	size_t *plen;
	size_t pslots;
};

/* Frees a pool's scratch; the pool may be reused (it starts zeroed). */
void vp_flat_pool_release(struct vp_flat_pool *p);

/* Searches nq queries (already normalised for cosine) for their k nearest
 * rows, on up to threads threads.  Writes nq*k distances and ids, ascending;
 * slots past n are filled with +inf / -1.  Returns 0 or VP_E_NOMEM. */
int vp_flat_search(const struct vp_flat *f, struct vp_flat_pool *pool,
		   const float *q, size_t nq,
		   size_t k, int threads, float *dist, int64_t *ids,
		   struct vp_error *err);

#endif
