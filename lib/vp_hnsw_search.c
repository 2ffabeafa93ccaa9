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
#include <sys/mman.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "vp_alog.h"
#include "vp_hnsw_int.h"

/* The traversal codes, when the index has them: both sections or neither,
 * sizes exact, the scale and offsets finite.  A code byte above 127 can only
 * make a distance wrong, never a read go astray, so rows are not read. */
static int open_codes(struct vp_hnsw *h, const struct vp_index *ix,
		      uint32_t seg, struct vp_error *err)
{
	const struct vp_section *ps = vp_index_find(ix, "hnsw_gcp", seg);
	const struct vp_section *cs = vp_index_find(ix, "hnsw_gcode", seg);
	const uint32_t *hdr;
	uint64_t cb;
	float scale;

	h->pl = 1;
	h->po = 1;
	if (!ps && !cs)
		return 0;
	if (!ps || !cs || ps->length != VP_HNSW_GCP_HEAD + 4 * (uint64_t)h->d)
		goto bad;
	hdr = vp_index_data(ix, ps);
	memcpy(&scale, hdr + 1, sizeof scale);
	memcpy(&h->refine_ratio, hdr + 2, sizeof h->refine_ratio);
	if (hdr[0] != vp_gcode_stride(h->d) || !(scale > 0) || !isfinite(scale) ||
	    !(h->refine_ratio >= 1.0f && h->refine_ratio <= VP_HNSW_RATIO_MAX) ||
	    h->n >= VP_LPOOL_DONE || vp_mul_ok(h->n, hdr[0], &cb) || cs->length != cb)
		goto bad;
	h->gc.lo = (const float *)(hdr + 4);
	for (size_t j = 0; j < h->d; j++)
		if (!isfinite(h->gc.lo[j]))
			goto bad;
	h->gc.d = h->d;
	h->gc.stride = hdr[0];
	h->gc.scale = scale;
	h->codes = vp_index_data(ix, cs);
	vp_hnsw_prefetch_defaults(h);
	if (!ix->layout_only) {
		/* the walk reads codes; the floats only of the candidates it
		 * re-ranks, a few scattered rows: a fault on a cold one should
		 * read its page, not the readahead window around it (8 MB on
		 * the disk measured), as IVF_FLAT's rows under a screen */
		uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
		uintptr_t a = (uintptr_t)h->x & ~(pg - 1), e = (uintptr_t)h->x + h->n * h->d * 4;
		madvise((void *)a, e - a, MADV_RANDOM);
		h->pf = ix->pf;
	}
	return 0;
bad:
	return vp_seterr(err, VP_E_CORRUPT, "%s: corrupt index: sections "
			 "'hnsw_gcp'/'hnsw_gcode' of segment %u missing or "
			 "mis-sized", ix->path, seg);
}

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
	return open_codes(h, ix, seg, err);
bad:
	return vp_seterr(err, VP_E_CORRUPT, "%s: corrupt index: hnsw link out "
			 "of range", ix->path);
}

