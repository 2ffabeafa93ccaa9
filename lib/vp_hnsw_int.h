/*
 * vp_hnsw_int: what the HNSW build and search share and nothing else
 * needs: the visited set, the two heaps of a layer search, the distance.
 */
#ifndef VP_HNSW_INT_H
#define VP_HNSW_INT_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vp_alog.h"
#include "vp_dist.h"
#include "vp_filter.h"
#include "vp_hnsw.h"

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

/* The candidate list of a coded walk: ef (distance, node) pairs sorted
 * ascending, the top bit of a node marking it expanded, and cur the first
 * one not yet expanded.  One sorted array does the work of hnswlib's two
 * heaps: the next node to expand is at cur, the bound is the last entry,
 * and an insertion is a binary search and a short memmove (ef is small). */
#define VP_LPOOL_DONE 0x80000000u
struct vp_lpool {
	float *d;
	uint32_t *id;
	size_t n, cap, cur;
};

static inline int vp_lpool_reserve(struct vp_lpool *p, size_t cap)
{
	if (cap <= p->cap)
		return 0;
	float *d = realloc(p->d, (cap + 1) * sizeof *d);
	if (!d)
		return -1;
	p->d = d;
	uint32_t *id = realloc(p->id, (cap + 1) * sizeof *id);
	if (!id)
		return -1;
	p->id = id;
	p->cap = cap;
	return 0;
}

/* Inserts unless full and no closer than the last; returns 1 if inserted. */
static inline int vp_lpool_insert(struct vp_lpool *p, size_t cap, float d,
				  uint32_t id)
{
	size_t lo = 0, hi = p->n;
	if (p->n == cap && d >= p->d[p->n - 1])
		return 0;
	while (lo < hi) {
		size_t mid = (lo + hi) >> 1;
		if (p->d[mid] <= d)
			lo = mid + 1;
		else
			hi = mid;
	}
	size_t end = p->n == cap ? p->n - 1 : p->n;
	if (lo < end) {
		memmove(p->d + lo + 1, p->d + lo, (end - lo) * sizeof *p->d);
		memmove(p->id + lo + 1, p->id + lo, (end - lo) * sizeof *p->id);
	}
	p->d[lo] = d;
	p->id[lo] = id;
	if (p->n < cap)
		p->n++;
	if (lo < p->cur)
		p->cur = lo;
	return 1;
}

/* Takes the closest node not yet expanded (the caller checked cur < n). */
static inline uint32_t vp_lpool_pop(struct vp_lpool *p)
{
	uint32_t u = p->id[p->cur];
	p->id[p->cur] |= VP_LPOOL_DONE;
	while (p->cur < p->n && (p->id[p->cur] & VP_LPOOL_DONE))
		p->cur++;
	return u;
}

/* Per-thread search state kept between queries. */
struct vp_hstate {
	struct vp_visited vis;
	struct vp_nheap cand, res;
	struct vp_lpool pool;  /* coded walk */
	uint8_t *qcode;        /* the query's code, 64-byte aligned */
	size_t qcap;
	/* tracing: the rows the walk asked for ahead of its re-rank (it
	 * reads them even when they end up not re-ranked, so the access log
	 * names them too) */
	uint32_t early[64];
	uint32_t nearly;
	const struct vp_kernels *kern; /* the float walk's distances */
};

/* The access trace of one query: trace[0] - 1 items follow trace[1] (the
 * region shift); items are level-0 regions (node >> shift) whose vector or
 * links were read, deduplicated when the room runs out and at the end. */
static inline int vp_cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static inline uint32_t vp_trace_compact(uint32_t *r, uint32_t n)
{
	uint32_t w = 0;
	qsort(r, n, sizeof *r, vp_cmp_u32);
	for (uint32_t i = 0; i < n; i++)
		if (!w || r[w - 1] != r[i])
			r[w++] = r[i];
	return w;
}

static inline void vp_trace_add(uint32_t *trace, uint32_t node)
{
	uint32_t n = trace[0] - 1, reg = node >> trace[1], *r = trace + 2;
	if (n && r[n - 1] == reg)
		return;
	if (n == VP_HNSW_TRACE_MAX) {
		n = vp_trace_compact(r, n);
		if (n == VP_HNSW_TRACE_MAX)
			return;  /* full: the rest of this query is not recorded */
	}
	r[n] = reg;
	trace[0] = n + 2;
}

/* The coded walk, one per SIMD level (vp_hnsw_walk.h is the body): greedy
 * descent through the upper levels, then the best-first search of level 0
 * with a candidate list of ef, all on codes (q is the query's code).
 * Writes to out (room for max(ef, want); it may be s->pool.id) the want
 * closest nodes found that pass fc, ascending by code distance, and their
 * distances to outd (NULL: not wanted), and returns how many, or SIZE_MAX
 * when out of memory. */
typedef size_t (*vp_hnsw_walk_fn)(const struct vp_hnsw *h, struct vp_hstate *s,
				  const void *q, size_t ef, size_t want,
				  const struct vp_fctx *fc, uint32_t *trace,
				  uint32_t *out, float *outd);
#define VP_WALK_ARGS const struct vp_hnsw *h, struct vp_hstate *s, const void *q, \
	size_t ef, size_t want, const struct vp_fctx *fc, uint32_t *trace,        \
	uint32_t *out, float *outd
size_t vp_hnsw_walk_portable(VP_WALK_ARGS);
size_t vp_hnsw_walk_avx2(VP_WALK_ARGS);
size_t vp_hnsw_walk_vnni(VP_WALK_ARGS);
/* the walk on the float vectors (an index without codes): q is the query
 * itself, distances through s->kern, exact */
size_t vp_hnsw_walk_float(VP_WALK_ARGS);

/* The code L2 distance of the SIMD level the kernels k run at, called
 * through a pointer (the build; the search inlines it in its walk). */
typedef int32_t (*vp_code_dist_fn)(const uint8_t *a, const uint8_t *b, size_t stride);
vp_code_dist_fn vp_code_l2_for(const struct vp_kernels *k);
int32_t vp_code_l2_avx2(const uint8_t *a, const uint8_t *b, size_t stride);
int32_t vp_code_l2_vnni(const uint8_t *a, const uint8_t *b, size_t stride);
vp_hnsw_walk_fn vp_hnsw_walk_for(const struct vp_kernels *k);

/* The code distances the walks inline, portable versions (the reference
 * the SIMD ones must equal: integer sums, so exactly). */
static inline int32_t vp_code_l2_portable(const uint8_t *a, const uint8_t *b,
					  size_t stride)
{
	int32_t s = 0;
	for (size_t j = 0; j < stride; j++) {
		int32_t t = (int32_t)a[j] - (int32_t)b[j];
		s += t * t;
	}
	return s;
}

static inline int32_t vp_code_ip_portable(const uint8_t *q, const uint8_t *c,
					  size_t stride)
{
	int32_t s = 0;
	for (size_t j = 0; j < stride; j++)
		s += (int32_t)(int8_t)q[j] * (int32_t)c[j];
	return s;
}

#endif
