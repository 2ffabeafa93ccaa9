/*
 * vp_dist_avx2: AVX2+FMA kernels (compiled with -mavx2 -mfma, called only
 * when the CPU has them).  dot_block uses a 3x4 register tile: 12 ymm
 * accumulators, 3 query registers and one base register, the 16 ymm
 * registers AVX2 has.
 */
#if defined(__x86_64__) && defined(VP_HAVE_X86_KERNELS)
#include <immintrin.h>

#include "vp_dist.h"
#include "vp_pq4.h"

static inline __m256i tail_mask(size_t r)
{
	static const int m[16] = { -1, -1, -1, -1, -1, -1, -1, -1,
				   0, 0, 0, 0, 0, 0, 0, 0 };
	return _mm256_loadu_si256((const __m256i *)(m + 8 - r));
}

static inline float hsum(__m256 v)
{
	__m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
	s = _mm_add_ps(s, _mm_movehl_ps(s, s));
	s = _mm_add_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}

static float l2_avx2(const float *a, const float *b, size_t d)
{
	__m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
	__m256 s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
	size_t i = 0;
	for (; i + 32 <= d; i += 32) {
		__m256 t0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
		__m256 t1 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8));
		__m256 t2 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16));
		__m256 t3 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24));
		s0 = _mm256_fmadd_ps(t0, t0, s0);
		s1 = _mm256_fmadd_ps(t1, t1, s1);
		s2 = _mm256_fmadd_ps(t2, t2, s2);
		s3 = _mm256_fmadd_ps(t3, t3, s3);
	}
	for (; i + 8 <= d; i += 8) {
		__m256 t = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
		s0 = _mm256_fmadd_ps(t, t, s0);
	}
	if (i < d) {
		__m256i m = tail_mask(d - i);
		__m256 t = _mm256_sub_ps(_mm256_maskload_ps(a + i, m),
					 _mm256_maskload_ps(b + i, m));
		s1 = _mm256_fmadd_ps(t, t, s1);
	}
	return hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
}

static float dot_avx2(const float *a, const float *b, size_t d)
{
	__m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
	__m256 s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
	size_t i = 0;
	for (; i + 32 <= d; i += 32) {
		s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
		s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
		s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
		s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
	}
	for (; i + 8 <= d; i += 8)
		s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
	if (i < d) {
		__m256i m = tail_mask(d - i);
		s1 = _mm256_fmadd_ps(_mm256_maskload_ps(a + i, m),
				     _mm256_maskload_ps(b + i, m), s1);
	}
	return hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
}

#define TQ 3
#define TX 4

static void tile3x4(const float *Q, const float *X, size_t d, float *C,
		    size_t ldc)
{
	__m256 c[TQ][TX];
	size_t k = 0;
#pragma GCC unroll 3
	for (int i = 0; i < TQ; i++)
#pragma GCC unroll 4
		for (int j = 0; j < TX; j++)
			c[i][j] = _mm256_setzero_ps();
	for (; k + 8 <= d; k += 8) {
		__m256 q[TQ];
#pragma GCC unroll 3
		for (int i = 0; i < TQ; i++)
			q[i] = _mm256_loadu_ps(Q + i * d + k);
#pragma GCC unroll 4
		for (int j = 0; j < TX; j++) {
			__m256 x = _mm256_loadu_ps(X + j * d + k);
#pragma GCC unroll 3
			for (int i = 0; i < TQ; i++)
				c[i][j] = _mm256_fmadd_ps(q[i], x, c[i][j]);
		}
	}
	if (k < d) {
		__m256i m = tail_mask(d - k);
		__m256 q[TQ];
#pragma GCC unroll 3
		for (int i = 0; i < TQ; i++)
			q[i] = _mm256_maskload_ps(Q + i * d + k, m);
#pragma GCC unroll 4
		for (int j = 0; j < TX; j++) {
			__m256 x = _mm256_maskload_ps(X + j * d + k, m);
#pragma GCC unroll 3
			for (int i = 0; i < TQ; i++)
				c[i][j] = _mm256_fmadd_ps(q[i], x, c[i][j]);
		}
	}
#pragma GCC unroll 3
	for (int i = 0; i < TQ; i++)
#pragma GCC unroll 4
		for (int j = 0; j < TX; j++)
			C[i * ldc + j] = hsum(c[i][j]);
}

