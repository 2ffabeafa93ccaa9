/*
 * vp_dist_avx512: AVX-512 kernels (compiled with -mavx512f -mavx512dq
 * -mavx512bw -mavx512vl -mfma, called only when the CPU has them).
 *
 * dot_block is the exact-search core: a 4x6 register tile (4 queries by 6
 * base vectors, 24 zmm accumulators, 4 query loads and 6 base loads per
 * 24 FMAs) walking the shared dimension 16 floats at a time, with a masked
 * tail so any d works.  The base tile (6 rows) stays in L1 while the query
 * block streams from L2; both operands are read in place, row-major, so no
 * packing pass is needed and the index is searched straight from the mmap.
 */
#if defined(__x86_64__) && defined(VP_HAVE_X86_KERNELS)
#include <immintrin.h>

#include "vp_dist.h"
#include "vp_pq4.h"

static inline __mmask16 tail_mask(size_t r)
{
	return (__mmask16)((1u << r) - 1u);
}

static float l2_avx512(const float *a, const float *b, size_t d)
{
	__m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
	__m512 s2 = _mm512_setzero_ps(), s3 = _mm512_setzero_ps();
	size_t i = 0;
	for (; i + 64 <= d; i += 64) {
		__m512 t0 = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
		__m512 t1 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16));
		__m512 t2 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32));
		__m512 t3 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48));
		s0 = _mm512_fmadd_ps(t0, t0, s0);
		s1 = _mm512_fmadd_ps(t1, t1, s1);
		s2 = _mm512_fmadd_ps(t2, t2, s2);
		s3 = _mm512_fmadd_ps(t3, t3, s3);
	}
	for (; i + 16 <= d; i += 16) {
		__m512 t = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
		s0 = _mm512_fmadd_ps(t, t, s0);
	}
	if (i < d) {
		__mmask16 m = tail_mask(d - i);
		__m512 t = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, a + i),
					 _mm512_maskz_loadu_ps(m, b + i));
		s1 = _mm512_fmadd_ps(t, t, s1);
	}
	return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1),
						  _mm512_add_ps(s2, s3)));
}

static float dot_avx512(const float *a, const float *b, size_t d)
{
	__m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
	__m512 s2 = _mm512_setzero_ps(), s3 = _mm512_setzero_ps();
	size_t i = 0;
	for (; i + 64 <= d; i += 64) {
		s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
		s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
		s2 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32), s2);
		s3 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48), s3);
	}
	for (; i + 16 <= d; i += 16)
		s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
	if (i < d) {
		__mmask16 m = tail_mask(d - i);
		s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i),
				     _mm512_maskz_loadu_ps(m, b + i), s1);
	}
	return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1),
						  _mm512_add_ps(s2, s3)));
}

/* Sums the 16 lanes of each of four vectors into one 128-bit vector
 * (lane i = sum of v_i): a transpose-and-add tree, cheaper than four
 * separate horizontal reductions. */
static inline __m128 hsum4(__m512 a, __m512 b, __m512 c, __m512 d)
{
	/* 512 -> 256: add the two halves of each */
	__m256 a8 = _mm256_add_ps(_mm512_castps512_ps256(a), _mm512_extractf32x8_ps(a, 1));
	__m256 b8 = _mm256_add_ps(_mm512_castps512_ps256(b), _mm512_extractf32x8_ps(b, 1));
	__m256 c8 = _mm256_add_ps(_mm512_castps512_ps256(c), _mm512_extractf32x8_ps(c, 1));
	__m256 d8 = _mm256_add_ps(_mm512_castps512_ps256(d), _mm512_extractf32x8_ps(d, 1));
	/* pairwise: hadd interleaves a,b and c,d */
	__m256 ab = _mm256_hadd_ps(a8, b8);
	__m256 cd = _mm256_hadd_ps(c8, d8);
	__m256 abcd = _mm256_hadd_ps(ab, cd);
	return _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1));
}

#ifndef TQ
#define TQ 4
#endif
#ifndef TX
#define TX 6
#endif

