/* test_pq4: the 4-bit fast-scan codes of SCANN: packing, the kernels at
 * every SIMD level against the portable one (the same 16-bit sums, up to
 * the largest the table scale allows), and the table quantization's error
 * bound. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "vp.h"
#include "vp_pq4.h"

static uint32_t rnd(uint64_t *s)
{
	*s = *s * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(*s >> 33);
}

/* sums by the definition: entry i, code j looked up in table j */
static void reference(const uint8_t *codes, size_t n, size_t m, const uint8_t *q,
		      uint32_t *out)
{
	for (size_t i = 0; i < n; i++) {
		out[i] = 0;
		for (size_t j = 0; j < m; j++)
			out[i] += q[j * 16 + codes[i * m + j]];
	}
}

static void test_pack(void)
{
	uint64_t s = 1;
	const size_t ms[] = { 1, 2, 3, 4, 7, 16, 33 };
	for (size_t a = 0; a < sizeof ms / sizeof *ms; a++) {
		size_t m = ms[a], n = 77, bad = 0;
		uint8_t *c = malloc(n * m), *b = malloc(vp_pq4_blocks(n) * vp_pq4_block_bytes(m));
		for (size_t i = 0; i < n * m; i++)
			c[i] = (uint8_t)(rnd(&s) & 15);
		vp_pq4_pack(c, n, m, b);
		for (size_t i = 0; i < n; i++)
			for (size_t j = 0; j < m; j++)
				bad += vp_pq4_get(b, m, i, j) != c[i * m + j];
		CHECK(bad == 0, "m=%zu: %zu codes read back wrong", m, bad);
		/* padding entries and sub-quantizers are code 0 */
		for (size_t i = n; i < vp_pq4_blocks(n) * VP_PQ4_BLOCK; i++)
			for (size_t j = 0; j < vp_pq4_mp(m); j++)
				bad += vp_pq4_get(b, m, i, j) != 0;
		CHECK(bad == 0, "m=%zu: padding not zero", m);
		free(c);
		free(b);
	}
}

static void test_kernels(void)
{
	uint64_t s = 7;
	int levels = 0;
	const size_t ms[] = { 1, 2, 3, 4, 5, 8, 16, 30, 64, 196, 256, 392 };
	for (int lv = VP_SIMD_PORTABLE; lv <= VP_SIMD_AVX512; lv++) {
		const struct vp_kernels *k = vp_kernels_at((enum vp_simd)lv);
		if (!k)
			continue;
		levels++;
		for (size_t a = 0; a < sizeof ms / sizeof *ms; a++) {
			size_t m = ms[a], n = 32 * 5 + 9, nb = vp_pq4_blocks(n), bad = 0;
			uint8_t *c = malloc(n * m), *b = malloc(nb * vp_pq4_block_bytes(m));
			uint8_t *q = malloc(vp_pq4_mp(m) * 16);
			uint16_t *out = malloc(nb * VP_PQ4_BLOCK * sizeof *out);
			uint32_t *below = malloc(nb * sizeof *below);
			uint32_t *want = malloc(n * sizeof *want);
			for (int round = 0; round < 3; round++) {
				/* round 0: random; 1: every entry at the most the
				 * scale allows (sums up to 65535 and past 32767:
				 * signed 16-bit arithmetic would break); 2: codes
				 * all 15 */
				size_t top = m * 255 <= 65535 ? 255 : 65535 / m;
				for (size_t i = 0; i < n * m; i++)
					c[i] = round == 2 ? 15 : (uint8_t)(rnd(&s) & 15);
				memset(q, 0, vp_pq4_mp(m) * 16);
				for (size_t j = 0; j < m * 16; j++)
					q[j] = round == 0 ? (uint8_t)(rnd(&s) % (top + 1)) : (uint8_t)top;
				vp_pq4_pack(c, n, m, b);
				/* the masks: sums at most thr, thr the median-ish
				 * sum, 0 and 65535 */
				uint16_t thr = round == 0 ? (uint16_t)(m * top / 2) : round == 1 ? 65535 : 0;
				k->pq4_scan(b, nb, m, q, thr, out, below);
				reference(c, n, m, q, want);
				for (size_t i = 0; i < n; i++)
					bad += out[i] != want[i] ||
					       ((below[i / 32] >> (i % 32)) & 1) != (want[i] <= thr);
				CHECK(bad == 0, "%s m=%zu round %d: %zu sums differ (first %u/%u)",
				      k->name, m, round, bad, out[0], want[0]);
			}
			free(c);
			free(b);
			free(q);
			free(out);
			free(below);
			free(want);
		}
	}
	printf("# SIMD levels checked: %d\n", levels);
	CHECK(levels >= 1, "no kernel level");
}