/* One query against TX base rows, each sum accumulated as tile3x4's is,
 * so that a query's dot products do not depend on how many queries came
 * with it (IVF's coarse step ranks centroids with them, one query at a
 * time or a block of them: the same lists either way). */
static void tile1x4(const float *q, const float *X, size_t d, float *C)
{
	__m256 c[TX];
	size_t k = 0;
#pragma GCC unroll 4
	for (int j = 0; j < TX; j++)
		c[j] = _mm256_setzero_ps();
	for (; k + 8 <= d; k += 8) {
		__m256 qv = _mm256_loadu_ps(q + k);
#pragma GCC unroll 4
		for (int j = 0; j < TX; j++)
			c[j] = _mm256_fmadd_ps(qv, _mm256_loadu_ps(X + j * d + k), c[j]);
	}
	if (k < d) {
		__m256i m = tail_mask(d - k);
		__m256 qv = _mm256_maskload_ps(q + k, m);
#pragma GCC unroll 4
		for (int j = 0; j < TX; j++)
			c[j] = _mm256_fmadd_ps(qv, _mm256_maskload_ps(X + j * d + k, m), c[j]);
	}
#pragma GCC unroll 4
	for (int j = 0; j < TX; j++)
		C[j] = hsum(c[j]);
}

static void dot_block_avx2(const float *Q, size_t nq, const float *X,
			   size_t nx, size_t d, float *C, size_t ldc)
{
	size_t j = 0;
	for (; j + TX <= nx; j += TX) {
		size_t i = 0;
		for (; i + TQ <= nq; i += TQ)
			tile3x4(Q + i * d, X + j * d, d, C + i * ldc + j, ldc);
		for (; i < nq; i++)
			tile1x4(Q + i * d, X + j * d, d, C + i * ldc + j);
	}
	for (; j < nx; j++)
		for (size_t i = 0; i < nq; i++)
			C[i * ldc + j] = dot_avx2(Q + i * d, X + j * d, d);
}

/* 4-bit fast scan (vp_pq4.h): two sub-quantizers a step, their codes and
 * tables one 256-bit load each; a byte shuffle looks up 16 codes per
 * 128-bit lane.  The 8-bit lookups are summed as 16-bit lanes without
 * widening: a lane adds its even byte plus 256 x its odd byte, a second
 * accumulator the odd bytes alone (shifted down), and at the end even =
 * first - 256 x second (exact modulo 2^16, and the sums fit 16 bits). */
static void pq4_scan_avx2(const uint8_t *b, size_t nb, size_t m, const uint8_t *q,
			  uint16_t thr, uint16_t *out, uint32_t *below)
{
	const size_t mp = vp_pq4_mp(m), bb = mp * 16;
	const __m256i lo4 = _mm256_set1_epi8(15);
	const __m128i th = _mm_set1_epi16((short)thr);
	for (size_t k = 0; k < nb; k++, b += bb, out += VP_PQ4_BLOCK) {
		__m256i a0 = _mm256_setzero_si256(), o0 = _mm256_setzero_si256();
		__m256i a1 = _mm256_setzero_si256(), o1 = _mm256_setzero_si256();
		for (size_t j = 0; j < mp; j += 2) {
			__m256i c = _mm256_loadu_si256((const __m256i *)(b + j * 16));
			__m256i t = _mm256_loadu_si256((const __m256i *)(q + j * 16));
			__m256i d0 = _mm256_shuffle_epi8(t, _mm256_and_si256(c, lo4));
			__m256i d1 = _mm256_shuffle_epi8(t, _mm256_and_si256(_mm256_srli_epi16(c, 4), lo4));
			a0 = _mm256_add_epi16(a0, d0);
			o0 = _mm256_add_epi16(o0, _mm256_srli_epi16(d0, 8));
			a1 = _mm256_add_epi16(a1, d1);
			o1 = _mm256_add_epi16(o1, _mm256_srli_epi16(d1, 8));
		}
		/* entries 0..15 from (a0, o0), 16..31 from (a1, o1); the two
		 * lanes hold different sub-quantizers of the same entries */
		__m256i e0 = _mm256_sub_epi16(a0, _mm256_slli_epi16(o0, 8));
		__m256i e1 = _mm256_sub_epi16(a1, _mm256_slli_epi16(o1, 8));
		__m128i ev0 = _mm_add_epi16(_mm256_castsi256_si128(e0), _mm256_extracti128_si256(e0, 1));
		__m128i od0 = _mm_add_epi16(_mm256_castsi256_si128(o0), _mm256_extracti128_si256(o0, 1));
		__m128i ev1 = _mm_add_epi16(_mm256_castsi256_si128(e1), _mm256_extracti128_si256(e1, 1));
		__m128i od1 = _mm_add_epi16(_mm256_castsi256_si128(o1), _mm256_extracti128_si256(o1, 1));
		__m128i s0 = _mm_unpacklo_epi16(ev0, od0), s1 = _mm_unpackhi_epi16(ev0, od0);
		__m128i s2 = _mm_unpacklo_epi16(ev1, od1), s3 = _mm_unpackhi_epi16(ev1, od1);
		_mm_storeu_si128((__m128i *)out, s0);
		_mm_storeu_si128((__m128i *)(out + 8), s1);
		_mm_storeu_si128((__m128i *)(out + 16), s2);
		_mm_storeu_si128((__m128i *)(out + 24), s3);
		/* unsigned s <= thr: min(s, thr) == s */
		__m128i l0 = _mm_cmpeq_epi16(_mm_min_epu16(s0, th), s0);
		__m128i l1 = _mm_cmpeq_epi16(_mm_min_epu16(s1, th), s1);
		__m128i l2 = _mm_cmpeq_epi16(_mm_min_epu16(s2, th), s2);
		__m128i l3 = _mm_cmpeq_epi16(_mm_min_epu16(s3, th), s3);
		uint32_t lo = (uint32_t)_mm_movemask_epi8(_mm_packs_epi16(l0, l1));
		uint32_t hi = (uint32_t)_mm_movemask_epi8(_mm_packs_epi16(l2, l3));
		below[k] = lo | hi << 16;
	}
}

