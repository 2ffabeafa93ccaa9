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

/* Two passes, in sub-quantizer order: the ranges give the scale, then
 * each entry is rounded.  t = a + b is formed in both (the same float
 * additions, so the same values), never stored. */
float vp_pq4_table_portable(const float *a, const float *b, size_t m, uint8_t *q,
			    float *bias)
{
	float maxr = 0, scale, t[16];
	double sumr = 0, bs = 0;
	for (size_t j = 0; j < m; j++) {
		float lo, hi;
		for (int c = 0; c < 16; c++)
			t[c] = b ? a[j * 16 + c] + b[j * 16 + c] : a[j * 16 + c];
		lo = hi = t[0];
		for (int c = 1; c < 16; c++) {
			lo = t[c] < lo ? t[c] : lo;
			hi = t[c] > hi ? t[c] : hi;
		}
		bs += lo;
		sumr += hi - lo;
		maxr = hi - lo > maxr ? hi - lo : maxr;
	}
	scale = vp_pq4_scale(sumr, maxr, m);
	memset(q + m * 16, 0, (vp_pq4_mp(m) - m) * 16);
	for (size_t j = 0; j < m; j++) {
		float lo;
		for (int c = 0; c < 16; c++)
			t[c] = b ? a[j * 16 + c] + b[j * 16 + c] : a[j * 16 + c];
		lo = t[0];
		for (int c = 1; c < 16; c++)
			lo = t[c] < lo ? t[c] : lo;
		for (int c = 0; c < 16; c++) {
			long v = lrintf((t[c] - lo) * scale);
			q[j * 16 + c] = (uint8_t)(v > 255 ? 255 : v);
		}
	}
	*bias = (float)bs;
	return scale;
}

float vp_pq4_quantize(const float *t, size_t m, uint8_t *q, float *bias)
{
	return vp_pq4_table_portable(t, NULL, m, q, bias);
}

void vp_pq4_scan_portable(const uint8_t *b, size_t nb, size_t m, const uint8_t *q,
			  uint16_t *out)
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
		for (int i = 0; i < VP_PQ4_BLOCK; i++)
			out[i] = (uint16_t)s[i];
	}
}
