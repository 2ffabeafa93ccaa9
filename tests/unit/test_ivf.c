/* test_ivf: k-means, SQ8 and PQ encodings, recall of each IVF type. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "vp.h"

int main(void)
{
	size_t n = 4000, nq = 100, d = 32;
	struct vp_gen gen = { (uint32_t)d, 24, 0.4f, 0, 3 };
	float *x = malloc(n * d * 4), *q = malloc(nq * d * 4);
	struct vp_error err = { 0 };

	vp_gen_rows(&gen, 0, n, x);
	vp_gen_rows(&gen, n, nq, q);

	/* k-means on well-separated clusters finds one centroid per cluster */
	{
		float cent[24 * 32];
		uint32_t *as = malloc(n * 4);
		float *dd = malloc(n * 4);
		double mean = 0;
		CHECK(vp_kmeans(x, n, d, 24, 2, 1, cent, &err) == 0, "kmeans");
		CHECK(vp_kmeans_assign(x, n, d, cent, 24, 2, as, dd, &err) == 0, "assign");
		for (size_t i = 0; i < n; i++)
			mean += dd[i];
		mean /= (double)n;
		/* noise variance per dimension is 0.16: about 5.1 over 32 dims */
		CHECK(mean < 8.0, "k-means mean squared distance %.2f", mean);
		free(as);
		free(dd);
	}

	/* IVF_FLAT's screen: each row's stored error bounds its distance to
	 * its decoding, closely; codes and norms follow the lists' order */
	{
		struct vp_ivf_built b;
		int ok = 1, close = 1, nrm = 1;
		float *xo = malloc(n * d * 4);
		memcpy(xo, x, n * d * 4);
		/* one far row, so that steps are coarse and errors large */
		for (size_t j = 0; j < d; j++)
			xo[(n - 1) * d + j] = 300.0f;
		CHECK(vp_ivf_build(xo, n, d, VP_TYPE_IVF_FLAT, VP_METRIC_L2, 16, 0, 0, 0, 2, 1, &b, &err) == 0 &&
		      vp_ivf_screen(xo, n, d, 2, &b, &err) == 0, "screen build");
		for (size_t p = 0; p < n; p++) {
			const uint8_t *c = b.scodes + p * d;
			const float *v = xo + (size_t)b.ids[p] * d;
			double e = 0, w = 0;
			for (size_t j = 0; j < d; j++) {
				double r = (double)v[j] - ((double)b.sq8_min[j] + (double)b.sq8_step[j] * c[j]);
				double sc = (double)b.sq8_step[j] * c[j];
				e += r * r;
				w += sc * sc;
			}
			e = sqrt(e);
			ok &= b.serr[p] >= e;
			close &= b.serr[p] <= e * 1.0001 + 1e-30;
			nrm &= fabs(b.snorms[p] - w) <= 1e-6 * w + 1e-30;
		}
		CHECK(ok, "screen: every stored error bounds the row's distance to its decoding");
		CHECK(close, "screen: and is within 1e-4 of it");
		CHECK(nrm, "screen: weighted norms of the codes in list order");
		vp_ivf_built_release(&b);
		free(xo);
	}

	/* SQ8 decodes within half a step of the original */
	{
		struct vp_ivf_built b;
		int ok = 1;
		CHECK(vp_ivf_build(x, n, d, VP_TYPE_IVF_SQ8, VP_METRIC_L2, 16, 0, 0, 0, 2, 1, &b, &err) == 0, "sq8 build");
		for (size_t p = 0; p < n; p++) {
			const uint8_t *c = (const uint8_t *)b.data + p * d;
			const float *v = x + (size_t)b.ids[p] * d;
			for (size_t j = 0; j < d; j++) {
				float dec = b.sq8_min[j] + b.sq8_step[j] * c[j];
				ok &= fabsf(dec - v[j]) <= 0.5f * b.sq8_step[j] * 1.001f + 1e-6f;
			}
		}
		CHECK(ok, "sq8 round trip within half a step");
		/* lists partition the rows */
		char *seen = calloc(n, 1);
		for (size_t p = 0; p < n; p++)
			seen[b.ids[p]]++;
		ok = b.offsets[0] == 0 && b.offsets[16] == n;
		for (size_t i = 0; i < n; i++)
			ok &= seen[i] == 1;
		CHECK(ok, "inverted lists hold every row once");
		free(seen);
		vp_ivf_built_release(&b);
	}

	/* PQ: reconstruction error far below the data's variance */
	{
		struct vp_ivf_built b;
		double err2 = 0, var = 0;
		size_t m = 8, ds = d / m;
		CHECK(vp_ivf_build(x, n, d, VP_TYPE_IVF_PQ, VP_METRIC_L2, 16, m, 0, 0, 2, 1, &b, &err) == 0,
		      "pq build: %s", err.msg);
		uint32_t *as = malloc(n * 4);
		vp_kmeans_assign(x, n, d, b.centroids, 16, 1, as, NULL, &err);
		for (size_t p = 0; p < n; p++) {
			const uint8_t *c = (const uint8_t *)b.data + p * m;
			uint32_t row = b.ids[p];
			for (size_t s = 0; s < m; s++)
				for (size_t u = 0; u < ds; u++) {
					size_t j = s * ds + u;
					float dec = b.centroids[(size_t)as[row] * d + j] +
						    b.codebooks[(s * 256 + c[s]) * ds + u];
					float t = dec - x[(size_t)row * d + j];
					err2 += t * t;
					var += (double)x[(size_t)row * d + j] * x[(size_t)row * d + j];
				}
		}
		CHECK(err2 < 0.1 * var, "pq reconstruction error %.3g vs energy %.3g", err2, var);
		free(as);
		vp_ivf_built_release(&b);
		CHECK(vp_ivf_build(x, n, d, VP_TYPE_IVF_PQ, VP_METRIC_L2, 16, 5, 0, 0, 1, 1, &b, &err) == VP_E_ARG &&
		      strstr(err.msg, "does not divide"), "m must divide d");
		CHECK(vp_ivf_build(x, 10, d, VP_TYPE_IVF_FLAT, VP_METRIC_L2, 16, 0, 0, 0, 1, 1, &b, &err) == VP_E_ARG,
		      "nlist larger than n");
		CHECK(vp_pq_default_m(784) == 56 && vp_pq_default_m(128) == 16 && vp_pq_default_m(7) == 7,
		      "default m (%zu %zu %zu)", vp_pq_default_m(784), vp_pq_default_m(128), vp_pq_default_m(7));
	}
	free(x);
	free(q);
	return check_done("test_ivf");
}