static void tile_qx(const float *Q, const float *X, size_t d, float *C,
		    size_t ldc)
{
	__m512 c[TQ][TX];
	size_t k = 0;
#pragma GCC unroll 4
	for (int i = 0; i < TQ; i++)
#pragma GCC unroll 12
		for (int j = 0; j < TX; j++)
			c[i][j] = _mm512_setzero_ps();
	for (; k + 16 <= d; k += 16) {
		__m512 q[TQ];
#pragma GCC unroll 8
		for (int i = 0; i < TQ; i++)
			q[i] = _mm512_loadu_ps(Q + i * d + k);
#pragma GCC unroll 12
		for (int j = 0; j < TX; j++) {
			__m512 x = _mm512_loadu_ps(X + j * d + k);
#pragma GCC unroll 8
			for (int i = 0; i < TQ; i++)
				c[i][j] = _mm512_fmadd_ps(q[i], x, c[i][j]);
		}
	}
	if (k < d) {
		__mmask16 m = tail_mask(d - k);
		__m512 q[TQ];
#pragma GCC unroll 8
		for (int i = 0; i < TQ; i++)
			q[i] = _mm512_maskz_loadu_ps(m, Q + i * d + k);
#pragma GCC unroll 12
		for (int j = 0; j < TX; j++) {
			__m512 x = _mm512_maskz_loadu_ps(m, X + j * d + k);
#pragma GCC unroll 8
			for (int i = 0; i < TQ; i++)
				c[i][j] = _mm512_fmadd_ps(q[i], x, c[i][j]);
		}
	}
	/* four columns at a time through one transpose-reduce */
#pragma GCC unroll 8
	for (int i = 0; i < TQ; i++) {
		int j = 0;
#pragma GCC unroll 4
		for (; j + 4 <= TX; j += 4)
			_mm_storeu_ps(C + i * ldc + j, hsum4(c[i][j], c[i][j + 1],
							     c[i][j + 2], c[i][j + 3]));
#pragma GCC unroll 4
		for (; j < TX; j++)
			C[i * ldc + j] = _mm512_reduce_add_ps(c[i][j]);
	}
}

/* One query against TX base rows: the shape of a lone (latency) query. */
static void tile_1x(const float *q, const float *X, size_t d, float *C)
{
	__m512 c[TX];
	size_t k = 0;
#pragma GCC unroll 12
	for (int j = 0; j < TX; j++)
		c[j] = _mm512_setzero_ps();
	for (; k + 16 <= d; k += 16) {
		__m512 qv = _mm512_loadu_ps(q + k);
#pragma GCC unroll 12
		for (int j = 0; j < TX; j++)
			c[j] = _mm512_fmadd_ps(qv, _mm512_loadu_ps(X + j * d + k), c[j]);
	}
	if (k < d) {
		__mmask16 m = tail_mask(d - k);
		__m512 qv = _mm512_maskz_loadu_ps(m, q + k);
#pragma GCC unroll 12
		for (int j = 0; j < TX; j++)
			c[j] = _mm512_fmadd_ps(qv, _mm512_maskz_loadu_ps(m, X + j * d + k), c[j]);
	}
	int j = 0;
#pragma GCC unroll 4
	for (; j + 4 <= TX; j += 4)
		_mm_storeu_ps(C + j, hsum4(c[j], c[j + 1], c[j + 2], c[j + 3]));
#pragma GCC unroll 4
	for (; j < TX; j++)
		C[j] = _mm512_reduce_add_ps(c[j]);
}

static void dot_block_avx512(const float *Q, size_t nq, const float *X,
			     size_t nx, size_t d, float *C, size_t ldc)
{
	size_t j = 0;
	for (; j + TX <= nx; j += TX) {
		size_t i = 0;
		for (; i + TQ <= nq; i += TQ)
			tile_qx(Q + i * d, X + j * d, d, C + i * ldc + j, ldc);
		for (; i < nq; i++)
			tile_1x(Q + i * d, X + j * d, d, C + i * ldc + j);
	}
	for (; j < nx; j++)
		for (size_t i = 0; i < nq; i++)
			C[i * ldc + j] = dot_avx512(Q + i * d, X + j * d, d);
}

/* 16 codes widened to floats. */
static inline __m512 load_codes(const uint8_t *c)
{
	return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)c)));
}

static inline __m512 load_codes_tail(const uint8_t *c, __mmask16 m)
{
	return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(m, c)));
}

static float sq8_l2_avx512(const float *qs, const uint8_t *c, const float *w,
			   size_t d)
{
	__m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
	size_t i = 0;
	for (; i + 32 <= d; i += 32) {
		__m512 t0 = _mm512_sub_ps(_mm512_loadu_ps(qs + i), load_codes(c + i));
		__m512 t1 = _mm512_sub_ps(_mm512_loadu_ps(qs + i + 16), load_codes(c + i + 16));
		s0 = _mm512_fmadd_ps(_mm512_mul_ps(t0, t0), _mm512_loadu_ps(w + i), s0);
		s1 = _mm512_fmadd_ps(_mm512_mul_ps(t1, t1), _mm512_loadu_ps(w + i + 16), s1);
	}
	for (; i < d; i += 16) {
		__mmask16 m = d - i >= 16 ? (__mmask16)0xffff : tail_mask(d - i);
		__m512 t = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, qs + i), load_codes_tail(c + i, m));
		s0 = _mm512_fmadd_ps(_mm512_mul_ps(t, t), _mm512_maskz_loadu_ps(m, w + i), s0);
	}
	return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