/* The list's table (vp_pq4.h): two registers a sub-quantizer; the same
 * rounding (vcvtps2dq) and saturation (packs to unsigned bytes) as the
 * portable kernel */
static void pq4_quant_avx2(const float *a, const float *b, const float *lo, size_t m,
			   float scale, uint8_t *q)
{
	const __m256 sc = _mm256_set1_ps(scale);
	for (size_t j = m; j < vp_pq4_mp(m); j++)
		_mm_storeu_si128((__m128i *)(q + j * 16), _mm_setzero_si128());
	for (size_t j = 0; j < m; j++) {
		__m256 t0 = _mm256_loadu_ps(a + j * 16), t1 = _mm256_loadu_ps(a + j * 16 + 8);
		__m256 l = _mm256_set1_ps(lo[j]);
		if (b) {
			t0 = _mm256_add_ps(t0, _mm256_loadu_ps(b + j * 16));
			t1 = _mm256_add_ps(t1, _mm256_loadu_ps(b + j * 16 + 8));
		}
		__m256i v0 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_sub_ps(t0, l), sc));
		__m256i v1 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_sub_ps(t1, l), sc));
		/* 16 int32 -> 16 uint8, saturating */
		__m256i w = _mm256_packus_epi32(v0, v1);          /* 0-3 8-11 | 4-7 12-15 */
		w = _mm256_permute4x64_epi64(w, 0xd8);            /* 0-7 | 8-15 */
		__m128i x = _mm_packus_epi16(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1));
		_mm_storeu_si128((__m128i *)(q + j * 16), x);
	}
}

/* The query's PQ table, 8 entries a register, multiply and add apart
 * (never contracted: see the AVX-512 kernel) */
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("fp-contract=off")))
#endif
static void pq_qtable_avx2(const float *cbt, const float *q, size_t m, size_t dsub,
			   size_t ks, float f, float *out)
{
#ifdef __clang__
#pragma clang fp contract(off)
#endif
	for (size_t sq = 0; sq < m; sq++)
		for (size_t j = 0; j < ks; j += 8) {
			__m256 t = _mm256_setzero_ps();
			for (size_t u = 0; u < dsub; u++) {
				__m256 ru = _mm256_set1_ps(f * q[sq * dsub + u]);
				__m256 col = _mm256_loadu_ps(cbt + (sq * dsub + u) * ks + j);
				t = _mm256_add_ps(t, _mm256_mul_ps(ru, col));
			}
			_mm256_storeu_ps(out + sq * ks + j, t);
		}
}

