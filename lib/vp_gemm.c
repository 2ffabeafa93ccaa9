/* vp_gemm: vp's dot_block or OpenBLAS's sgemm, measured per dimension.
 *
 * OpenBLAS is loaded with dlopen at the first exact search, not linked:
 * its pthread build starts a pool of one thread per core when it loads,
 * in every program, and under a low RLIMIT_AS that pool's allocation
 * spins for ever and exit() waits on it.  Loaded late, with
 * OPENBLAS_NUM_THREADS=1 set first (vp runs its own threads, each calling
 * sgemm on its own block), no pool is started; and a machine without
 * OpenBLAS (Debian libopenblas0) simply keeps vp's kernel. */
#include "vp_gemm.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "vp_dist.h"
#include "vp_flat.h"
#include "vp_sys.h"

/* cblas_sgemm's signature, with CBLAS's enum values (RowMajor 101,
 * NoTrans 111, Trans 112) */
typedef void (*sgemm_fn)(int order, int ta, int tb, int m, int n, int k, float alpha,
			 const float *a, int lda, const float *b, int ldb, float beta,
			 float *c, int ldc);
static sgemm_fn sgemm;

void vp_gemm_blas(const float *Q, size_t nq, const float *X, size_t nx, size_t d,
		  float *C, size_t ldc)
{
	sgemm(101, 111, 112, (int)nq, (int)nx, (int)d, 1.0f, Q, (int)d, X, (int)d, 0.0f, C,
	      (int)ldc);
}

/* Loads OpenBLAS; 0 when it is not installed. */
static int load_blas(void)
{
	static const char *const names[] = { "libopenblas.so.0", "libopenblas.so" };
	void (*set_threads)(int);
	void *h = NULL;
	struct rlimit as, data;
	if (sgemm)
		return 1;
	/* OpenBLAS takes buffers of 128 MB at its first call and, when the
	 * address space is limited and they do not fit, retries for ever:
	 * under any RLIMIT_AS or RLIMIT_DATA, vp's kernel it is */
	if ((!getrlimit(RLIMIT_AS, &as) && as.rlim_cur != RLIM_INFINITY) ||
	    (!getrlimit(RLIMIT_DATA, &data) && data.rlim_cur != RLIM_INFINITY))
		return 0;
	setenv("OPENBLAS_NUM_THREADS", "1", 1);
	for (size_t i = 0; i < sizeof names / sizeof *names && !h; i++)
		h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
	if (!h)
		return 0;
	*(void **)&set_threads = dlsym(h, "openblas_set_num_threads");
	*(void **)&sgemm = dlsym(h, "cblas_sgemm");
	if (!sgemm)
		return 0;
	if (set_threads)
		set_threads(1);
	return 1;
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
	if ((force && !strcmp(force, "vp")) || getenv("VP_SIMD") || !load_blas())
		return 0;
	if (force && !strcmp(force, "blas"))
		return 1;
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
	int blas = -1;
	pthread_mutex_lock(&lock);
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