static void hstate_free(struct vp_hstate *s)
{
	if (!s)
		return;
	free(s->vis.tag);
	vp_nheap_free(&s->cand);
	vp_nheap_free(&s->res);
	free(s->pool.d);
	free(s->pool.id);
	free(s->qcode);
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

static int pool_ready(struct vp_hnsw_pool *p, int threads, size_t n, size_t ef,
		      uint32_t m0, size_t qbytes)
{
	if (p->nthreads < threads) {
		void **a = realloc(p->per_thread, (size_t)threads * sizeof *a);
		if (!a)
			return -1;
		p->per_thread = a;
		for (int t = p->nthreads; t < threads; t++) {
			struct vp_hstate *s = calloc(1, sizeof *s);
			if (!s || vp_visited_init(&s->vis, n)) {
				free(s);
				return -1;
			}
			a[t] = s;
			p->nthreads = t + 1;
		}
	}
	for (int t = 0; t < threads; t++) {
		struct vp_hstate *s = p->per_thread[t];
		s->kern = vp_kernels();
		if (vp_nheap_reserve(&s->res, ef + 2) || vp_nheap_reserve(&s->cand, cand_room(ef, m0)) ||
		    vp_lpool_reserve(&s->pool, ef))
			return -1;
		if (qbytes > s->qcap) {
			free(s->qcode);
			s->qcode = aligned_alloc(64, qbytes);
			s->qcap = s->qcode ? qbytes : 0;
			if (!s->qcode)
				return -1;
		}
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

static int cmp_float(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;
	return x < y ? -1 : x > y;
}

uint32_t vp_hnsw_region_shift(const struct vp_hnsw *h)
{
	/* Without traversal codes, about a page of vectors a region: a walk
	 * reads a visited node's vectors, and only page-sized regions let a
	 * skewed workload's hot part be a part of the file (64 KB regions:
	 * 152 of 157 touched by every query).  With codes, a region is what
	 * the walk reads of its nodes, codes and links, about 64 KB of them
	 * (64 nodes at 784 dimensions): the floats are logged apart, row by
	 * row (VP_ALOG_ROWS), and the rows are in breadth-first order, so a
	 * walk's nodes are near each other.  Measured (Fashion-MNIST, 20000
	 * logged queries, a 50% plan): the same plan as single-node regions
	 * (96.9% of the logged queries served whole either way) from a log
	 * of 189 bytes a query instead of 1539, planned in 0.05 s, not 0.22 */
	size_t per = h->codes ? 65536 / (h->gc.stride + (1 + h->M0) * 4) : 4096 / (h->d * 4);
	uint32_t s = 0;
	while ((2u << s) <= per && s < 20)
		s++;
	return per ? s : 0;
}

/* The got rows in ids become external ids (through the row order), cosine
 * distances get their 1 back, and the rest up to k is padding. */
static void finish(const struct vp_hnsw *h, float *dist, int64_t *ids, size_t got, size_t k)
{
	for (size_t r = 0; r < got; r++) {
		ids[r] = h->id_base + (h->rowid ? h->rowid[ids[r]] : ids[r]);
		if (h->metric == VP_METRIC_COSINE)
			dist[r] += 1.0f;
	}
	for (size_t r = got; r < k; r++) {
		dist[r] = INFINITY;
		ids[r] = -1;
	}
}

/* Walks on the floats (no codes): the walk's k closest are the answer,
 * its distances exact.  Returns 0 or VP_E_NOMEM. */
static int search_float(const struct vp_hnsw *h, struct vp_hstate *s, const float *q,
			size_t k, size_t ef, const struct vp_fctx *fc, uint32_t *trace,
			float *dist, int64_t *ids)
{
	uint32_t *cand = s->pool.id;  /* room for ef >= k: pool_ready */
	size_t got = vp_hnsw_walk_float(h, s, q, ef, k, fc, trace, cand, dist);
	if (got == SIZE_MAX)
		return VP_E_NOMEM;
	for (size_t r = 0; r < got; r++)
		ids[r] = cand[r];
	finish(h, dist, ids, got, k);
	return 0;
}

size_t vp_hnsw_refine(size_t k, size_t ef, size_t refine, float ratio)
{
	/* measured (scripts/bench-graph): re-ranking k gives up recall that
	 * no ef buys back (Fashion-MNIST: 0.990 at most); 1.5 x k reaches the
	 * float walk's recall there and on SIFT-like data; ef/4 lets recall
	 * keep rising with ef where codes are coarse (clustered vp-gen data:
	 * 0.973 at any ef with 1.5 x k, 0.9985 at ef=128) and costs Fashion-
	 * MNIST under 2%; ef/2 cost it 10-15% at ef 48-64 */
	size_t r = (size_t)ceilf((float)k * (ratio > 1.0f ? ratio : 1.5f));
	if (refine)
		return refine < k ? k : refine;
	if (ef / 4 > r)
		r = ef / 4;
	if (r > ef)
		r = ef;
	return r < k ? k : r;
}

void vp_hnsw_prefetch_defaults(struct vp_hnsw *h)
{
	/* two rows ahead, every line of a row: measured on Fashion-MNIST
	 * (po 1/2/4 x pl 2/4/8/13) within 5% of each other, this the best
	 * or tied; the rows are short enough to fetch whole */
	h->po = 2;
	h->pl = (uint32_t)(h->gc.stride / 64);
}

/* Walks on codes, then re-ranks what the walk kept with the float
 * vectors: the k closest of them, ascending.  Returns 0 or VP_E_NOMEM. */
static int search_coded(const struct vp_hnsw *h, const struct vp_kernels *kern,
			 vp_hnsw_walk_fn walk, struct vp_hstate *s, const float *q,
			 size_t k, size_t ef, size_t want,
			 const struct vp_fctx *fc, uint32_t *trace, uint32_t *rtrace,
			 float *dist, int64_t *ids)
{
	uint32_t *cand = s->pool.id;  /* room for max(ef, want): pool_ready */
	size_t got, m = 0;

	vp_gcode_query(&h->gc, q, h->metric != VP_METRIC_L2, s->qcode);
	got = walk(h, s, s->qcode, ef, want, fc, trace, cand, NULL);
	if (got == SIZE_MAX)
		return VP_E_NOMEM;
	/* the floats are read only for these: the access log names them, and
	 * those not in memory are asked for together, not faulted in turn */
	for (size_t i = 0; i < got; i++) {
		vp_trace_row(rtrace, cand[i]);
		vp_prefetch(&h->pf, h->x + (size_t)cand[i] * h->d, h->d * 4);
	}
	/* and those asked for early that were not re-ranked: read all the
	 * same (Fashion-MNIST, a 50% plan of a log without them left 0.12
	 * pages a query to fault in: p99 1.37x of fully warm, against
	 * 1.00-1.18x with them logged) */
	for (uint32_t e = 0; rtrace && e < s->nearly; e++) {
		size_t i = 0;
		while (i < got && cand[i] != s->early[e])
			i++;
		if (i == got)
			vp_trace_row(rtrace, s->early[e]);
	}
	for (size_t i = 0; i < got; i++) {
		const float *x = h->x + (size_t)cand[i] * h->d;
		float v;
		size_t j;
		if (i + 1 < got)
			prefetch_vec(h->x + (size_t)cand[i + 1] * h->d, h->d);
		v = vp_hnsw_dist(kern, h->metric, q, x, h->d);
		if (m == k && !(v < dist[k - 1]))
			continue;
		j = m < k ? m++ : k - 1;
		for (; j > 0 && dist[j - 1] > v; j--) {
			dist[j] = dist[j - 1];
			ids[j] = ids[j - 1];
		}
		dist[j] = v;
		ids[j] = cand[i];
	}
	finish(h, dist, ids, m, k);
	return 0;
}

int vp_hnsw_search(const struct vp_hnsw *h, struct vp_hnsw_pool *pool,
		   const float *q, size_t nq, size_t k, size_t ef,
		   size_t refine, int threads,
		   const struct vp_fctx *fc, float *dist, int64_t *ids,
		   struct vp_error *err)
{
	const struct vp_kernels *kern = vp_kernels();
	vp_hnsw_walk_fn walk = h->codes ? vp_hnsw_walk_for(kern) : NULL;
	size_t want = vp_hnsw_refine(k, ef, refine, h->refine_ratio), room;
	int failed = 0, nt;

	if (threads < 1)
		threads = 1;
	nt = nq < (size_t)threads ? (int)nq : threads;
	if (nt < 1)
		return 0;
	if (ef < k)
		ef = k;
	room = walk && want > ef ? want : ef;
	if (pool_ready(pool, nt, h->n, room, h->M0, walk ? h->gc.stride : 0))
		return vp_seterr(err, VP_E_NOMEM, "out of memory");
#pragma omp parallel for num_threads(nt) schedule(dynamic, 16) reduction(| : failed)
	for (size_t i = 0; i < nq; i++) {
		int t = 0;
		uint32_t *tr = pool->trace ? pool->trace + i * pool->tstride : NULL;
#ifdef _OPENMP
		t = omp_get_thread_num();
#endif
		if (walk) {
			if (search_coded(h, kern, walk, pool->per_thread[t], q + i * h->d, k,
					 ef, want, fc, tr, vp_trace_rows(tr, pool->tstride),
					 dist + i * k, ids + i * k))
				failed = 1;
		} else if (search_float(h, pool->per_thread[t], q + i * h->d, k, ef, fc, tr,
					dist + i * k, ids + i * k))
			failed = 1;
	}
	return failed ? vp_seterr(err, VP_E_NOMEM, "out of memory") : 0;
}

/* The measured re-rank ratio of a coded graph: for sample rows taken as
 * queries (each left out of its own answer), walk at ef=64, rank the
 * walk's candidates by code distance, and find how deep in that order the
 * exact 10 nearest of them lie.  The 95th percentile of that depth over
 * k is how many candidates per result a search must re-rank for the codes
 * to cost little recall on this data: 1.5 on Fashion-MNIST, 2.0 on 96-d
 * vp-gen clusters, where codes are coarse against the gaps between
 * neighbours (there the 90th percentile, 1.7, left recall at ef=64 at
 * 0.984 against 0.995; the 98th, 2.3, gained nothing more). */
float vp_hnsw_calibrate(const struct vp_hnsw *h, uint64_t seed)
{
	enum { K = 10, EF = 64, SAMPLES = 256 };
	const struct vp_kernels *kern = vp_kernels();
	vp_hnsw_walk_fn walk = vp_hnsw_walk_for(kern);
	struct vp_hnsw_pool pool = { 0 };
	float depth[SAMPLES], ex[EF], r;
	size_t ns = 0;

	if (!h->codes || h->n <= 2 * K ||
	    pool_ready(&pool, 1, h->n, EF, h->M0, h->gc.stride)) {
		vp_hnsw_pool_release(&pool);
		return 1.5f;
	}
	struct vp_hstate *s = pool.per_thread[0];
	for (size_t t = 0; t < SAMPLES; t++) {
		uint32_t self, cand[EF], got, deepest = 0;
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		self = (uint32_t)((seed >> 33) % h->n);
		const float *q = h->x + (size_t)self * h->d;
		vp_gcode_query(&h->gc, q, h->metric != VP_METRIC_L2, s->qcode);
		got = (uint32_t)walk(h, s, s->qcode, EF, EF, NULL, NULL, s->pool.id, NULL);
		if (got == UINT32_MAX || got < 2 * K)
			continue;
		memcpy(cand, s->pool.id, got * sizeof *cand);
		for (uint32_t i = 0; i < got; i++)
			ex[i] = cand[i] == self ? INFINITY
				: vp_hnsw_dist(kern, h->metric, q, h->x + (size_t)cand[i] * h->d, h->d);
		/* the code rank (self not counted) of each of the exact K best */
		for (uint32_t i = 0, rank = 0; i < got; i++) {
			uint32_t closer = 0;
			if (cand[i] == self)
				continue;
			for (uint32_t j = 0; j < got; j++)
				closer += ex[j] < ex[i] || (ex[j] == ex[i] && j < i);
			if (closer < K && rank + 1 > deepest)
				deepest = rank + 1;
			rank++;
		}
		depth[ns++] = (float)deepest / K;
	}
	vp_hnsw_pool_release(&pool);
	if (!ns)
		return 1.5f;
	qsort(depth, ns, sizeof *depth, cmp_float);
	r = depth[(ns * 95) / 100 < ns ? (ns * 95) / 100 : ns - 1];
	return r < 1.5f ? 1.5f : r > VP_HNSW_RATIO_MAX ? VP_HNSW_RATIO_MAX : r;
}

void vp_hnsw_view(struct vp_hnsw *h, const struct vp_hnsw_graph *g, const float *x,
		  size_t d, int metric, const uint8_t *codes, const struct vp_gcode *gc)
{
	memset(h, 0, sizeof *h);
	h->x = x;
	h->n = g->n;
	h->d = d;
	h->metric = metric;
	h->M = g->M;
	h->M0 = g->M0;
	h->entry = g->entry;
	h->maxlevel = g->maxlevel;
	h->levels = g->levels;
	h->l0 = g->l0;
	h->upoff = g->upoff;
	h->upper = g->upper;
	h->nblocks = g->nblocks;
	h->codes = codes;
	if (codes)
		h->gc = *gc;
	h->refine_ratio = 1.5f;
	vp_hnsw_prefetch_defaults(h);
}
