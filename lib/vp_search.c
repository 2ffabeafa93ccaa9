/* vp_search: the type dispatch between an index file and its search code. */
#include "vp_search.h"

#include <stdlib.h>
#include <string.h>

#include "vp_dist.h"

int vp_searcher_open(struct vp_searcher *s, const char *path, int verify,
		     struct vp_error *err)
{
	const struct vp_index_header *h;
	const void *x, *nrm;
	uint64_t vbytes;
	int rc;

	memset(s, 0, sizeof *s);
	if ((rc = vp_index_open(&s->ix, path, err)))
		return rc;
	if (verify && (rc = vp_index_verify(&s->ix, err)))
		goto fail;
	h = &s->ix.hdr;
	if (h->type == VP_TYPE_HNSW) {
		if ((rc = vp_hnsw_open(&s->hnsw, &s->ix, 0, err)))
			goto fail;
		return 0;
	}
	if (h->type != VP_TYPE_FLAT) {
		if ((rc = vp_ivf_open(&s->ivf, &s->ix, 0, err)))
			goto fail;
		return 0;
	}
	if (vp_mul_ok(h->count, (uint64_t)h->dim * 4, &vbytes)) {
		rc = vp_seterr(err, VP_E_CORRUPT, "%s: corrupt index: size "
			       "overflow", path);
		goto fail;
	}
	if ((rc = vp_index_need(&s->ix, "vectors", 0, vbytes, &x, err)) ||
	    (rc = vp_index_need(&s->ix, "norms", 0, h->count * 4, &nrm, err)))
		goto fail;
	s->flat.x = x;
	s->flat.norms = nrm;
	s->flat.n = h->count;
	s->flat.d = h->dim;
	s->flat.metric = (int)h->metric;
	s->flat.id_base = 0;
	return 0;
fail:
	vp_ivf_close(&s->ivf);
	vp_index_close(&s->ix);
	return rc;
}

int vp_searcher_search(struct vp_searcher *s, const float *q, size_t nq,
		       size_t k, const struct vp_param_set *ps, int threads,
		       float *dist, int64_t *ids, struct vp_error *err)
{
	size_t d = s->ix.hdr.dim;
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
	if (s->ix.hdr.type >= VP_TYPE_IVF_FLAT && s->ix.hdr.type <= VP_TYPE_IVF_PQ)
		return vp_ivf_search(&s->ivf, &s->ipool, q, nq, k,
				     (size_t)ps->val[VP_P_NPROBE],
				     (size_t)ps->val[VP_P_REFINE], threads, dist,
				     ids, err);
	if (s->ix.hdr.type == VP_TYPE_HNSW)
		return vp_hnsw_search(&s->hnsw, &s->hpool, q, nq, k,
				      (size_t)ps->val[VP_P_EF], threads, dist, ids,
				      err);
	return vp_flat_search(&s->flat, &s->pool, q, nq, k, threads, dist, ids,
			      err);
}

void vp_searcher_close(struct vp_searcher *s)
{
	vp_index_close(&s->ix);
	vp_flat_pool_release(&s->pool);
	vp_hnsw_pool_release(&s->hpool);
	vp_ivf_pool_release(&s->ipool);
	vp_ivf_close(&s->ivf);
	free(s->qbuf);
	memset(s, 0, sizeof *s);
}
