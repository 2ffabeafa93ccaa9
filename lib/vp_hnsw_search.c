/*
 * vp_hnsw_search: K-NN-SEARCH (Algorithm 5 of Malkov & Yashunin) over a
 * graph mapped from an index file: greedy descent through the upper layers,
 * then a best-first search of layer 0 with a candidate list of ef.
 *
 * Layer 0 is a flat fixed-degree array, so a node's links are one
 * contiguous read; while a node's neighbours are scored, the vectors of the
 * next unvisited neighbours are prefetched, hiding most of the memory
 * latency that dominates graph search.  Visited sets and heaps live in a
 * per-thread pool reused across queries.
 */
#include "vp_hnsw.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "vp_hnsw_int.h"

int vp_hnsw_open(struct vp_hnsw *h, const struct vp_index *ix, uint32_t seg,
		 uint64_t n, struct vp_error *err)
{
	const uint32_t *meta;
	const void *p;
	uint64_t d = ix->hdr.dim, vb;
	const struct vp_section *s;
	int rc;

	memset(h, 0, sizeof *h);
	if (vp_mul_ok(n, d * 4, &vb))
		return vp_seterr(err, VP_E_CORRUPT, "%s: corrupt index: size overflow", ix->path);
	if ((rc = vp_index_need(ix, "vectors", seg, vb, &p, err)))
		return rc;
	h->x = p;
	if ((rc = vp_index_need(ix, "hnsw_meta", seg, 16, &p, err)))
		return rc;
	meta = p;
	h->entry = meta[0];
	h->maxlevel = meta[1];
	h->M = meta[2];
	h->M0 = meta[3];
	if (h->M < VP_HNSW_M_MIN || h->M > VP_HNSW_M_MAX || h->M0 != 2 * h->M ||
	    h->entry >= n || h->maxlevel > VP_HNSW_MAX_LEVEL)
		return vp_seterr(err, VP_E_CORRUPT, "%s: corrupt index: bad hnsw "
				 "parameters (M %u, entry %u, max level %u)",
				 ix->path, h->M, h->entry, h->maxlevel);
	if ((rc = vp_index_need(ix, "hnsw_levels", seg, n, &p, err)))
		return rc;
	h->levels = p;
	if ((rc = vp_index_need(ix, "hnsw_l0", seg, n * (1 + h->M0) * 4, &p, err)) ||
	    (rc = vp_index_need(ix, "hnsw_upoff", seg, n * 4, &p, err)))
		return rc;
	h->l0 = vp_index_data(ix, vp_index_find(ix, "hnsw_l0", seg));
	h->upoff = p;
	s = vp_index_find(ix, "hnsw_upper", seg);
	if (!s || s->length % ((1 + h->M) * 4))
		return vp_seterr(err, VP_E_CORRUPT, "%s: corrupt index: section "
				 "'hnsw_upper' missing or mis-sized", ix->path);
	h->upper = vp_index_data(ix, s);
	h->nblocks = s->length / ((1 + h->M) * 4);
	/* every link and offset inside its bounds: a hostile file cannot
	 * steer the search outside the mapping */
	for (uint64_t i = 0; i < n && !ix->layout_only; i++) {
		const uint32_t *l = h->l0 + i * (1 + h->M0);
		if (l[0] > h->M0)
			goto bad;
		for (uint32_t j = 1; j <= l[0]; j++)
			if (l[j] >= n)
				goto bad;
		if (h->levels[i] > h->maxlevel ||
		    (uint64_t)h->upoff[i] + h->levels[i] > h->nblocks)
			goto bad;
	}
	if (h->levels[h->entry] != h->maxlevel)
		goto bad;
	for (size_t b = 0; b < h->nblocks; b++) {
		const uint32_t *l = h->upper + b * (1 + h->M);
		if (l[0] > h->M)
			goto bad;
		for (uint32_t j = 1; j <= l[0]; j++)
			if (l[j] >= n)
				goto bad;
	}
	h->n = n;
	h->d = d;
	h->metric = (int)ix->hdr.metric;
	return 0;
bad:
	return vp_seterr(err, VP_E_CORRUPT, "%s: corrupt index: hnsw link out "
			 "of range", ix->path);
}

struct hstate {
	struct vp_visited vis;
	struct vp_nheap cand, res;
};

static void hstate_free(struct hstate *s)
{
	if (!s)
		return;
	free(s->vis.tag);
	vp_nheap_free(&s->cand);
	vp_nheap_free(&s->res);
	free(s);
}