/* quantized sums estimate the float sums within m / (2 scale) */
static void test_quantize(void)
{
	uint64_t s = 3;
	const size_t ms[] = { 1, 4, 16, 64, 392, 1024 };
	for (size_t a = 0; a < sizeof ms / sizeof *ms; a++) {
		size_t m = ms[a], n = 200, bad = 0, over = 0;
		float *t = malloc(m * 16 * sizeof *t), bias, scale, worst = 0;
		float *lo = malloc(m * sizeof *lo), *rng = malloc(m * sizeof *rng);
		uint8_t *q = malloc(vp_pq4_mp(m) * 16), *c = malloc(n * m);
		uint32_t *sum = malloc(n * sizeof *sum);
		for (size_t j = 0; j < m * 16; j++)
			t[j] = (float)(rnd(&s) % 100000) / 1000.0f - (j % 16 == 3 ? 40.0f : 0.0f);
		scale = vp_pq4_quantize(t, m, q, &bias, lo, rng);
		for (size_t i = 0; i < n * m; i++)
			c[i] = (uint8_t)(rnd(&s) & 15);
		reference(c, n, m, q, sum);
		for (size_t i = 0; i < n; i++) {
			double f = 0, e;
			for (size_t j = 0; j < m; j++)
				f += t[j * 16 + c[i * m + j]];
			e = fabs(bias + sum[i] / scale - f);
			worst = (float)e > worst ? (float)e : worst;
			bad += e > (double)m / (2.0 * scale) * 1.0001 + 1e-3 * fabs(f) + 1e-4;
			over += sum[i] > 65535;
		}
		CHECK(bad == 0, "m=%zu: %zu estimates past m/(2 scale) = %g (worst %g)", m, bad,
		      (double)m / (2.0 * scale), (double)worst);
		CHECK(over == 0, "m=%zu: a sum past 16 bits", m);
		/* the largest possible sum still fits */
		{
			uint32_t mx = 0;
			for (size_t j = 0; j < m; j++) {
				uint8_t b = 0;
				for (int cc = 0; cc < 16; cc++)
					b = q[j * 16 + cc] > b ? q[j * 16 + cc] : b;
				mx += b;
			}
			CHECK(mx <= 65535, "m=%zu: largest sum %u", m, mx);
		}
		free(t);
		free(q);
		free(c);
		free(sum);
		free(lo);
		free(rng);
	}
	/* a flat table: every entry 0, the bias the sum */
	{
		float t[32], bias, lo[2], rng[2];
		uint8_t q[64];
		for (int i = 0; i < 32; i++)
			t[i] = 2.5f;
		vp_pq4_quantize(t, 2, q, &bias, lo, rng);
		CHECK(q[0] == 0 && q[31] == 0 && fabsf(bias - 5.0f) < 1e-6f, "flat table");
	}
}

/* every level's quantized table equals the portable one byte for byte,
 * for t = a + b with bounds from the parts' ranges (as a list's table is
 * made) and for a alone with its exact ranges; and the bounds hold:
 * no entry saturates past what its bound allows, sums stay in 16 bits */
