/*
 * vp_kmeans: Lloyd's algorithm with k-means++ seeding (Arthur & Vassilvitskii,
 * "k-means++: the advantages of careful seeding", 2007) on a sample.
 *
 * Assignment is the expensive step: it runs as exact search with the FLAT
 * blocked kernel (points as queries, centroids as the base), in parallel.
 */
#include "vp_kmeans.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vp_dist.h"
#include "vp_flat.h"
#include "vp_gen.h"

int vp_kmeans_assign(const float *x, size_t n, size_t d, const float *cent,
		     size_t k, int threads, uint32_t *assign, float *dist,
		     struct vp_error *err)
{
	struct vp_flat f;
	struct vp_flat_pool pool = { 0 };
	float *norms = malloc(k * sizeof *norms), *dd = NULL;
	int64_t *ids = NULL;
	size_t chunk = 16384;
	int rc = 0;

	if (!norms)
		return vp_seterr(err, VP_E_NOMEM, "out of memory");
	vp_sqnorms(cent, k, d, norms);
	f = (struct vp_flat){ cent, norms, k, d, 0 /* l2 */, 0, NULL };
	dd = malloc(chunk * sizeof *dd);
	ids = malloc(chunk * sizeof *ids);
	if (!dd || !ids) {
		rc = vp_seterr(err, VP_E_NOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n && !rc; i += chunk) {
		size_t m = n - i < chunk ? n - i : chunk;
		rc = vp_flat_search(&f, &pool, x + i * d, m, 1, threads, dd, ids, err);
		for (size_t j = 0; j < m && !rc; j++) {
			/* no nearest centroid (every distance inf or NaN, from
			 * values whose squares overflow): an error, never a -1
			 * for the caller to index with */
			if (ids[j] < 0 || (size_t)ids[j] >= k) {
				rc = vp_seterr(err, VP_E_VALUE, "row %zu has no finite distance to "
					       "any centroid (values too large?)", i + j);
				break;
			}
			assign[i + j] = (uint32_t)ids[j];
			if (dist)
				dist[i + j] = dd[j];
		}
	}
out:
	vp_flat_pool_release(&pool);
	free(norms);
	free(dd);
	free(ids);
	return rc;
}

int vp_kmeans(const float *x, size_t n, size_t d, size_t k, int threads,
	      uint64_t seed, float *cent, struct vp_error *err)
{
	size_t ns = k * VP_KMEANS_SAMPLE_PER_CENTROID, *cnt = NULL;
	float *s = NULL, *md = NULL;
	double *sum = NULL;
	uint32_t *as = NULL;
	struct vp_rng r;
	int rc = 0;

	if (k == 0 || n == 0)
		return vp_seterr(err, VP_E_ARG, "k-means: no data");
	if (ns > n)
		ns = n;
	vp_rng_seed(&r, seed);
	s = malloc(ns * d * sizeof *s);
	md = malloc(ns * sizeof *md);
	as = malloc(ns * sizeof *as);
	cnt = malloc(k * sizeof *cnt);
	sum = malloc(k * d * sizeof *sum);
	if (!s || !md || !as || !cnt || !sum) {
		rc = vp_seterr(err, VP_E_NOMEM, "out of memory");
		goto out;
	}
	/* sample without replacement (partial Fisher-Yates over indices) */
	if (ns == n)
		memcpy(s, x, n * d * sizeof *s);
	else {
		uint32_t *perm = malloc(n * sizeof *perm);
		if (!perm) {
			rc = vp_seterr(err, VP_E_NOMEM, "out of memory");
			goto out;
		}
		for (size_t i = 0; i < n; i++)
			perm[i] = (uint32_t)i;
		for (size_t i = 0; i < ns; i++) {
			size_t j = i + vp_rng_next(&r) % (n - i);
			uint32_t t = perm[i];
			perm[i] = perm[j];
			perm[j] = t;
			memcpy(s + i * d, x + (size_t)perm[i] * d, d * sizeof *s);
		}
		free(perm);
	}
	/* k-means++: each next centre drawn with probability proportional to
	 * the squared distance to the nearest centre so far */
	{
		const struct vp_kernels *kern = vp_kernels();
		size_t first = vp_rng_next(&r) % ns;
		memcpy(cent, s + first * d, d * sizeof *cent);
		for (size_t i = 0; i < ns; i++)
			md[i] = kern->l2(s + i * d, cent, d);
		for (size_t c = 1; c < k; c++) {
			double tot = 0, u, acc = 0;
			size_t pick = ns - 1;
			for (size_t i = 0; i < ns; i++)
				tot += md[i];
			u = vp_rng_uniform(&r) * tot;
			for (size_t i = 0; i < ns; i++) {
				acc += md[i];
				if (acc > u) {
					pick = i;
					break;
				}
			}
			if (tot <= 0) /* fewer distinct points than k */
				pick = c % ns;
			memcpy(cent + c * d, s + pick * d, d * sizeof *cent);
			const float *cc = cent + c * d;
#pragma omp parallel for num_threads(threads) schedule(static)
			for (size_t i = 0; i < ns; i++) {
				float v = kern->l2(s + i * d, cc, d);
				if (v < md[i])
					md[i] = v;
			}
		}
	}
	for (int it = 0; it < VP_KMEANS_ITERS; it++) {
		if ((rc = vp_kmeans_assign(s, ns, d, cent, k, threads, as, md, err)))
			goto out;
		memset(cnt, 0, k * sizeof *cnt);
		memset(sum, 0, k * d * sizeof *sum);
		for (size_t i = 0; i < ns; i++) {
			cnt[as[i]]++;
			for (size_t j = 0; j < d; j++)
				sum[(size_t)as[i] * d + j] += s[i * d + j];
		}
		for (size_t c = 0; c < k; c++) {
			if (cnt[c] == 0) {
				/* empty: split the largest cluster by
				 * nudging a copy of its centre */
				size_t big = 0;
				for (size_t b = 1; b < k; b++)
					if (cnt[b] > cnt[big])
						big = b;
				for (size_t j = 0; j < d; j++) {
					float v = cent[big * d + j];
					cent[c * d + j] = v * (1.0f + 1e-4f) + 1e-6f;
				}
				continue;
			}
			for (size_t j = 0; j < d; j++)
				cent[c * d + j] = (float)(sum[c * d + j] / (double)cnt[c]);
		}
	}
out:
	free(s);
	free(md);
	free(as);
	free(cnt);
	free(sum);
	return rc;
}