static float sq8_dot_avx512(const float *qw, const uint8_t *c, size_t d)
{
	__m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
	size_t i = 0;
	for (; i + 32 <= d; i += 32) {
		s0 = _mm512_fmadd_ps(_mm512_loadu_ps(qw + i), load_codes(c + i), s0);
		s1 = _mm512_fmadd_ps(_mm512_loadu_ps(qw + i + 16), load_codes(c + i + 16), s1);
	}
	for (; i < d; i += 16) {
		__mmask16 m = d - i >= 16 ? (__mmask16)0xffff : tail_mask(d - i);
		s0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, qw + i), load_codes_tail(c + i, m), s0);
	}
	return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

/* 4-bit fast scan (vp_pq4.h), as the AVX2 kernel with four
 * sub-quantizers a step (vpshufb works within each 128-bit lane) */
static void pq4_scan_avx512(const uint8_t *b, size_t nb, size_t m, const uint8_t *q,
			    uint16_t thr, uint16_t *out, uint32_t *below)
{
	const size_t mp = vp_pq4_mp(m), bb = mp * 16;
	const __m512i lo4 = _mm512_set1_epi8(15);
	const __m512i th = _mm512_set1_epi16((short)thr);
	for (size_t k = 0; k < nb; k++, b += bb, out += VP_PQ4_BLOCK) {
		__m512i a0 = _mm512_setzero_si512(), o0 = _mm512_setzero_si512();
		__m512i a1 = _mm512_setzero_si512(), o1 = _mm512_setzero_si512();
		for (size_t j = 0; j < mp; j += 4) {
			__m512i c = _mm512_loadu_si512((const void *)(b + j * 16));
			__m512i t = _mm512_loadu_si512((const void *)(q + j * 16));
			__m512i d0 = _mm512_shuffle_epi8(t, _mm512_and_si512(c, lo4));
			__m512i d1 = _mm512_shuffle_epi8(t, _mm512_and_si512(_mm512_srli_epi16(c, 4), lo4));
			a0 = _mm512_add_epi16(a0, d0);
			o0 = _mm512_add_epi16(o0, _mm512_srli_epi16(d0, 8));
			a1 = _mm512_add_epi16(a1, d1);
			o1 = _mm512_add_epi16(o1, _mm512_srli_epi16(d1, 8));
		}
		__m512i e0 = _mm512_sub_epi16(a0, _mm512_slli_epi16(o0, 8));
		__m512i e1 = _mm512_sub_epi16(a1, _mm512_slli_epi16(o1, 8));
		/* the four lanes: the same entries, different sub-quantizers */
		__m256i e0h = _mm256_add_epi16(_mm512_castsi512_si256(e0), _mm512_extracti64x4_epi64(e0, 1));
		__m256i o0h = _mm256_add_epi16(_mm512_castsi512_si256(o0), _mm512_extracti64x4_epi64(o0, 1));
		__m256i e1h = _mm256_add_epi16(_mm512_castsi512_si256(e1), _mm512_extracti64x4_epi64(e1, 1));
		__m256i o1h = _mm256_add_epi16(_mm512_castsi512_si256(o1), _mm512_extracti64x4_epi64(o1, 1));
		__m128i ev0 = _mm_add_epi16(_mm256_castsi256_si128(e0h), _mm256_extracti128_si256(e0h, 1));
		__m128i od0 = _mm_add_epi16(_mm256_castsi256_si128(o0h), _mm256_extracti128_si256(o0h, 1));
		__m128i ev1 = _mm_add_epi16(_mm256_castsi256_si128(e1h), _mm256_extracti128_si256(e1h, 1));
		__m128i od1 = _mm_add_epi16(_mm256_castsi256_si128(o1h), _mm256_extracti128_si256(o1h, 1));
		_mm_storeu_si128((__m128i *)out, _mm_unpacklo_epi16(ev0, od0));
		_mm_storeu_si128((__m128i *)(out + 8), _mm_unpackhi_epi16(ev0, od0));
		_mm_storeu_si128((__m128i *)(out + 16), _mm_unpacklo_epi16(ev1, od1));
		_mm_storeu_si128((__m128i *)(out + 24), _mm_unpackhi_epi16(ev1, od1));
		below[k] = (uint32_t)_mm512_cmple_epu16_mask(_mm512_loadu_si512((const void *)out), th);
	}
}