void vp_hnsw_pool_release(struct vp_hnsw_pool *p)
{
	for (int t = 0; t < p->nthreads; t++)
		hstate_free(p->per_thread[t]);
	free(p->per_thread);
	memset(p, 0, sizeof *p);
}

/* The candidate queue holds whatever beats the ef-th result: seldom more
 * than ef x M0 / 2 entries.  Every thread's queues are reserved here,
 * before the parallel loop, so that no query allocates: not one that needs
 * more than the ones before it, nor the first one a thread happens to get. */
static size_t cand_room(size_t ef, uint32_t m0)
{
	return ef * (m0 / 2 + 1) + 2;
}

static int pool_ready(struct vp_hnsw_pool *p, int threads, size_t n, size_t ef, uint32_t m0)
{
	if (p->nthreads < threads) {
		void **a = realloc(p->per_thread, (size_t)threads * sizeof *a);
		if (!a)
			return -1;
		p->per_thread = a;
		for (int t = p->nthreads; t < threads; t++) {
			struct hstate *s = calloc(1, sizeof *s);
			if (!s || vp_visited_init(&s->vis, n)) {
				free(s);
				return -1;
			}
			a[t] = s;
			p->nthreads = t + 1;
		}
	}
	for (int t = 0; t < threads; t++) {
		struct hstate *s = p->per_thread[t];
		if (vp_nheap_reserve(&s->res, ef + 2) || vp_nheap_reserve(&s->cand, cand_room(ef, m0)))
			return -1;
	}
	return 0;
}

static inline void prefetch_vec(const float *v, size_t d)
{
	/* the first lines are needed first; the hardware prefetcher follows */
	const char *p = (const char *)v;
	__builtin_prefetch(p);
	__builtin_prefetch(p + 64);
	if (d > 32) {
		__builtin_prefetch(p + 128);
		__builtin_prefetch(p + 192);
	}
}

/* The access trace of one query: trace[0] items follow trace[1] (the
 * region shift); items are level-0 regions (node >> shift) whose vector or
 * links were read, deduplicated when the room runs out and at the end. */
static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static uint32_t trace_compact(uint32_t *r, uint32_t n)
{
	uint32_t w = 0;
	qsort(r, n, sizeof *r, cmp_u32);
	for (uint32_t i = 0; i < n; i++)
		if (!w || r[w - 1] != r[i])
			r[w++] = r[i];
	return w;
}

static inline void trace_add(uint32_t *trace, uint32_t node)
{
	uint32_t n = trace[0] - 1, reg = node >> trace[1], *r = trace + 2;
	if (n && r[n - 1] == reg)
		return;
	if (n == VP_HNSW_TRACE_MAX) {
		n = trace_compact(r, n);
		if (n == VP_HNSW_TRACE_MAX)
			return;  /* full: the rest of this query is not recorded */
	}
	r[n] = reg;
	trace[0] = n + 2;
}

uint32_t vp_hnsw_region_shift(const struct vp_hnsw *h)
{
	/* about a page of vectors a region: node ids follow the input order,
	 * not locality, so a query's nodes are spread over the whole file and
	 * only page-sized regions let a skewed workload's hot part be a part
	 * of the file (64 KB regions: 152 of 157 touched by every query) */
	size_t per = 4096 / (h->d * 4);
	uint32_t s = 0;
	while ((2u << s) <= per && s < 20)
		s++;
	return per ? s : 0;
}

