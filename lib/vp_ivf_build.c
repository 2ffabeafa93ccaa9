/*
 * vp_ivf_build: train the coarse quantizer, fill the inverted lists and
 * encode them (float, SQ8 or PQ of the residual).
 */
#include "vp_ivf.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vp_dist.h"
#include "vp_kmeans.h"

size_t vp_pq_default_m(size_t d)
{
	for (size_t m = d / 8 < 64 ? d / 8 : 64; m >= 1; m--)
		if (d % m == 0)
			return m;
	return d;
}

void vp_ivf_built_release(struct vp_ivf_built *b)
{
	free(b->centroids);
	free(b->offsets);
	free(b->ids);
	free(b->data);
	free(b->norms);
	free(b->sq8_min);
	free(b->sq8_step);
	free(b->codebooks);
	memset(b, 0, sizeof *b);
}

/* PQ: m codebooks of 256 centroids trained on sub-vectors of the residuals,
 * then each residual encoded as the nearest centroid of each sub-space. */
static int train_encode_pq(const float *res, size_t n, size_t d, size_t m,
			   int threads, uint64_t seed, float *codebooks,
			   uint8_t *codes, struct vp_error *err)
{
	size_t dsub = d / m;
	float *sub = malloc(n * dsub * sizeof *sub);
	uint32_t *as = malloc(n * sizeof *as);
	int rc = 0;

	if (!sub || !as) {
		rc = vp_seterr(err, VP_E_NOMEM, "out of memory");
		goto out;
	}
	for (size_t s = 0; s < m && !rc; s++) {
		float *cb = codebooks + s * VP_PQ_KSUB * dsub;
		for (size_t i = 0; i < n; i++)
			memcpy(sub + i * dsub, res + i * d + s * dsub, dsub * sizeof *sub);
		rc = vp_kmeans(sub, n, dsub, VP_PQ_KSUB, threads, seed + s, cb, err);
		if (!rc)
			rc = vp_kmeans_assign(sub, n, dsub, cb, VP_PQ_KSUB, threads, as,
					      NULL, err);
		for (size_t i = 0; i < n && !rc; i++)
			codes[i * m + s] = (uint8_t)as[i];
	}
out:
	free(sub);
	free(as);
	return rc;
}

int vp_ivf_build(const float *x, size_t n, size_t d, int type, int metric,
		 size_t nlist, size_t m, int threads, uint64_t seed,
		 struct vp_ivf_built *b, struct vp_error *err)
{
	uint32_t *assign = NULL;
	uint64_t *fill = NULL;
	int rc;

	(void)metric; /* lists are made with L2 for every metric */
	memset(b, 0, sizeof *b);
	if (nlist > n)
		return vp_seterr(err, VP_E_ARG, "nlist %zu is more than the %zu "
				 "vectors", nlist, n);
	if (type == VP_TYPE_IVF_PQ) {
		if (m == 0)
			m = vp_pq_default_m(d);
		if (d % m)
			return vp_seterr(err, VP_E_ARG, "m=%zu does not divide the "
					 "dimension %zu", m, d);
		if (n < VP_PQ_KSUB)
			return vp_seterr(err, VP_E_ARG, "IVF_PQ needs at least %d "
					 "vectors to train its codebooks", VP_PQ_KSUB);
	}
	b->nlist = (uint32_t)nlist;
	b->m = (uint32_t)m;
	b->centroids = malloc(nlist * d * sizeof *b->centroids);
	b->offsets = calloc(nlist + 1, sizeof *b->offsets);
	b->ids = malloc(n * sizeof *b->ids);
	assign = malloc(n * sizeof *assign);
	fill = calloc(nlist, sizeof *fill);
	if (!b->centroids || !b->offsets || !b->ids || !assign || !fill)
		goto nomem;
	if ((rc = vp_kmeans(x, n, d, nlist, threads, seed, b->centroids, err)) ||
	    (rc = vp_kmeans_assign(x, n, d, b->centroids, nlist, threads, assign,
				   NULL, err)))
		goto fail;
	/* counting sort into lists, rows in order within a list */
	for (size_t i = 0; i < n; i++)
		b->offsets[assign[i] + 1]++;
	for (size_t l = 0; l < nlist; l++)
		b->offsets[l + 1] += b->offsets[l];
	for (size_t i = 0; i < n; i++)
		b->ids[b->offsets[assign[i]] + fill[assign[i]]++] = (uint32_t)i;

	if (type == VP_TYPE_IVF_FLAT) {
		float *v = malloc(n * d * sizeof *v);
		b->norms = malloc(n * sizeof *b->norms);
		b->data = v;
		if (!v || !b->norms)
			goto nomem;
		for (size_t p = 0; p < n; p++)
			memcpy(v + p * d, x + (size_t)b->ids[p] * d, d * sizeof *v);
		vp_sqnorms(v, n, d, b->norms);
		b->data_bytes = n * d * sizeof *v;
	} else if (type == VP_TYPE_IVF_SQ8) {
		uint8_t *c = malloc(n * d);
		b->sq8_min = malloc(d * sizeof(float));
		b->sq8_step = malloc(d * sizeof(float));
		b->data = c;
		if (!c || !b->sq8_min || !b->sq8_step)
			goto nomem;
		for (size_t j = 0; j < d; j++) {
			float lo = INFINITY, hi = -INFINITY;
			for (size_t i = 0; i < n; i++) {
				float v = x[i * d + j];
				lo = v < lo ? v : lo;
				hi = v > hi ? v : hi;
			}
			b->sq8_min[j] = lo;
			b->sq8_step[j] = (hi - lo) / 255.0f;
		}
		for (size_t p = 0; p < n; p++) {
			const float *v = x + (size_t)b->ids[p] * d;
			for (size_t j = 0; j < d; j++) {
				float s = b->sq8_step[j], t = s > 0 ? (v[j] - b->sq8_min[j]) / s : 0;
				long q = lrintf(t);
				c[p * d + j] = (uint8_t)(q < 0 ? 0 : q > 255 ? 255 : q);
			}
		}
		b->data_bytes = n * d;
	} else {
		float *res = malloc(n * d * sizeof *res);
		uint8_t *codes = malloc(n * m);
		b->codebooks = malloc(m * VP_PQ_KSUB * (d / m) * sizeof(float));
		if (!res || !codes || !b->codebooks) {
			free(res);
			free(codes);
			goto nomem;
		}
		/* residuals in list order, so codes land in list order */
		for (size_t p = 0; p < n; p++) {
			const float *v = x + (size_t)b->ids[p] * d;
			const float *c = b->centroids + (size_t)assign[b->ids[p]] * d;
			for (size_t j = 0; j < d; j++)
				res[p * d + j] = v[j] - c[j];
		}
		rc = train_encode_pq(res, n, d, m, threads, seed + 1, b->codebooks,
				     codes, err);
		free(res);
		b->data = codes;
		b->data_bytes = n * m;
		if (rc)
			goto fail;
	}
	free(assign);
	free(fill);
	return 0;
nomem:
	rc = vp_seterr(err, VP_E_NOMEM, "out of memory");
fail:
	free(assign);
	free(fill);
	vp_ivf_built_release(b);
	return rc;
}
