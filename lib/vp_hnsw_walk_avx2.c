/*
 * vp_hnsw_walk_avx2: the coded walk with AVX2 kernels (compiled with -mavx2,
 * called only when the CPU has it).  |a - b| comes from two saturating
 * subtractions; vpmaddubsw squares it and adds pairs into 16 bits (at most
 * 2 x 127^2 = 32258, so it cannot saturate), vpmaddwd widens to 32 bits.
 * Integer sums: the same results as the portable walk, bit for bit.
 */
#if defined(__x86_64__) && defined(VP_HAVE_X86_KERNELS)
#include <immintrin.h>

#include "vp_hnsw_int.h"

static inline int32_t hsum8(__m256i v)
{
	__m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
	s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
	s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
	return _mm_cvtsi128_si32(s);
}

static inline int32_t code_l2(const uint8_t *a, const uint8_t *b, size_t stride)
{
	const __m256i one = _mm256_set1_epi16(1);
	__m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();
	for (size_t j = 0; j < stride; j += 64) {
		__m256i a0 = _mm256_loadu_si256((const __m256i *)(a + j));
		__m256i b0 = _mm256_loadu_si256((const __m256i *)(b + j));
		__m256i a1 = _mm256_loadu_si256((const __m256i *)(a + j + 32));
		__m256i b1 = _mm256_loadu_si256((const __m256i *)(b + j + 32));
		__m256i d0 = _mm256_or_si256(_mm256_subs_epu8(a0, b0), _mm256_subs_epu8(b0, a0));
		__m256i d1 = _mm256_or_si256(_mm256_subs_epu8(a1, b1), _mm256_subs_epu8(b1, a1));
		s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(_mm256_maddubs_epi16(d0, d0), one));
		s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(_mm256_maddubs_epi16(d1, d1), one));
	}
	return hsum8(_mm256_add_epi32(s0, s1));
}

static inline int32_t code_ip(const uint8_t *q, const uint8_t *c, size_t stride)
{
	/* vpmaddubsw(c unsigned, q signed): pairs of 127 x 127 fit 16 bits */
	const __m256i one = _mm256_set1_epi16(1);
	__m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();
	for (size_t j = 0; j < stride; j += 64) {
		__m256i q0 = _mm256_loadu_si256((const __m256i *)(q + j));
		__m256i c0 = _mm256_loadu_si256((const __m256i *)(c + j));
		__m256i q1 = _mm256_loadu_si256((const __m256i *)(q + j + 32));
		__m256i c1 = _mm256_loadu_si256((const __m256i *)(c + j + 32));
		s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(_mm256_maddubs_epi16(c0, q0), one));
		s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(_mm256_maddubs_epi16(c1, q1), one));
	}
	return hsum8(_mm256_add_epi32(s0, s1));
}

int32_t vp_code_l2_avx2(const uint8_t *a, const uint8_t *b, size_t stride)
{
	return code_l2(a, b, stride);
}

#define WALK_NAME vp_hnsw_walk_avx2
#include "vp_hnsw_walk.h"
#endif