static int search_one(const struct vp_hnsw *h, const struct vp_kernels *kern,
		      struct hstate *s, const float *q, size_t k, size_t ef,
		      const struct vp_fctx *fc, uint32_t *trace, float *dist,
		      int64_t *ids)
{
	const size_t d = h->d, stride0 = 1 + h->M0;
	uint32_t ep = h->entry;
	float dep = vp_hnsw_dist(kern, h->metric, q, h->x + (size_t)ep * d, d);
	struct vp_nheap *cand = &s->cand, *res = &s->res;
	size_t got;

	for (uint32_t lc = h->maxlevel; lc > 0; lc--) {
		int changed = 1;
		while (changed) {
			const uint32_t *l = h->upper +
				((size_t)h->upoff[ep] + lc - 1) * (1 + h->M);
			changed = 0;
			for (uint32_t j = 1; j <= l[0]; j++) {
				float dn = vp_hnsw_dist(kern, h->metric, q,
							h->x + (size_t)l[j] * d, d);
				if (dn < dep) {
					dep = dn;
					ep = l[j];
					changed = 1;
				}
			}
		}
	}
	if (trace) {
		trace[0] = 1;   /* the shift, then no region yet */
		trace[1] = vp_hnsw_region_shift(h);
		trace_add(trace, ep);
	}
	if (ef < k)
		ef = k;
	/* reserved by pool_ready; a no-op here but for callers without one */
	if (vp_nheap_reserve(res, ef + 2) || vp_nheap_reserve(cand, cand_room(ef, h->M0)))
		return VP_E_NOMEM;
	vp_visited_next(&s->vis);
	cand->n = res->n = 0;
	vp_visited_test_set(&s->vis, ep);
	vp_nheap_push(cand, dep, ep);
	if (vp_fctx_match(fc, ep))
		vp_nheap_push(res, -dep, ep);
	while (cand->n) {
		float dc = cand->d[0], bound;
		uint32_t c = cand->id[0];
		const uint32_t *l;
		uint32_t cnt;
		if (res->n >= ef && dc > -res->d[0])
			break;
		vp_nheap_pop(cand);
		if (trace)
			trace_add(trace, c);
		l = h->l0 + (size_t)c * stride0;
		cnt = l[0];
		if (cand->n + cnt + 1 > cand->cap &&
		    vp_nheap_reserve(cand, 2 * (cand->n + cnt + 1)))
			return VP_E_NOMEM;
		/* prefetch ahead: the next neighbours' vectors and tags */
		for (uint32_t j = 1; j <= cnt && j <= 4; j++)
			prefetch_vec(h->x + (size_t)l[j] * d, d);
		bound = res->n >= ef ? -res->d[0] : INFINITY;
		for (uint32_t j = 1; j <= cnt; j++) {
			uint32_t nb = l[j];
			float dn;
			if (j + 4 <= cnt)
				prefetch_vec(h->x + (size_t)l[j + 4] * d, d);
			if (vp_visited_test_set(&s->vis, nb))
				continue;
			if (trace)
				trace_add(trace, nb);
			dn = vp_hnsw_dist(kern, h->metric, q, h->x + (size_t)nb * d, d);
			if (dn < bound) {
				if (cand->n + 1 > cand->cap &&
				    vp_nheap_reserve(cand, 2 * cand->cap + 2))
					return VP_E_NOMEM;
				vp_nheap_push(cand, dn, nb);
				/* a row that fails the filter guides, never answers */
				if (fc && !vp_fctx_match(fc, nb))
					continue;
				vp_nheap_push(res, -dn, nb);
				if (res->n > ef)
					vp_nheap_pop(res);
				bound = res->n >= ef ? -res->d[0] : INFINITY;
			}
		}
	}
	if (trace)
		trace[0] = 1 + trace_compact(trace + 2, trace[0] - 1);
	/* drop the ef - k farthest, then read the rest out ascending */
	while (res->n > k)
		vp_nheap_pop(res);
	got = res->n;
	for (size_t r = got; r-- > 0;) {
		float v = -res->d[0];
		if (h->metric == VP_METRIC_COSINE)
			v += 1.0f;
		dist[r] = v;
		ids[r] = h->id_base + res->id[0];
		vp_nheap_pop(res);
	}
	for (size_t r = got; r < k; r++) {
		dist[r] = INFINITY;
		ids[r] = -1;
	}
	return 0;
}

int vp_hnsw_search(const struct vp_hnsw *h, struct vp_hnsw_pool *pool,
		   const float *q, size_t nq, size_t k, size_t ef, int threads,
		   const struct vp_fctx *fc, float *dist, int64_t *ids,
		   struct vp_error *err)
{
	const struct vp_kernels *kern = vp_kernels();
	int failed = 0, nt;

	if (threads < 1)
		threads = 1;
	nt = nq < (size_t)threads ? (int)nq : threads;
	if (nt < 1)
		return 0;
	if (pool_ready(pool, nt, h->n, ef > k ? ef : k, h->M0))
		return vp_seterr(err, VP_E_NOMEM, "out of memory");
#pragma omp parallel for num_threads(nt) schedule(dynamic, 16) reduction(| : failed)
	for (size_t i = 0; i < nq; i++) {
		int t = 0;
#ifdef _OPENMP
		t = omp_get_thread_num();
#endif
		if (search_one(h, kern, pool->per_thread[t], q + i * h->d, k, ef, fc,
			       pool->trace ? pool->trace + i * pool->tstride : NULL,
			       dist + i * k, ids + i * k))
			failed = 1;
	}
	return failed ? vp_seterr(err, VP_E_NOMEM, "out of memory") : 0;
}
