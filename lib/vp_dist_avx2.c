/*
 * vp_dist_avx2: AVX2+FMA kernels (compiled with -mavx2 -mfma, called only
 * when the CPU has them).  dot_block uses a 3x4 register tile: 12 ymm
 * accumulators, 3 query registers and one base register, the 16 ymm
 * registers AVX2 has.
 */
#if defined(__x86_64__) && defined(VP_HAVE_X86_KERNELS)
#include <immintrin.h>

#include "vp_dist.h"

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

static void dot_block_avx2(const float *Q, size_t nq, const float *X,
			   size_t nx, size_t d, float *C, size_t ldc)
{
	size_t j = 0;
	for (; j + TX <= nx; j += TX) {
		size_t i = 0;
		for (; i + TQ <= nq; i += TQ)
			tile3x4(Q + i * d, X + j * d, d, C + i * ldc + j, ldc);
		for (; i < nq; i++)
			for (int t = 0; t < TX; t++)
				C[i * ldc + j + t] = dot_avx2(Q + i * d, X + (j + t) * d, d);
	}
	for (; j < nx; j++)
		for (size_t i = 0; i < nq; i++)
			C[i * ldc + j] = dot_avx2(Q + i * d, X + j * d, d);
}

const struct vp_kernels vp_kernels_avx2 = {
	"avx2", VP_SIMD_AVX2, l2_avx2, dot_avx2, dot_block_avx2,
	vp_sq8_l2_portable, vp_sq8_dot_portable,
};
#endif