static void test_tables(void)
{
	uint64_t s = 11;
	const size_t ms[] = { 1, 3, 16, 196, 392, 1000 };
	for (int lv = VP_SIMD_PORTABLE; lv <= VP_SIMD_AVX512; lv++) {
		const struct vp_kernels *k = vp_kernels_at((enum vp_simd)lv);
		if (!k)
			continue;
		for (size_t a = 0; a < sizeof ms / sizeof *ms; a++) {
			size_t m = ms[a];
			float *ta = malloc(m * 16 * sizeof *ta), *tb = malloc(m * 16 * sizeof *tb);
			float *alo = malloc(m * sizeof *alo), *arng = malloc(m * sizeof *arng);
			float *blo = malloc(m * sizeof *blo), *brng = malloc(m * sizeof *brng);
			float *lo = malloc(m * sizeof *lo), *rng = malloc(m * sizeof *rng);
			uint8_t *q1 = malloc(vp_pq4_mp(m) * 16), *q2 = malloc(vp_pq4_mp(m) * 16);
			for (size_t j = 0; j < m * 16; j++) {
				ta[j] = (float)((int)(rnd(&s) % 200001) - 100000) / 997.0f;
				tb[j] = (float)(rnd(&s) % 100000) / 313.0f;
			}
			vp_pq4_ranges(ta, m, alo, arng);
			vp_pq4_ranges(tb, m, blo, brng);
			for (int withb = 0; withb < 2; withb++) {
				float bias, scale;
				uint32_t mx = 0;
				for (size_t j = 0; j < m; j++) {
					lo[j] = withb ? alo[j] + blo[j] : alo[j];
					rng[j] = withb ? arng[j] + brng[j] : arng[j];
				}
				scale = vp_pq4_plan(lo, rng, m, &bias);
				memset(q1, 0xaa, vp_pq4_mp(m) * 16);
				memset(q2, 0x55, vp_pq4_mp(m) * 16);
				vp_pq4_quant_portable(ta, withb ? tb : NULL, lo, m, scale, q1);
				k->pq4_quant(ta, withb ? tb : NULL, lo, m, scale, q2);
				CHECK(!memcmp(q1, q2, vp_pq4_mp(m) * 16), "%s m=%zu b=%d: table differs",
				      k->name, m, withb);
				for (size_t j = 0; j < m; j++) {
					uint8_t hi = 0;
					for (int c = 0; c < 16; c++)
						hi = q1[j * 16 + c] > hi ? q1[j * 16 + c] : hi;
					mx += hi;
				}
				CHECK(mx <= 65535, "%s m=%zu b=%d: largest sum %u", k->name, m, withb, mx);
			}
			free(ta), free(tb), free(alo), free(arng), free(blo), free(brng);
			free(lo), free(rng), free(q1), free(q2);
		}
	}
}

/* the query table: every level's floats equal the portable kernel's */
static void test_qtable(void)
{
	uint64_t s = 5;
	const size_t cfg[][3] = { { 4, 2, 16 }, { 196, 4, 16 }, { 7, 3, 256 }, { 1, 1, 16 } };
	for (int lv = VP_SIMD_PORTABLE; lv <= VP_SIMD_AVX512; lv++) {
		const struct vp_kernels *k = vp_kernels_at((enum vp_simd)lv);
		if (!k)
			continue;
		for (size_t a = 0; a < sizeof cfg / sizeof *cfg; a++) {
			size_t m = cfg[a][0], ds = cfg[a][1], ks = cfg[a][2], d = m * ds;
			float *cbt = malloc(d * ks * sizeof *cbt), *q = malloc(d * sizeof *q);
			float *o1 = malloc(m * ks * sizeof *o1), *o2 = malloc(m * ks * sizeof *o2);
			for (size_t i = 0; i < d * ks; i++)
				cbt[i] = (float)((int)(rnd(&s) % 20001) - 10000) / 777.0f;
			for (size_t i = 0; i < d; i++)
				q[i] = (float)((int)(rnd(&s) % 20001) - 10000) / 333.0f;
			vp_pq_qtable_portable(cbt, q, m, ds, ks, -2.0f, o1);
			k->pq_qtable(cbt, q, m, ds, ks, -2.0f, o2);
			CHECK(!memcmp(o1, o2, m * ks * sizeof *o1), "%s m=%zu dsub=%zu ks=%zu: "
			      "query tables differ", k->name, m, ds, ks);
			free(cbt), free(q), free(o1), free(o2);
		}
	}
}

int main(void)
{
	test_pack();
	test_kernels();
	test_quantize();
	test_tables();
	test_qtable();
	return check_done("test_pq4");
}
