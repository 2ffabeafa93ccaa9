/*
 * vp_flat: blocked exact search.
 *
 * Two ways to use several threads: with many queries each thread takes
 * whole query blocks and scans all of the base (no merging, each base block
 * read once per query block); with fewer query blocks than threads (a lone
 * query, a small batch) each thread scans a slice of the base for all
 * queries and the per-thread top-k lists are merged.
 */
#include "vp_flat.h"
#include "vp_gemm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "vp_dist.h"
#include "vp_params.h"
#include "vp_topk.h"

/* Per-thread scratch: one heap per query of a block and the dot block;
 * for the OpenBLAS path (vp_gemm), the same for its larger blocks. */
struct scratch {
	struct vp_topk heaps[VP_FLAT_QBLOCK];
	float *c;
	float qn[VP_FLAT_QBLOCK];
	struct vp_topk *bheaps; /* VP_GEMM_QBLOCK, made on demand */
	float *bc;
};

static void scratch_free(struct scratch *s)
{
	if (!s)
		return;
	for (int i = 0; i < VP_FLAT_QBLOCK; i++)
		vp_topk_release(&s->heaps[i]);
	if (s->bheaps)
		for (int i = 0; i < VP_GEMM_QBLOCK; i++)
			vp_topk_release(&s->bheaps[i]);
	free(s->bheaps);
	free(s->bc);
	free(s->c);
	free(s);
}

static int scratch_big(struct scratch *s, size_t k)
{
	if (s->bheaps)
		return 0;
	s->bc = malloc(sizeof(float) * VP_GEMM_QBLOCK * VP_GEMM_XBLOCK);
	s->bheaps = calloc(VP_GEMM_QBLOCK, sizeof *s->bheaps);
	if (!s->bc || !s->bheaps)
		return -1;
	for (int i = 0; i < VP_GEMM_QBLOCK; i++)
		if (vp_topk_init(&s->bheaps[i], k))
			return -1;
	return 0;
}

static struct scratch *scratch_new(size_t k)
{
	struct scratch *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->c = malloc(sizeof(float) * VP_FLAT_QBLOCK * VP_FLAT_XBLOCK);
	if (!s->c)
		goto fail;
	for (int i = 0; i < VP_FLAT_QBLOCK; i++)
		if (vp_topk_init(&s->heaps[i], k))
			goto fail;
	return s;
fail:
	scratch_free(s);
	return NULL;
}

void vp_flat_pool_release(struct vp_flat_pool *p)
{
	for (int t = 0; t < p->nthreads; t++)
		scratch_free(p->per_thread[t]);
	free(p->per_thread);
	free(p->pd);
	free(p->pi);
	free(p->plen);
	memset(p, 0, sizeof *p);
}

/* Makes sure the pool has scratch for threads threads at this k (outside
 * any parallel region: the pool is not thread-safe). */
static int pool_ready(struct vp_flat_pool *p, int threads, size_t k)
{
	if (p->k != k)
		vp_flat_pool_release(p);
	if (p->nthreads < threads) {
		void **a = realloc(p->per_thread, (size_t)threads * sizeof *a);
		if (!a)
			return VP_E_NOMEM;
		p->per_thread = a;
		for (int t = p->nthreads; t < threads; t++)
			a[t] = NULL;
		for (int t = p->nthreads; t < threads; t++)
			if (!(a[t] = scratch_new(k))) {
				p->nthreads = t;
				return VP_E_NOMEM;
			}
		p->nthreads = threads;
	}
	p->k = k;
	return 0;
}

/* Pushes one query's block of inner products c[0..nb) into its heap as
 * partial distances: xn[j] - 2c (L2, xn = squared norms) or -c.  Most
 * candidates lose to the heap's bound, so each group of 16 is first tested
 * with a branch-free loop the compiler vectorises, and only a group holding
 * a winner takes the scalar path, where a deleted row (dead, a bit per row
 * from row0; NULL: none) is passed over: deletes cost nothing on the rows
 * that lose anyway. */
static void fold(struct vp_topk *h, const float *c, const float *xn,
		 size_t nb, int64_t id0, const uint64_t *dead, size_t row0)
{
	float bound = vp_topk_bound(h);
	size_t j = 0;
	for (; j < nb; j += 16) {
		size_t m = nb - j < 16 ? nb - j : 16;
		int any = 0;
		if (xn)
			for (size_t t = 0; t < 16 && t < m; t++)
				any |= xn[j + t] - 2.0f * c[j + t] <= bound;
		else
			for (size_t t = 0; t < 16 && t < m; t++)
				any |= -c[j + t] <= bound;
		if (!any)
			continue;
		for (size_t t = 0; t < m; t++) {
			float v = xn ? xn[j + t] - 2.0f * c[j + t] : -c[j + t];
			size_t row = row0 + j + t;
			if (v <= bound && !(dead && (dead[row >> 6] >> (row & 63) & 1))) {
				vp_topk_push(h, v, id0 + (int64_t)(j + t));
				bound = vp_topk_bound(h);
			}
		}
	}
}

