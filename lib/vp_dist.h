/*
 * vp_dist: distance kernels, chosen once at start-up.
 *
 * Three implementations of the same functions: portable C written so that
 * the compiler vectorises it, AVX2+FMA, and AVX-512.  vp_kernels() picks the
 * best the CPU supports (__builtin_cpu_supports); the environment variable
 * VP_SIMD=portable|avx2|avx512 caps the choice, so the portable path can be
 * forced on any machine.  Tests check that every variant agrees with the
 * portable one.
 *
 * Distances are "smaller is closer": l2 is the squared Euclidean distance,
 * ip is the negated inner product, cosine is 1 - cos(a, b) (vectors are
 * normalised once, so cosine search runs as inner product).
 */
#ifndef VP_DIST_H
#define VP_DIST_H

#include <stddef.h>
#include <stdint.h>

enum vp_metric { VP_METRIC_L2 = 0, VP_METRIC_IP = 1, VP_METRIC_COSINE = 2 };

enum vp_simd { VP_SIMD_PORTABLE = 0, VP_SIMD_AVX2 = 1, VP_SIMD_AVX512 = 2 };

struct vp_kernels {
	const char *name;   /* "portable", "avx2", "avx512" */
	enum vp_simd level;
	/* squared L2 distance of two d-vectors */
	float (*l2)(const float *a, const float *b, size_t d);
	/* inner product of two d-vectors */
	float (*dot)(const float *a, const float *b, size_t d);
	/* C[i*ldc + j] = <Q[i], X[j]> for i < nq, j < nx; rows are d floats
	 * apart.  The blocked core of exact search (the GEMM formulation). */
	void (*dot_block)(const float *Q, size_t nq, const float *X, size_t nx,
			  size_t d, float *C, size_t ldc);
	/* 8-bit scalar-quantized codes c against a prepared query:
	 * sq8_l2 = sum w[j] * (qs[j] - c[j])^2, sq8_dot = sum qw[j] * c[j] */
	float (*sq8_l2)(const float *qs, const uint8_t *c, const float *w,
			size_t d);
	float (*sq8_dot)(const float *qw, const uint8_t *c, size_t d);
	/* the same codes against a query quantized to 16 bits: the exact
	 * integer sum of qi[j] * c[j], with |qi[j]| <= vp_sq8_qmax(d) so that
	 * no 32-bit lane of any level overflows; equal at every level */
	int64_t (*sq8_idot)(const int16_t *qi, const uint8_t *c, size_t d);
	/* 4-bit PQ fast scan (vp_pq4.h): the 16-bit table sums of nb blocks
	 * of 32 entries with m sub-quantizers, 32 per block into out, and per
	 * block a mask of the entries whose sum is at most thr */
	void (*pq4_scan)(const uint8_t *b, size_t nb, size_t m, const uint8_t *q,
			 uint16_t thr, uint16_t *out, uint32_t *below);
	/* its table: a + b (m x 16 floats, b may be NULL) quantized to 8 bits
	 * with offsets lo and scale, identical at every level (vp_pq4.h) */
	void (*pq4_quant)(const float *a, const float *b, const float *lo, size_t m,
			  float scale, uint8_t *q);
	/* a query's PQ table: out[s][j] = sum over u < dsub of (f q[s dsub + u])
	 * x cbt[(s dsub + u) ks + j], for m sub-quantizers of ks entries (a
	 * multiple of 16), multiplied and added apart (no fused multiply-add)
	 * so that every level gives the same floats */
	void (*pq_qtable)(const float *cbt, const float *q, size_t m, size_t dsub, size_t ks,
			  float f, float *out);
};

/* The portable PQ query table (vp_kernels.pq_qtable). */
void vp_pq_qtable_portable(const float *cbt, const float *q, size_t m, size_t dsub,
			   size_t ks, float f, float *out);

/* The portable SQ8 kernels. */
float vp_sq8_l2_portable(const float *qs, const uint8_t *c, const float *w,
			 size_t d);
float vp_sq8_dot_portable(const float *qw, const uint8_t *c, size_t d);
int64_t vp_sq8_idot_portable(const int16_t *qi, const uint8_t *c, size_t d);

/* The largest |qi[j]| sq8_idot takes for dimension d: 32767, less from
 * d = 4049 on (a 32-bit lane of the SIMD kernels sums at most ceil(d/16)
 * + 4 products of at most 255 qmax, which must stay under 2^31). */
int vp_sq8_qmax(size_t d);

/* Returns the kernels in use: the best the CPU has, capped by VP_SIMD. */
const struct vp_kernels *vp_kernels(void);

/* Returns the kernels of one level, or NULL when this CPU (or this build)
 * lacks it.  For tests and vp-diag. */
const struct vp_kernels *vp_kernels_at(enum vp_simd level);

/* Returns the best level the CPU supports, ignoring VP_SIMD. */
enum vp_simd vp_simd_cpu_level(void);

/* Parses "l2", "ip", "cosine"; returns the metric or -1. */
int vp_metric_parse(const char *s);
const char *vp_metric_name(int metric);

/* The metric's distance between a and b with the kernels in use (for
 * cosine, a and b must already be normalised). */
float vp_distance(int metric, const float *a, const float *b, size_t d);

/* out[i] = squared norm of row i of X (n rows of d). */
void vp_sqnorms(const float *X, size_t n, size_t d, float *out);

/* Scales x to unit length; a zero vector is left as it is.  Returns the
 * original norm. */
float vp_normalize(float *x, size_t d);

/* Internal: per-level tables, defined in vp_dist_*.c. */
extern const struct vp_kernels vp_kernels_portable;
extern const struct vp_kernels vp_kernels_avx2;
extern const struct vp_kernels vp_kernels_avx512;

#endif
