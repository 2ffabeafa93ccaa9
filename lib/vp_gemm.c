/* vp_gemm: vp's dot_block or OpenBLAS's sgemm, measured per dimension. */
#include "vp_gemm.h"

#include <cblas.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "vp_dist.h"
#include "vp_flat.h"
#include "vp_sys.h"

/* OpenBLAS's own thread pool stays at one thread: vp runs its threads
 * itself, each calling sgemm on its own block. */
extern void openblas_set_num_threads(int n);

void vp_gemm_blas(const float *Q, size_t nq, const float *X, size_t nx, size_t d,
		  float *C, size_t ldc)
{
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nq, (int)nx, (int)d, 1.0f, Q,
		    (int)d, X, (int)d, 0.0f, C, (int)ldc);
}

#define CACHE 32
static struct {
	size_t d;
	int blas;
} cache[CACHE];
static int ncache;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

typedef void (*dot_fn)(const float *, size_t, const float *, size_t, size_t, float *, size_t);

/* Nanoseconds per multiply-add of the best of three runs of fn on blocks
 * of nq x nx. */
static double rate(dot_fn fn, const float *q, size_t nq, const float *x, size_t nx, size_t d,
		   float *c)
{
	double best = 1e30;
	for (int r = 0; r < 3; r++) {
		uint64_t t0 = vp_now_nsec();
		fn(q, nq, x, nx, d, c, nx);
		double t = (double)(vp_now_nsec() - t0);
		if (t < best)
			best = t;
	}
	return best / ((double)nq * (double)nx * (double)d);
}

static int measure(size_t d)
{
	const char *force = getenv("VP_GEMM");
	float *q, *x, *c;
	int blas = 0;
	if (force && !strcmp(force, "blas"))
		return 1;
	if ((force && !strcmp(force, "vp")) || getenv("VP_SIMD"))
		return 0;
	/* a sample of the work, each side on the blocks it would use; the
	 * base block is fresh for each (exact search streams the base) */
	q = malloc(VP_GEMM_QBLOCK * d * sizeof *q);
	x = malloc(VP_GEMM_XBLOCK * d * sizeof *x);
	c = malloc(VP_GEMM_QBLOCK * VP_GEMM_XBLOCK * sizeof *c);
	if (q && x && c) {
		double tv, tb;
		for (size_t i = 0; i < VP_GEMM_QBLOCK * d; i++)
			q[i] = (float)((i * 2654435761u) % 1000) / 1000.0f;
		for (size_t i = 0; i < VP_GEMM_XBLOCK * d; i++)
			x[i] = (float)((i * 40503u) % 1000) / 1000.0f;
		/* first calls warm caches and OpenBLAS's buffers */
		rate(vp_kernels()->dot_block, q, VP_FLAT_QBLOCK, x, VP_FLAT_XBLOCK, d, c);
		rate(vp_gemm_blas, q, VP_GEMM_QBLOCK / 4, x, VP_GEMM_XBLOCK / 4, d, c);
		tv = rate(vp_kernels()->dot_block, q, VP_FLAT_QBLOCK, x, VP_FLAT_XBLOCK, d, c);
		tb = rate(vp_gemm_blas, q, VP_GEMM_QBLOCK / 4, x, VP_GEMM_XBLOCK, d, c);
		/* OpenBLAS must be clearly faster: ties go to vp's own kernel */
		blas = tb < 0.9 * tv;
	}
	free(q);
	free(x);
	free(c);
	return blas;
}

static int choice(size_t d)
{
	static int init;
	int blas = -1;
	pthread_mutex_lock(&lock);
	if (!init) {
		openblas_set_num_threads(1);
		init = 1;
	}
	for (int i = 0; i < ncache; i++)
		if (cache[i].d == d)
			blas = cache[i].blas;
	if (blas < 0) {
		blas = measure(d);
		if (ncache < CACHE) {
			cache[ncache].d = d;
			cache[ncache].blas = blas;
			ncache++;
		}
	}
	pthread_mutex_unlock(&lock);
	return blas;
}

int vp_gemm_use_blas(size_t d)
{
	return choice(d);
}

const char *vp_gemm_name(size_t d)
{
	return choice(d) ? "openblas" : "vp";
}
