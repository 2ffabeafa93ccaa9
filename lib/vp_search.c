/* vp_search: the type dispatch between an index file and its search code,
 * and the merge across segments. */
#include "vp_search.h"

#include <stdlib.h>
#include <string.h>

#include "vp_dist.h"
#include "vp_topk.h"

static int open_segment(struct vp_searcher *s, uint32_t i, struct vp_error *err)
{
	struct vp_segment *g = &s->seg[i];
	const struct vp_index_header *h = &s->ix.hdr;
	uint64_t n = g->meta.count, vbytes;
	const void *x, *nrm;
	int rc;

	if (h->type == VP_TYPE_HNSW) {
		if ((rc = vp_hnsw_open(&g->hnsw, &s->ix, i, n, err)))
			return rc;
		g->hnsw.id_base = (int64_t)g->meta.id_base;
		return 0;
	}
	if (h->type != VP_TYPE_FLAT) {
		if ((rc = vp_ivf_open(&g->ivf, &s->ix, i, n, err)))
			return rc;
		g->ivf.id_base = (int64_t)g->meta.id_base;
		return 0;
	}
	if (vp_mul_ok(n, (uint64_t)h->dim * 4, &vbytes))
		return vp_seterr(err, VP_E_CORRUPT, "%s: corrupt index: size "
				 "overflow", s->ix.path);
	if ((rc = vp_index_need(&s->ix, "vectors", i, vbytes, &x, err)) ||
	    (rc = vp_index_need(&s->ix, "norms", i, n * 4, &nrm, err)))
		return rc;
	g->flat = (struct vp_flat){ x, nrm, n, h->dim, (int)h->metric,
				    (int64_t)g->meta.id_base };
	return 0;
}

int vp_searcher_open(struct vp_searcher *s, const char *path, int verify,
		     struct vp_error *err)
{
	struct vp_segment_meta *metas;
	long nseg;
	int rc;

	memset(s, 0, sizeof *s);
	if ((rc = vp_index_open(&s->ix, path, err)))
		return rc;
	if (verify && (rc = vp_index_verify(&s->ix, err)))
		goto fail;
	nseg = vp_index_segments(&s->ix, &metas, err);
	if (nseg < 0) {
		rc = (int)nseg;
		goto fail;
	}
	s->seg = calloc((size_t)nseg, sizeof *s->seg);
	if (!s->seg) {
		free(metas);
		rc = vp_seterr(err, VP_E_NOMEM, "out of memory");
		goto fail;
	}
	s->nseg = (size_t)nseg;
	for (long i = 0; i < nseg; i++)
		s->seg[i].meta = metas[i];
	free(metas);
	for (size_t i = 0; i < s->nseg; i++)
		if ((rc = open_segment(s, (uint32_t)i, err)))
			goto fail;
	return 0;
fail:
	vp_searcher_close(s);
	return rc;
}

static int search_segment(struct vp_searcher *s, struct vp_segment *g,
			  const float *q, size_t nq, size_t k,
			  const struct vp_param_set *ps, int threads,
			  float *dist, int64_t *ids, struct vp_error *err)
{
	int type = (int)s->ix.hdr.type;
	if (type >= VP_TYPE_IVF_FLAT && type <= VP_TYPE_IVF_PQ)
		return vp_ivf_search(&g->ivf, &g->ipool, q, nq, k,
				     (size_t)ps->val[VP_P_NPROBE],
				     (size_t)ps->val[VP_P_REFINE], threads, dist,
				     ids, err);
	if (type == VP_TYPE_HNSW)
		return vp_hnsw_search(&g->hnsw, &g->hpool, q, nq, k,
				      (size_t)ps->val[VP_P_EF], threads, dist, ids,
				      err);
	return vp_flat_search(&g->flat, &g->pool, q, nq, k, threads, dist, ids,
			      err);
}

