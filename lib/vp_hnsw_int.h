/*
 * vp_hnsw_int: what the HNSW build and search share and nothing else
 * needs: the visited set, the two heaps of a layer search, the distance.
 */
#ifndef VP_HNSW_INT_H
#define VP_HNSW_INT_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vp_dist.h"

/* Visited marks as epoch tags: starting a new search is one increment, and
 * the array is cleared only when the 16-bit epoch wraps. */
struct vp_visited {
	uint16_t *tag;
	uint16_t epoch;
	size_t n;
};

static inline int vp_visited_init(struct vp_visited *v, size_t n)
{
	v->tag = calloc(n ? n : 1, sizeof *v->tag);
	v->epoch = 0;
	v->n = n;
	return v->tag ? 0 : -1;
}

static inline void vp_visited_next(struct vp_visited *v)
{
	if (++v->epoch == 0) {
		memset(v->tag, 0, v->n * sizeof *v->tag);
		v->epoch = 1;
	}
}

/* Marks i; returns 1 if it was already marked in this search. */
static inline int vp_visited_test_set(struct vp_visited *v, uint32_t i)
{
	if (v->tag[i] == v->epoch)
		return 1;
	v->tag[i] = v->epoch;
	return 0;
}

/* A growable binary heap of (distance, node); min-heap when sign is 1,
 * max-heap when sign is -1 (distances are stored multiplied by sign). */
struct vp_nheap {
	float *d;
	uint32_t *id;
	size_t n, cap;
};

static inline int vp_nheap_reserve(struct vp_nheap *h, size_t cap)
{
	if (cap <= h->cap)
		return 0;
	float *d = realloc(h->d, cap * sizeof *d);
	if (!d)
		return -1;
	h->d = d;
	uint32_t *id = realloc(h->id, cap * sizeof *id);
	if (!id)
		return -1;
	h->id = id;
	h->cap = cap;
	return 0;
}

static inline void vp_nheap_free(struct vp_nheap *h)
{
	free(h->d);
	free(h->id);
	memset(h, 0, sizeof *h);
}

/* Pushes keeping the smallest key on top; the caller reserved room. */
static inline void vp_nheap_push(struct vp_nheap *h, float key, uint32_t id)
{
	size_t i = h->n++;
	while (i > 0) {
		size_t p = (i - 1) >> 1;
		if (h->d[p] <= key)
			break;
		h->d[i] = h->d[p];
		h->id[i] = h->id[p];
		i = p;
	}
	h->d[i] = key;
	h->id[i] = id;
}

/* Removes the top (smallest key). */
static inline void vp_nheap_pop(struct vp_nheap *h)
{
	size_t n = --h->n, i = 0;
	float key = h->d[n];
	uint32_t id = h->id[n];
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= n)
			break;
		if (c + 1 < n && h->d[c + 1] < h->d[c])
			c++;
		if (key <= h->d[c])
			break;
		h->d[i] = h->d[c];
		h->id[i] = h->id[c];
		i = c;
	}
	if (n) {
		h->d[i] = key;
		h->id[i] = id;
	}
}

/* The graph's distance: squared L2, or the negated inner product (cosine
 * adds 1 only when results are reported). */
static inline float vp_hnsw_dist(const struct vp_kernels *k, int metric,
				 const float *a, const float *b, size_t d)
{
	return metric == VP_METRIC_L2 ? k->l2(a, b, d) : -k->dot(a, b, d);
}

#endif
