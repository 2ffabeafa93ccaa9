/*
 * vp_hnsw_walk_avx512: the coded walk with AVX-512 VNNI kernels (compiled
 * with -mavx512bw -mavx512vnni, called only when the CPU has them).  64
 * dimensions a step: |a - b| from two saturating subtractions, then
 * vpdpbusd multiplies it (as unsigned) by itself (as signed: it is at most
 * 127) and adds groups of four into 32-bit lanes.  Integer sums: the same
 * results as the portable walk, bit for bit.
 */
#if defined(__x86_64__) && defined(VP_HAVE_X86_KERNELS)
#include <immintrin.h>

#include "vp_hnsw_int.h"

static inline int32_t code_l2(const uint8_t *a, const uint8_t *b, size_t stride)
{
	__m512i s0 = _mm512_setzero_si512(), s1 = _mm512_setzero_si512();
	size_t j = 0;
	for (; j + 128 <= stride; j += 128) {
		__m512i a0 = _mm512_loadu_si512(a + j), b0 = _mm512_loadu_si512(b + j);
		__m512i a1 = _mm512_loadu_si512(a + j + 64), b1 = _mm512_loadu_si512(b + j + 64);
		__m512i d0 = _mm512_or_si512(_mm512_subs_epu8(a0, b0), _mm512_subs_epu8(b0, a0));
		__m512i d1 = _mm512_or_si512(_mm512_subs_epu8(a1, b1), _mm512_subs_epu8(b1, a1));
		s0 = _mm512_dpbusd_epi32(s0, d0, d0);
		s1 = _mm512_dpbusd_epi32(s1, d1, d1);
	}
	if (j < stride) {
		__m512i a0 = _mm512_loadu_si512(a + j), b0 = _mm512_loadu_si512(b + j);
		__m512i d0 = _mm512_or_si512(_mm512_subs_epu8(a0, b0), _mm512_subs_epu8(b0, a0));
		s0 = _mm512_dpbusd_epi32(s0, d0, d0);
	}
	return _mm512_reduce_add_epi32(_mm512_add_epi32(s0, s1));
}

static inline int32_t code_ip(const uint8_t *q, const uint8_t *c, size_t stride)
{
	__m512i s0 = _mm512_setzero_si512(), s1 = _mm512_setzero_si512();
	size_t j = 0;
	for (; j + 128 <= stride; j += 128) {
		s0 = _mm512_dpbusd_epi32(s0, _mm512_loadu_si512(c + j), _mm512_loadu_si512(q + j));
		s1 = _mm512_dpbusd_epi32(s1, _mm512_loadu_si512(c + j + 64),
					 _mm512_loadu_si512(q + j + 64));
	}
	if (j < stride)
		s0 = _mm512_dpbusd_epi32(s0, _mm512_loadu_si512(c + j), _mm512_loadu_si512(q + j));
	return _mm512_reduce_add_epi32(_mm512_add_epi32(s0, s1));
}

int32_t vp_code_l2_vnni(const uint8_t *a, const uint8_t *b, size_t stride)
{
	return code_l2(a, b, stride);
}

#define WALK_NAME vp_hnsw_walk_vnni
#include "vp_hnsw_walk.h"
#endif