/* Scans base rows [lo, hi) for queries q[0..nq) (nq <= QBLOCK), pushing
 * into s->heaps.  Distances are kept without the query's own norm, which
 * does not change the order; finish() adds it. */
static void scan(const struct vp_flat *f, const struct vp_kernels *kern,
		 const float *q, size_t nq, size_t lo, size_t hi,
		 struct scratch *s)
{
	const size_t d = f->d, ldc = VP_FLAT_XBLOCK;
	const int l2 = f->metric == VP_METRIC_L2;
	for (size_t j0 = lo; j0 < hi; j0 += VP_FLAT_XBLOCK) {
		size_t nb = hi - j0 < VP_FLAT_XBLOCK ? hi - j0 : VP_FLAT_XBLOCK;
		kern->dot_block(q, nq, f->x + j0 * d, nb, d, s->c, ldc);
		for (size_t i = 0; i < nq; i++)
			fold(&s->heaps[i], s->c + i * ldc, l2 ? f->norms + j0 : NULL,
			     nb, f->id_base + (int64_t)j0, f->dead, j0);
	}
}

/* scan() on OpenBLAS's blocks: all of the base for queries q[0..nq),
 * nq <= VP_GEMM_QBLOCK, into s->bheaps. */
static void scan_big(const struct vp_flat *f, const float *q, size_t nq, struct scratch *s)
{
	const size_t d = f->d;
	const int l2 = f->metric == VP_METRIC_L2;
	for (size_t j0 = 0; j0 < f->n; j0 += VP_GEMM_XBLOCK) {
		size_t nb = f->n - j0 < VP_GEMM_XBLOCK ? f->n - j0 : VP_GEMM_XBLOCK;
		vp_gemm_blas(q, nq, f->x + j0 * d, nb, d, s->bc, VP_GEMM_XBLOCK);
		for (size_t i = 0; i < nq; i++)
			fold(&s->bheaps[i], s->bc + i * VP_GEMM_XBLOCK, l2 ? f->norms + j0 : NULL,
			     nb, f->id_base + (int64_t)j0, f->dead, j0);
	}
}

void vp_flat_scan1(const struct vp_flat *f, const float *q, size_t lo,
		   size_t hi, struct vp_topk *h, float *c)
{
	const struct vp_kernels *kern = vp_kernels();
	for (size_t j0 = lo; j0 < hi; j0 += VP_FLAT_XBLOCK) {
		size_t nb = hi - j0 < VP_FLAT_XBLOCK ? hi - j0 : VP_FLAT_XBLOCK;
		kern->dot_block(q, 1, f->x + j0 * f->d, nb, f->d, c, VP_FLAT_XBLOCK);
		fold(h, c, f->metric == VP_METRIC_L2 ? f->norms + j0 : NULL, nb,
		     f->id_base + (int64_t)j0, NULL, 0);
	}
}

float vp_flat_dist(int metric, float partial, float qnorm)
{
	if (metric == VP_METRIC_L2)
		return fmaxf(partial + qnorm, 0.0f);
	return metric == VP_METRIC_COSINE ? partial + 1.0f : partial;
}

/* Turns the got results into the metric's distances, computed again
 * exactly from the query and the row (a few d-length kernels per query):
 * the blocked scan's partial distances differ in their last bits between
 * vp's kernel and OpenBLAS's and between blockings, so a result would
 * otherwise depend on the batch size; the list is re-sorted (ties by id)
 * and padded to k. */
static void finalize(const struct vp_flat *f, const struct vp_kernels *kern, const float *q,
		     size_t got, size_t k, float *dist, int64_t *ids)
{
	for (size_t r = 0; r < got; r++) {
		const float *x = f->x + (size_t)(ids[r] - f->id_base) * f->d;
		dist[r] = f->metric == VP_METRIC_L2 ? kern->l2(q, x, f->d)
			: vp_flat_dist(f->metric, -kern->dot(q, x, f->d), 0);
	}
	vp_topk_sort_pad(dist, ids, got, k);
}

static void finish(const struct vp_flat *f, const struct vp_kernels *kern, const float *q,
		   struct vp_topk *h, size_t k, float *dist, int64_t *ids)
{
	finalize(f, kern, q, vp_topk_extract(h, dist, ids), k, dist, ids);
}

