/*
 * vp_gemm: the inner-product block of exact search, C = Q X^T, by whichever
 * of two implementations measures faster on this machine at this
 * dimension: vp's register-tiled kernel (vp_kernels()->dot_block) or
 * OpenBLAS's sgemm on one thread.  Neither wins everywhere: on a 2-core
 * Intel Xeon with AVX-512, OpenBLAS's SkylakeX kernel ran Fashion-MNIST's
 * exact search 1.2x faster on one thread; on an AMD Zen 4, vp's ran level
 * with it.  So the choice is measured once per dimension, at first use,
 * on a block of the size exact search uses.
 *
 * VP_GEMM=vp or VP_GEMM=blas forces one; VP_SIMD (any value) forces vp's,
 * so that a capped SIMD level means what it says.
 */
#ifndef VP_GEMM_H
#define VP_GEMM_H

#include <stddef.h>

/* Blocks of the OpenBLAS path: queries x base rows.  sgemm packs each base
 * block before it multiplies, so a block of many queries pays for that
 * once where vp's 128-query blocks would pay eight times. */
#define VP_GEMM_QBLOCK 1024
#define VP_GEMM_XBLOCK 1024

/* 1 when OpenBLAS's sgemm on VP_GEMM_QBLOCK x VP_GEMM_XBLOCK blocks beats
 * vp's kernel on its own blocks at dimension d (measured the first time;
 * call outside parallel regions). */
int vp_gemm_use_blas(size_t d);

/* C[i*ldc + j] = <Q[i], X[j]> by OpenBLAS (one thread). */
void vp_gemm_blas(const float *Q, size_t nq, const float *X, size_t nx, size_t d,
		  float *C, size_t ldc);

/* "vp" or "openblas": what exact search uses at dimension d. */
const char *vp_gemm_name(size_t d);

#endif
