/*
 * vp_pq4: packing, table quantization and the portable fast-scan kernel
 * (the SIMD ones are in vp_dist_avx2.c and vp_dist_avx512.c).
 */
#include "vp_pq4.h"

#include <math.h>
#include <string.h>

void vp_pq4_pack(const uint8_t *codes, size_t n, size_t m, uint8_t *out)
{
	const size_t bb = vp_pq4_block_bytes(m);
	memset(out, 0, vp_pq4_blocks(n) * bb);
	for (size_t i = 0; i < n; i++) {
		uint8_t *b = out + (i / VP_PQ4_BLOCK) * bb + (i % VP_PQ4_BLOCK) % 16;
		int high = (i % VP_PQ4_BLOCK) >= 16;
		for (size_t j = 0; j < m; j++)
			b[j * 16] |= (uint8_t)((codes[i * m + j] & 15) << (high ? 4 : 0));
	}
}

void vp_pq4_ranges(const float *t, size_t m, float *lo, float *rng)
{
	for (size_t j = 0; j < m; j++) {
		float l = t[j * 16], h = l;
		for (int c = 1; c < 16; c++) {
			l = t[j * 16 + c] < l ? t[j * 16 + c] : l;
			h = t[j * 16 + c] > h ? t[j * 16 + c] : h;
		}
		lo[j] = l;
		rng[j] = h - l;
	}
}

/* Each entry rounds up by at most 1/2: m/2 of room under 65535. */
float vp_pq4_plan(const float *lo, const float *rng, size_t m, float *bias)
{
	double sumr = 0, b = 0;
	float maxr = 0, scale;
	for (size_t j = 0; j < m; j++) {
		b += lo[j];
		sumr += rng[j];
		maxr = rng[j] > maxr ? rng[j] : maxr;
	}
	scale = maxr > 0 ? 255.0f / maxr : 1.0f;
	if (sumr * scale > 65535.0 - (double)m)
		scale = (float)((65535.0 - (double)m) / sumr);
	*bias = (float)b;
	return scale;
}

/* t = a + b formed as the SIMD kernels form it (one float addition),
 * then subtracted, scaled and rounded to nearest as they do */
void vp_pq4_quant_portable(const float *a, const float *b, const float *lo, size_t m,
			   float scale, uint8_t *q)
{
	memset(q + m * 16, 0, (vp_pq4_mp(m) - m) * 16);
	for (size_t j = 0; j < m; j++)
		for (int c = 0; c < 16; c++) {
			float t = b ? a[j * 16 + c] + b[j * 16 + c] : a[j * 16 + c];
			long v = lrintf((t - lo[j]) * scale);
			q[j * 16 + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
		}
}

float vp_pq4_quantize(const float *t, size_t m, uint8_t *q, float *bias, float *lo,
		      float *rng)
{
	float scale;
	vp_pq4_ranges(t, m, lo, rng);
	scale = vp_pq4_plan(lo, rng, m, bias);
	vp_pq4_quant_portable(t, NULL, lo, m, scale, q);
	return scale;
}

void vp_pq4_scan_portable(const uint8_t *b, size_t nb, size_t m, const uint8_t *q,
			  uint16_t thr, uint16_t *out, uint32_t *below)
{
	const size_t mp = vp_pq4_mp(m), bb = mp * 16;
	for (size_t k = 0; k < nb; k++, b += bb, out += VP_PQ4_BLOCK) {
		uint32_t s[VP_PQ4_BLOCK] = { 0 };
		for (size_t j = 0; j < mp; j++) {
			const uint8_t *c = b + j * 16, *t = q + j * 16;
			for (int i = 0; i < 16; i++) {
				s[i] += t[c[i] & 15];
				s[i + 16] += t[c[i] >> 4];
			}
		}
		below[k] = 0;
		for (int i = 0; i < VP_PQ4_BLOCK; i++) {
			out[i] = (uint16_t)s[i];
			below[k] |= (uint32_t)(out[i] <= thr) << i;
		}
	}
}