/* The table of a probed list (vp_pq4.h): a sub-quantizer's 16 entries are
 * one register; (a + b - lo) x scale rounded to nearest (vcvtps2dq, as
 * lrintf) and saturated to a byte (vpmovusdb; never negative) are the
 * portable kernel's operations, so the bytes are the same */
static void pq4_quant_avx512(const float *a, const float *b, const float *lo, size_t m,
			     float scale, uint8_t *q)
{
	const __m512 sc = _mm512_set1_ps(scale);
	for (size_t j = m; j < vp_pq4_mp(m); j++)
		_mm_storeu_si128((__m128i *)(q + j * 16), _mm_setzero_si128());
	for (size_t j = 0; j < m; j++) {
		__m512 t = _mm512_loadu_ps(a + j * 16);
		if (b)
			t = _mm512_add_ps(t, _mm512_loadu_ps(b + j * 16));
		__m512i v = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_sub_ps(t, _mm512_set1_ps(lo[j])), sc));
		v = _mm512_max_epi32(v, _mm512_setzero_si512());
		_mm_storeu_si128((__m128i *)(q + j * 16), _mm512_cvtusepi32_epi8(v));
	}
}

/* The query's PQ table, 16 entries a register; _mm512_mul_ps then
 * _mm512_add_ps, never fused (GCC would contract them under -mfma), as
 * the portable kernel rounds */
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("fp-contract=off")))
#endif
static void pq_qtable_avx512(const float *cbt, const float *q, size_t m, size_t dsub,
			     size_t ks, float f, float *out)
{
#ifdef __clang__
#pragma clang fp contract(off)
#endif
	for (size_t sq = 0; sq < m; sq++)
		for (size_t j = 0; j < ks; j += 16) {
			__m512 t = _mm512_setzero_ps();
			for (size_t u = 0; u < dsub; u++) {
				__m512 ru = _mm512_set1_ps(f * q[sq * dsub + u]);
				__m512 col = _mm512_loadu_ps(cbt + (sq * dsub + u) * ks + j);
				t = _mm512_add_ps(t, _mm512_mul_ps(ru, col));
			}
			_mm512_storeu_ps(out + sq * ks + j, t);
		}
}

/* 32 codes widened to 16-bit lanes, multiplied by the query's and summed
 * in pairs (vpmaddwd): about 3 instructions per 32 dimensions where the
 * float kernel takes 10 (widen twice, convert, subtract, multiply, fused
 * add); the tail through masks */
static int64_t sq8_idot_avx512(const int16_t *qi, const uint8_t *c, size_t d)
{
	__m512i s0 = _mm512_setzero_si512(), s1 = _mm512_setzero_si512();
	size_t i = 0;
	for (; i + 64 <= d; i += 64) {
		__m512i c0 = _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)(c + i)));
		__m512i c1 = _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)(c + i + 32)));
		s0 = _mm512_add_epi32(s0, _mm512_madd_epi16(c0, _mm512_loadu_si512(qi + i)));
		s1 = _mm512_add_epi32(s1, _mm512_madd_epi16(c1, _mm512_loadu_si512(qi + i + 32)));
	}
	for (; i < d; i += 32) {
		__mmask32 m = d - i >= 32 ? (__mmask32)0xffffffffu : (__mmask32)((1u << (d - i)) - 1);
		__m512i c0 = _mm512_cvtepu8_epi16(_mm256_maskz_loadu_epi8(m, c + i));
		s0 = _mm512_add_epi32(s0, _mm512_madd_epi16(c0, _mm512_maskz_loadu_epi16(m, qi + i)));
	}
	return _mm512_reduce_add_epi64(_mm512_add_epi64(
		_mm512_add_epi64(_mm512_cvtepi32_epi64(_mm512_castsi512_si256(s0)),
				 _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(s0, 1))),
		_mm512_add_epi64(_mm512_cvtepi32_epi64(_mm512_castsi512_si256(s1)),
				 _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(s1, 1)))));
}

const struct vp_kernels vp_kernels_avx512 = {
	"avx512", VP_SIMD_AVX512, l2_avx512, dot_avx512, dot_block_avx512,
	sq8_l2_avx512, sq8_dot_avx512, sq8_idot_avx512, pq4_scan_avx512, pq4_quant_avx512, pq_qtable_avx512,
};
#endif
