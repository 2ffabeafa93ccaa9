/*
 * vp_dist: the portable kernels and the start-up dispatch.
 *
 * The portable loops keep 8 independent partial sums so that the compiler
 * can vectorise them without -ffast-math (auto-vectorized with SSE2 at -O3)
 * and so the FP reduction order is fixed whatever the compiler does.
 */
#include "vp_dist.h"
#include "vp_pq4.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static float l2_portable(const float *a, const float *b, size_t d)
{
	float s[8] = { 0 };
	size_t i = 0;
	for (; i + 8 <= d; i += 8)
		for (int j = 0; j < 8; j++) {
			float t = a[i + j] - b[i + j];
			s[j] += t * t;
		}
	for (; i < d; i++) {
		float t = a[i] - b[i];
		s[0] += t * t;
	}
	return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

static float dot_portable(const float *a, const float *b, size_t d)
{
	float s[8] = { 0 };
	size_t i = 0;
	for (; i + 8 <= d; i += 8)
		for (int j = 0; j < 8; j++)
			s[j] += a[i + j] * b[i + j];
	for (; i < d; i++)
		s[0] += a[i] * b[i];
	return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

static void dot_block_portable(const float *Q, size_t nq, const float *X,
			       size_t nx, size_t d, float *C, size_t ldc)
{
	/* base row outer: it stays in L1 while the (few) queries stream */
	for (size_t j = 0; j < nx; j++)
		for (size_t i = 0; i < nq; i++)
			C[i * ldc + j] = dot_portable(Q + i * d, X + j * d, d);
}

float vp_sq8_l2_portable(const float *qs, const uint8_t *c, const float *w,
			 size_t d)
{
	float s[8] = { 0 };
	size_t i = 0;
	for (; i + 8 <= d; i += 8)
		for (int j = 0; j < 8; j++) {
			float t = qs[i + j] - (float)c[i + j];
			s[j] += w[i + j] * t * t;
		}
	for (; i < d; i++) {
		float t = qs[i] - (float)c[i];
		s[0] += w[i] * t * t;
	}
	return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

float vp_sq8_dot_portable(const float *qw, const uint8_t *c, size_t d)
{
	float s[8] = { 0 };
	size_t i = 0;
	for (; i + 8 <= d; i += 8)
		for (int j = 0; j < 8; j++)
			s[j] += qw[i + j] * (float)c[i + j];
	for (; i < d; i++)
		s[0] += qw[i] * (float)c[i];
	return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

int64_t vp_sq8_idot_portable(const int16_t *qi, const uint8_t *c, size_t d)
{
	int64_t s = 0;
	for (size_t i = 0; i < d; i++)
		s += (int32_t)qi[i] * (int32_t)c[i];
	return s;
}

int vp_sq8_qmax(size_t d)
{
	/* products a 32-bit lane sums: AVX2 2 floor(d/32) + 2, AVX-512
	 * 2 floor(d/64) + 4 (the portable kernel sums in 64 bits) */
	int64_t lane = (int64_t)((d + 15) / 16) + 4, q = INT32_MAX / (255 * lane);
	return q > 32767 ? 32767 : q < 1 ? 1 : (int)q;
}

/* axpy passes over the transposed codebook, each term rounded after the
 * multiply as the SIMD kernels do it: never contracted to a fused
 * multiply-add, even in a build for a CPU that has one */
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("fp-contract=off")))
#endif
void vp_pq_qtable_portable(const float *cbt, const float *q, size_t m, size_t dsub,
			   size_t ks, float f, float *out)
{
#ifdef __clang__
#pragma clang fp contract(off)
#endif
	for (size_t sq = 0; sq < m; sq++) {
		float *t = out + sq * ks;
		for (size_t j = 0; j < ks; j++)
			t[j] = 0;
		for (size_t u = 0; u < dsub; u++) {
			const float *col = cbt + (sq * dsub + u) * ks;
			float ru = f * q[sq * dsub + u];
			for (size_t j = 0; j < ks; j++)
				t[j] += ru * col[j];
		}
	}
}

const struct vp_kernels vp_kernels_portable = {
	"portable", VP_SIMD_PORTABLE, l2_portable, dot_portable,
	dot_block_portable, vp_sq8_l2_portable, vp_sq8_dot_portable, vp_sq8_idot_portable,
	vp_pq4_scan_portable, vp_pq4_quant_portable, vp_pq_qtable_portable,
};

enum vp_simd vp_simd_cpu_level(void)
{
#if defined(__x86_64__) && defined(VP_HAVE_X86_KERNELS)
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx512f") &&
	    __builtin_cpu_supports("avx512dq") &&
	    __builtin_cpu_supports("avx512bw") &&
	    __builtin_cpu_supports("avx512vl"))
		return VP_SIMD_AVX512;
	if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
		return VP_SIMD_AVX2;
#endif
	return VP_SIMD_PORTABLE;
}

const struct vp_kernels *vp_kernels_at(enum vp_simd level)
{
	if (level > vp_simd_cpu_level())
		return NULL;
	switch (level) {
#if defined(__x86_64__) && defined(VP_HAVE_X86_KERNELS)
	case VP_SIMD_AVX512:
		return &vp_kernels_avx512;
	case VP_SIMD_AVX2:
		return &vp_kernels_avx2;
#endif
	default:
		return &vp_kernels_portable;
	}
}

static const struct vp_kernels *choose(void)
{
	enum vp_simd lvl = vp_simd_cpu_level();
	const char *env = getenv("VP_SIMD");
	if (env && *env) {
		enum vp_simd cap = lvl;
		if (!strcmp(env, "portable") || !strcmp(env, "sse2"))
			cap = VP_SIMD_PORTABLE;
		else if (!strcmp(env, "avx2"))
			cap = VP_SIMD_AVX2;
		if (cap < lvl)
			lvl = cap;
	}
	return vp_kernels_at(lvl);
}

const struct vp_kernels *vp_kernels(void)
{
	/* Benign race: every thread computes the same answer. */
	static const struct vp_kernels *k;
	const struct vp_kernels *p = __atomic_load_n(&k, __ATOMIC_ACQUIRE);
	if (!p) {
		p = choose();
		__atomic_store_n(&k, p, __ATOMIC_RELEASE);
	}
	return p;
}

static const char *const metric_names[] = { "l2", "ip", "cosine" };

int vp_metric_parse(const char *s)
{
	for (int i = 0; i < 3; i++)
		if (s && !strcmp(s, metric_names[i]))
			return i;
	return -1;
}

const char *vp_metric_name(int metric)
{
	return (metric >= 0 && metric < 3) ? metric_names[metric] : "unknown";
}

float vp_distance(int metric, const float *a, const float *b, size_t d)
{
	const struct vp_kernels *k = vp_kernels();
	switch (metric) {
	case VP_METRIC_L2:
		return k->l2(a, b, d);
	case VP_METRIC_IP:
		return -k->dot(a, b, d);
	default:
		return 1.0f - k->dot(a, b, d);
	}
}

void vp_sqnorms(const float *X, size_t n, size_t d, float *out)
{
	const struct vp_kernels *k = vp_kernels();
	for (size_t i = 0; i < n; i++)
		out[i] = k->dot(X + i * d, X + i * d, d);
}

float vp_normalize(float *x, size_t d)
{
	double s = 0;
	for (size_t i = 0; i < d; i++)
		s += (double)x[i] * x[i];
	s = sqrt(s);
	if (s > 0)
		for (size_t i = 0; i < d; i++)
			x[i] = (float)(x[i] / s);
	return (float)s;
}