/* 8 codes widened to floats. */
static inline __m256 load_codes8(const uint8_t *c)
{
	return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)c)));
}

/* SQ8 against a prepared query in floats (files without IVF_SQ8's norms,
 * SCANN's keep=sq8 reorder): two accumulators of 8; the tail scalar */
static float sq8_l2_avx2(const float *qs, const uint8_t *c, const float *w, size_t d)
{
	__m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
	size_t i = 0;
	float t;
	for (; i + 16 <= d; i += 16) {
		__m256 t0 = _mm256_sub_ps(_mm256_loadu_ps(qs + i), load_codes8(c + i));
		__m256 t1 = _mm256_sub_ps(_mm256_loadu_ps(qs + i + 8), load_codes8(c + i + 8));
		s0 = _mm256_fmadd_ps(_mm256_mul_ps(t0, t0), _mm256_loadu_ps(w + i), s0);
		s1 = _mm256_fmadd_ps(_mm256_mul_ps(t1, t1), _mm256_loadu_ps(w + i + 8), s1);
	}
	for (; i + 8 <= d; i += 8) {
		__m256 t0 = _mm256_sub_ps(_mm256_loadu_ps(qs + i), load_codes8(c + i));
		s0 = _mm256_fmadd_ps(_mm256_mul_ps(t0, t0), _mm256_loadu_ps(w + i), s0);
	}
	t = hsum(_mm256_add_ps(s0, s1));
	for (; i < d; i++) {
		float e = qs[i] - (float)c[i];
		t += w[i] * e * e;
	}
	return t;
}

static float sq8_dot_avx2(const float *qw, const uint8_t *c, size_t d)
{
	__m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
	size_t i = 0;
	float t;
	for (; i + 16 <= d; i += 16) {
		s0 = _mm256_fmadd_ps(_mm256_loadu_ps(qw + i), load_codes8(c + i), s0);
		s1 = _mm256_fmadd_ps(_mm256_loadu_ps(qw + i + 8), load_codes8(c + i + 8), s1);
	}
	for (; i + 8 <= d; i += 8)
		s0 = _mm256_fmadd_ps(_mm256_loadu_ps(qw + i), load_codes8(c + i), s0);
	t = hsum(_mm256_add_ps(s0, s1));
	for (; i < d; i++)
		t += qw[i] * (float)c[i];
	return t;
}

/* 16 codes widened to 16-bit lanes, multiplied by the query's and summed
 * in pairs (vpmaddwd): 32-bit lanes, widened to 64 bits only at the end */
static int64_t sq8_idot_avx2(const int16_t *qi, const uint8_t *c, size_t d)
{
	__m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();
	size_t i = 0;
	int64_t t;
	for (; i + 32 <= d; i += 32) {
		__m256i c0 = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(c + i)));
		__m256i c1 = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(c + i + 16)));
		s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(c0, _mm256_loadu_si256((const __m256i *)(qi + i))));
		s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(c1, _mm256_loadu_si256((const __m256i *)(qi + i + 16))));
	}
	for (; i + 16 <= d; i += 16) {
		__m256i c0 = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(c + i)));
		s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(c0, _mm256_loadu_si256((const __m256i *)(qi + i))));
	}
	{
		__m256i w = _mm256_add_epi64(
			_mm256_add_epi64(_mm256_cvtepi32_epi64(_mm256_castsi256_si128(s0)),
					 _mm256_cvtepi32_epi64(_mm256_extracti128_si256(s0, 1))),
			_mm256_add_epi64(_mm256_cvtepi32_epi64(_mm256_castsi256_si128(s1)),
					 _mm256_cvtepi32_epi64(_mm256_extracti128_si256(s1, 1))));
		__m128i h = _mm_add_epi64(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1));
		t = _mm_cvtsi128_si64(h) + _mm_extract_epi64(h, 1);
	}
	for (; i < d; i++)
		t += (int32_t)qi[i] * (int32_t)c[i];
	return t;
}

const struct vp_kernels vp_kernels_avx2 = {
	"avx2", VP_SIMD_AVX2, l2_avx2, dot_avx2, dot_block_avx2,
	sq8_l2_avx2, sq8_dot_avx2, sq8_idot_avx2, pq4_scan_avx2, pq4_quant_avx2, pq_qtable_avx2,
};
#endif
