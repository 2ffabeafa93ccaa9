/*
 * vp_topk: bounded result heaps and the k-way merge of partial results.
 *
 * A struct vp_topk keeps the k best (smallest distance) of what is pushed,
 * as a max-heap so the worst kept result is at the root.  Ties are broken by
 * the smaller id, so results are deterministic whatever order candidates
 * arrive in (threads, segments, blocks).
 */
#ifndef VP_TOPK_H
#define VP_TOPK_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

struct vp_topk {
	size_t k, n;
	float *dist;
	int64_t *id;
};

/* (da, ia) ranks before (db, ib). */
static inline int vp_topk_before(float da, int64_t ia, float db, int64_t ib)
{
	return da < db || (da == db && ia < ib);
}

/* Allocates room for k results.  Returns 0 or VP_E_NOMEM. */
int vp_topk_init(struct vp_topk *t, size_t k);

/* Frees the arrays; t may be reused after vp_topk_init. */
void vp_topk_release(struct vp_topk *t);

/* Empties the heap, keeping its memory. */
static inline void vp_topk_reset(struct vp_topk *t)
{
	t->n = 0;
}

/* Returns the distance a candidate must beat to enter: +inf until full. */
static inline float vp_topk_bound(const struct vp_topk *t)
{
	return t->n < t->k ? INFINITY : t->dist[0];
}

/* Offers one candidate (slow path kept out of line). */
void vp_topk_push_slow(struct vp_topk *t, float d, int64_t id);

static inline void vp_topk_push(struct vp_topk *t, float d, int64_t id)
{
	if (t->n < t->k || vp_topk_before(d, id, t->dist[0], t->id[0]))
		vp_topk_push_slow(t, d, id);
}

/* Moves the results into dist/id in ascending order and empties the heap.
 * Returns the number of results (at most k). */
size_t vp_topk_extract(struct vp_topk *t, float *dist, int64_t *id);

/* Sorts got results ascending by (distance, id), in place (insertion: got
 * is a k, small), and pads dist/id up to k with +inf and -1. */
void vp_topk_sort_pad(float *dist, int64_t *id, size_t got, size_t k);

/* Merges nlists ascending lists (dists[i], ids[i], lens[i]) into the k best,
 * ascending, in out_dist/out_id.  Returns the number written. */
size_t vp_topk_merge(const float *const *dists, const int64_t *const *ids,
		     const size_t *lens, size_t nlists, size_t k,
		     float *out_dist, int64_t *out_id);

#endif
