/* test_dist: every SIMD level agrees with the portable kernels. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "vp.h"

static int close_enough(float a, float b)
{
	return fabsf(a - b) <= 1e-4f * (1.0f + fabsf(a) + fabsf(b));
}

/* IVF_SQ8's integer kernel: every level gives the exact sum, for lengths
 * around every vector width and tail, at the largest values qmax allows
 * (no 32-bit lane may overflow: d past 4100 lowers qmax) */
static void test_sq8_idot(void)
{
	const size_t ds[] = { 1, 7, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 784, 4048, 4049, 9000, 65536 };
	uint64_t st = 7;
	CHECK(vp_sq8_qmax(784) == 32767 && vp_sq8_qmax(4048) == 32767 && vp_sq8_qmax(4049) < 32767 &&
	      vp_sq8_qmax(9000) >= 14000, "qmax %d %d %d", vp_sq8_qmax(784), vp_sq8_qmax(4049),
	      vp_sq8_qmax(9000));
	for (size_t a = 0; a < sizeof ds / sizeof *ds; a++) {
		size_t d = ds[a];
		int qm = vp_sq8_qmax(d);
		int16_t *qi = malloc(d * sizeof *qi);
		uint8_t *c = malloc(d);
		for (int pass = 0; pass < 3; pass++) {
			int64_t want = 0;
			for (size_t j = 0; j < d; j++) {
				st = st * 6364136223846793005ull + 1442695040888963407ull;
				/* random; then the extremes, all positive and all negative */
				qi[j] = pass == 0 ? (int16_t)((int)((st >> 33) % (2u * (unsigned)qm + 1)) - qm)
					: (int16_t)(pass == 1 ? qm : -qm);
				c[j] = pass == 0 ? (uint8_t)(st >> 56) : 255;
				want += (int64_t)qi[j] * c[j];
			}
			for (int lv = VP_SIMD_PORTABLE; lv <= VP_SIMD_AVX512; lv++) {
				const struct vp_kernels *k = vp_kernels_at((enum vp_simd)lv);
				if (k)
					CHECK(k->sq8_idot(qi, c, d) == want, "%s sq8_idot d=%zu pass %d: %lld, want %lld",
					      k->name, d, pass, (long long)k->sq8_idot(qi, c, d), (long long)want);
			}
		}
		free(qi);
		free(c);
	}
}

/* The float SQ8 kernels: every level within rounding of the portable one
 * (different summation orders), lengths around every width and tail. */
static void test_sq8_float(void)
{
	const size_t ds[] = { 1, 7, 8, 9, 15, 16, 17, 31, 33, 100, 784 };
	uint64_t st = 11;
	const struct vp_kernels *ref = vp_kernels_at(VP_SIMD_PORTABLE);
	for (size_t a = 0; a < sizeof ds / sizeof *ds; a++) {
		size_t d = ds[a];
		float *qs = malloc(d * sizeof *qs), *w = malloc(d * sizeof *w);
		uint8_t *c = malloc(d);
		for (size_t j = 0; j < d; j++) {
			st = st * 6364136223846793005ull + 1442695040888963407ull;
			qs[j] = (float)((st >> 33) % 25600) / 100.0f;
			w[j] = (float)((st >> 20) % 1000) / 1000.0f;
			c[j] = (uint8_t)(st >> 56);
		}
		for (int lv = VP_SIMD_AVX2; lv <= VP_SIMD_AVX512; lv++) {
			const struct vp_kernels *k = vp_kernels_at((enum vp_simd)lv);
			if (!k)
				continue;
			CHECK(close_enough(k->sq8_l2(qs, c, w, d), ref->sq8_l2(qs, c, w, d)),
			      "%s sq8_l2 d=%zu: %g, portable %g", k->name, d, k->sq8_l2(qs, c, w, d),
			      ref->sq8_l2(qs, c, w, d));
			CHECK(close_enough(k->sq8_dot(w, c, d), ref->sq8_dot(w, c, d)),
			      "%s sq8_dot d=%zu", k->name, d);
		}
		free(qs);
		free(w);
		free(c);
	}
}