int vp_flat_search(const struct vp_flat *f, struct vp_flat_pool *pool,
		   const float *q, size_t nq, size_t k, int threads,
		   float *dist, int64_t *ids, struct vp_error *err)
{
	const struct vp_kernels *kern = vp_kernels();
	size_t nblocks = (nq + VP_FLAT_QBLOCK - 1) / VP_FLAT_QBLOCK;

	if (threads < 1)
		threads = 1;
	if (nq == 0)
		return 0;
	if (pool_ready(pool, threads, k))
		return vp_seterr(err, VP_E_NOMEM, "out of memory");
	/* many queries, and OpenBLAS measured faster here: its blocks */
	if (nq >= (size_t)threads * VP_FLAT_QBLOCK && vp_gemm_use_blas(f->d)) {
		size_t qb = (nq + (size_t)threads - 1) / (size_t)threads, nbb;
		int failed = 0;
		qb = qb < VP_GEMM_QBLOCK ? qb : VP_GEMM_QBLOCK;
		nbb = (nq + qb - 1) / qb;
#pragma omp parallel num_threads(threads) reduction(| : failed)
		{
			int t = 0;
#ifdef _OPENMP
			t = omp_get_thread_num();
#endif
			struct scratch *s = pool->per_thread[t];
			failed |= scratch_big(s, k) != 0;
#pragma omp barrier
#pragma omp for schedule(dynamic, 1)
			for (size_t b = 0; b < nbb; b++) {
				size_t i0 = b * qb, m = nq - i0 < qb ? nq - i0 : qb;
				if (failed)
					continue;
				scan_big(f, q + i0 * f->d, m, s);
				for (size_t i = 0; i < m; i++)
					finish(f, kern, q + (i0 + i) * f->d, &s->bheaps[i],
					       k, dist + (i0 + i) * k, ids + (i0 + i) * k);
			}
		}
		return failed ? vp_seterr(err, VP_E_NOMEM, "out of memory") : 0;
	}
	if (nblocks >= (size_t)threads || threads == 1) {
		/* query-parallel: each thread owns whole query blocks */
		int nt = nblocks < (size_t)threads ? (int)nblocks : threads;
#pragma omp parallel num_threads(nt)
		{
			int t = 0;
#ifdef _OPENMP
			t = omp_get_thread_num();
#endif
			struct scratch *s = pool->per_thread[t];
#pragma omp for schedule(dynamic, 1)
			for (size_t b = 0; b < nblocks; b++) {
				size_t i0 = b * VP_FLAT_QBLOCK;
				size_t m = nq - i0 < VP_FLAT_QBLOCK ? nq - i0 : VP_FLAT_QBLOCK;
				scan(f, kern, q + i0 * f->d, m, 0, f->n, s);
				for (size_t i = 0; i < m; i++)
					finish(f, kern, q + (i0 + i) * f->d, &s->heaps[i],
					       k, dist + (i0 + i) * k, ids + (i0 + i) * k);
			}
		}
		return 0;
	}

	/* base-parallel: slices of the base per thread, then a k-way merge */
	{
		size_t slots = (size_t)threads * nq;
		if (slots > pool->pslots) {
			float *pd = realloc(pool->pd, slots * k * sizeof *pd);
			int64_t *pi = pd ? realloc(pool->pi, slots * k * sizeof *pi) : NULL;
			size_t *pl = pi ? realloc(pool->plen, slots * sizeof *pl) : NULL;
			if (pd)
				pool->pd = pd;
			if (pi)
				pool->pi = pi;
			if (!pl)
				return vp_seterr(err, VP_E_NOMEM, "out of memory");
			pool->plen = pl;
			pool->pslots = slots;
		}
#pragma omp parallel num_threads(threads)
		{
			int t = 0, nt = 1;
#ifdef _OPENMP
			t = omp_get_thread_num();
			nt = omp_get_num_threads();
#endif
			struct scratch *s = pool->per_thread[t];
			/* slice edges on XBLOCK multiples keep the tiles whole */
			size_t per = (f->n + (size_t)nt - 1) / (size_t)nt;
			per = (per + VP_FLAT_XBLOCK - 1) / VP_FLAT_XBLOCK * VP_FLAT_XBLOCK;
			size_t lo = (size_t)t * per < f->n ? (size_t)t * per : f->n;
			size_t hi = lo + per < f->n ? lo + per : f->n;
			for (size_t i0 = 0; i0 < nq; i0 += VP_FLAT_QBLOCK) {
				size_t m = nq - i0 < VP_FLAT_QBLOCK ? nq - i0 : VP_FLAT_QBLOCK;
				scan(f, kern, q + i0 * f->d, m, lo, hi, s);
				for (size_t i = 0; i < m; i++) {
					size_t slot = (size_t)t * nq + i0 + i;
					pool->plen[slot] = vp_topk_extract(&s->heaps[i],
						pool->pd + slot * k, pool->pi + slot * k);
				}
			}
			/* a thread the runtime did not start has nothing */
			for (int u = nt; u < threads && t == 0; u++)
				for (size_t i = 0; i < nq; i++)
					pool->plen[(size_t)u * nq + i] = 0;
		}
		for (size_t i = 0; i < nq; i++) {
			const float *ld[VP_THREADS_MAX];
			const int64_t *li[VP_THREADS_MAX];
			size_t ll[VP_THREADS_MAX], got;
			for (int t = 0; t < threads; t++) {
				size_t slot = (size_t)t * nq + i;
				ld[t] = pool->pd + slot * k;
				li[t] = pool->pi + slot * k;
				ll[t] = pool->plen[slot];
			}
			got = vp_topk_merge(ld, li, ll, (size_t)threads, k,
					    dist + i * k, ids + i * k);
			finalize(f, kern, q + i * f->d, got, k, dist + i * k, ids + i * k);
		}
		return 0;
	}
}