int vp_searcher_search(struct vp_searcher *s, const float *q, size_t nq,
		       size_t k, const struct vp_param_set *ps, int threads,
		       float *dist, int64_t *ids, struct vp_error *err)
{
	size_t d = s->ix.hdr.dim;
	int rc;

	if (s->ix.hdr.metric == VP_METRIC_COSINE) {
		if (nq * d > s->qcap) {
			float *b = realloc(s->qbuf, nq * d * sizeof *b);
			if (!b)
				return vp_seterr(err, VP_E_NOMEM, "out of memory");
			s->qbuf = b;
			s->qcap = nq * d;
		}
		memcpy(s->qbuf, q, nq * d * sizeof *q);
		for (size_t i = 0; i < nq; i++)
			vp_normalize(s->qbuf + i * d, d);
		q = s->qbuf;
	}
	if (s->nseg == 1)
		return search_segment(s, &s->seg[0], q, nq, k, ps, threads, dist,
				      ids, err);
	/* every segment into its own slice, then a merge per query */
	if (s->nseg * nq * k > s->pcap) {
		size_t cap = s->nseg * nq * k;
		float *pd = realloc(s->pd, cap * sizeof *pd);
		if (pd)
			s->pd = pd;
		int64_t *pi = pd ? realloc(s->pi, cap * sizeof *pi) : NULL;
		if (!pi)
			return vp_seterr(err, VP_E_NOMEM, "out of memory");
		s->pi = pi;
		s->pcap = cap;
	}
	/* segments in parallel, each on one thread (every segment has its
	 * own scratch pool, so no two threads share one) */
	rc = 0;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
	for (size_t g = 0; g < s->nseg; g++) {
		struct vp_error e = { 0 };
		int r = search_segment(s, &s->seg[g], q, nq, k, ps, 1,
				       s->pd + g * nq * k, s->pi + g * nq * k, &e);
		if (r) {
#pragma omp critical(vp_search_err)
			if (!rc) {
				rc = r;
				if (err)
					*err = e;
			}
		}
	}
	if (rc)
		return rc;
	for (size_t i = 0; i < nq; i++) {
		const float *ld[64];
		const int64_t *li[64];
		size_t ll[64], got = 0;
		/* merge up to 64 lists at a time, folding the result back in */
		for (size_t g0 = 0; g0 < s->nseg; g0 += 63) {
			size_t nl = 0;
			if (g0) {
				ld[nl] = dist + i * k;
				li[nl] = ids + i * k;
				ll[nl++] = got;
			}
			for (size_t g = g0; g < s->nseg && nl < 64; g++) {
				const int64_t *pl = s->pi + (g * nq + i) * k;
				size_t len = 0;
				while (len < k && pl[len] >= 0)
					len++;
				ld[nl] = s->pd + (g * nq + i) * k;
				li[nl] = pl;
				ll[nl++] = len;
			}
			float tmpd[k];
			int64_t tmpi[k];
			got = vp_topk_merge(ld, li, ll, nl, k, tmpd, tmpi);
			memcpy(dist + i * k, tmpd, got * sizeof *tmpd);
			memcpy(ids + i * k, tmpi, got * sizeof *tmpi);
		}
		for (size_t r = got; r < k; r++) {
			dist[i * k + r] = __builtin_inff();
			ids[i * k + r] = -1;
		}
	}
	return 0;
}

void vp_searcher_close(struct vp_searcher *s)
{
	for (size_t g = 0; g < s->nseg; g++) {
		vp_flat_pool_release(&s->seg[g].pool);
		vp_hnsw_pool_release(&s->seg[g].hpool);
		vp_ivf_pool_release(&s->seg[g].ipool);
		vp_ivf_close(&s->seg[g].ivf);
	}
	free(s->seg);
	vp_index_close(&s->ix);
	free(s->qbuf);
	free(s->pd);
	free(s->pi);
	memset(s, 0, sizeof *s);
}