int main(void)
{
	test_sq8_idot();
	test_sq8_float();
	const struct vp_kernels *ref = vp_kernels_at(VP_SIMD_PORTABLE);
	static const size_t dims[] = { 1, 3, 7, 8, 15, 16, 17, 31, 33, 64, 100, 784 };
	struct vp_rng r;
	float *a, *b, *c1, *c2;
	size_t nq = 9, nx = 14;
	int levels = 0;

	vp_rng_seed(&r, 1);
	a = malloc(nq * 784 * sizeof *a);
	b = malloc(nx * 784 * sizeof *b);
	c1 = malloc(nq * nx * sizeof *c1);
	c2 = malloc(nq * nx * sizeof *c2);
	for (size_t i = 0; i < nq * 784; i++)
		a[i] = (float)vp_rng_normal(&r);
	for (size_t i = 0; i < nx * 784; i++)
		b[i] = (float)vp_rng_normal(&r);

	/* portable against a double-precision reference */
	for (size_t t = 0; t < sizeof dims / sizeof *dims; t++) {
		size_t d = dims[t];
		double l2 = 0, dot = 0;
		for (size_t i = 0; i < d; i++) {
			l2 += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
			dot += (double)a[i] * b[i];
		}
		CHECK(close_enough(ref->l2(a, b, d), (float)l2), "portable l2 d=%zu", d);
		CHECK(close_enough(ref->dot(a, b, d), (float)dot), "portable dot d=%zu", d);
	}

	for (int lv = VP_SIMD_AVX2; lv <= VP_SIMD_AVX512; lv++) {
		const struct vp_kernels *k = vp_kernels_at((enum vp_simd)lv);
		if (!k)
			continue;
		levels++;
		for (size_t t = 0; t < sizeof dims / sizeof *dims; t++) {
			size_t d = dims[t];
			int ok = 1;
			CHECK(close_enough(k->l2(a, b, d), ref->l2(a, b, d)), "%s l2 d=%zu", k->name, d);
			CHECK(close_enough(k->dot(a, b, d), ref->dot(a, b, d)), "%s dot d=%zu", k->name, d);
			/* the block kernel, with edge tiles in both directions */
			ref->dot_block(a, nq, b, nx, d, c1, nx);
			k->dot_block(a, nq, b, nx, d, c2, nx);
			for (size_t i = 0; i < nq * nx; i++)
				ok &= close_enough(c1[i], c2[i]);
			CHECK(ok, "%s dot_block d=%zu", k->name, d);
			/* a lone query (the latency shape) */
			ref->dot_block(a, 1, b, nx, d, c1, nx);
			k->dot_block(a, 1, b, nx, d, c2, nx);
			ok = 1;
			for (size_t i = 0; i < nx; i++)
				ok &= close_enough(c1[i], c2[i]);
			CHECK(ok, "%s dot_block nq=1 d=%zu", k->name, d);
			/* a query's row is the same bits alone and in a block
			 * (IVF's coarse ranking must not depend on the batch) */
			k->dot_block(a, nq, b, nx, d, c2, nx);
			ok = 1;
			for (size_t i = 0; i < nq; i++) {
				k->dot_block(a + i * d, 1, b, nx, d, c1, nx);
				ok &= memcmp(c1, c2 + i * nx, nx * sizeof *c1) == 0;
			}
			CHECK(ok, "%s dot_block: each query's row alone equals its row in a block, d=%zu",
			      k->name, d);
		}
	}
	printf("# SIMD levels checked against portable: %d (cpu best: %d)\n", levels,
	       (int)vp_simd_cpu_level());

	/* VP_SIMD=portable caps the dispatch (vp_kernels() reads it once) */
	setenv("VP_SIMD", "portable", 1);
	CHECK(!strcmp(vp_kernels()->name, "portable"), "VP_SIMD=portable forces %s", vp_kernels()->name);

	/* metrics */
	{
		float x[3] = { 3, 0, 4 }, y[3] = { 0, 0, 1 };
		CHECK(vp_distance(VP_METRIC_L2, x, y, 3) == 18.0f, "l2 metric");
		CHECK(vp_distance(VP_METRIC_IP, x, y, 3) == -4.0f, "ip metric");
		CHECK(close_enough(vp_normalize(x, 3), 5.0f) && close_enough(x[2], 0.8f), "normalize");
		CHECK(close_enough(vp_distance(VP_METRIC_COSINE, x, y, 3), 0.2f), "cosine metric");
		CHECK(vp_metric_parse("cosine") == VP_METRIC_COSINE && vp_metric_parse("x") == -1, "metric names");
	}
	free(a);
	free(b);
	free(c1);
	free(c2);
	return check_done("test_dist");
}
