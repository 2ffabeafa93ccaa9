/* test_flat: exact search against a brute-force reference, every path
 * (query-parallel, base-parallel, lone query, k > n) and every metric. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "vp.h"

/* Brute force in double precision, ties by id: the answer FLAT must give. */
static void brute(const float *x, size_t n, const float *q, size_t d, int metric,
		  size_t k, int64_t *ids, float *dist)
{
	struct vp_topk h;
	vp_topk_init(&h, k);
	for (size_t j = 0; j < n; j++) {
		double s = 0;
		for (size_t t = 0; t < d; t++) {
			if (metric == VP_METRIC_L2)
				s += ((double)q[t] - x[j * d + t]) * ((double)q[t] - x[j * d + t]);
			else
				s -= (double)q[t] * x[j * d + t];
		}
		if (metric == VP_METRIC_COSINE)
			s += 1;
		vp_topk_push(&h, (float)s, (int64_t)j);
	}
	size_t got = vp_topk_extract(&h, dist, ids);
	for (size_t r = got; r < k; r++)
		ids[r] = -1;
	vp_topk_release(&h);
}

static void run(int metric, int integer, size_t n, size_t nq, size_t d, size_t k,
		int threads, const char *what)
{
	struct vp_gen g = { (uint32_t)d, 8, 0.3f, integer, 11 };
	float *x = malloc(n * d * sizeof *x), *q = malloc(nq * d * sizeof *q);
	float *norms = malloc(n * sizeof *norms), *dist = malloc(nq * k * sizeof *dist);
	float *bd = malloc(k * sizeof *bd);
	int64_t *ids = malloc(nq * k * sizeof *ids), *bi = malloc(k * sizeof *bi);
	struct vp_error err = { 0 };
	struct vp_flat f;
	struct vp_flat_pool pool = { 0 };
	int exact = 1, close = 1;

	vp_gen_rows(&g, 0, n, x);
	vp_gen_rows(&g, n, nq, q);
	if (metric == VP_METRIC_COSINE) {
		for (size_t i = 0; i < n; i++)
			vp_normalize(x + i * d, d);
		for (size_t i = 0; i < nq; i++)
			vp_normalize(q + i * d, d);
	}
	vp_sqnorms(x, n, d, norms);
	f = (struct vp_flat){ x, norms, n, d, metric, 0, NULL };
	CHECK(vp_flat_search(&f, &pool, q, nq, k, threads, dist, ids, &err) == 0, "%s: search", what);
	/* again through the warm pool: the same answer */
	float *dist2 = malloc(nq * k * sizeof *dist2);
	int64_t *ids2 = malloc(nq * k * sizeof *ids2);
	CHECK(vp_flat_search(&f, &pool, q, nq, k, threads, dist2, ids2, &err) == 0 &&
	      !memcmp(ids, ids2, nq * k * sizeof *ids), "%s: warm pool gives the same ids", what);
	free(dist2);
	free(ids2);
	vp_flat_pool_release(&pool);
	for (size_t i = 0; i < nq; i++) {
		brute(x, n, q + i * d, d, metric, k, bi, bd);
		if (integer) {
			exact &= !memcmp(bi, ids + i * k, k * sizeof *bi);
			for (size_t r = 0; r < k && bi[r] >= 0; r++)
				exact &= dist[i * k + r] == bd[r];
		} else {
			/* float rounding may swap near-ties: compare distances */
			for (size_t r = 0; r < k && bi[r] >= 0; r++)
				close &= fabsf(dist[i * k + r] - bd[r]) <= 1e-3f * (1 + fabsf(bd[r]));
		}
		for (size_t r = n; r < k; r++)
			exact &= ids[i * k + r] == -1 && isinf(dist[i * k + r]);
	}
	CHECK(exact, "%s: ids and distances identical to brute force", what);
	CHECK(close, "%s: distances within tolerance of brute force", what);
	free(x); free(q); free(norms); free(dist); free(bd); free(ids); free(bi);
}

int main(void)
{
	/* integer data: every distance exact, so ids must match exactly */
	run(VP_METRIC_L2, 1, 1000, 300, 24, 10, 1, "l2 integer 1 thread");
	run(VP_METRIC_L2, 1, 1000, 300, 24, 10, 2, "l2 integer query-parallel");
	run(VP_METRIC_L2, 1, 1000, 5, 24, 10, 2, "l2 integer base-parallel");
	run(VP_METRIC_L2, 1, 1000, 1, 33, 7, 1, "l2 integer lone query");
	run(VP_METRIC_L2, 1, 13, 4, 5, 20, 2, "k larger than n");
	run(VP_METRIC_IP, 1, 500, 130, 17, 10, 2, "ip integer");
	/* real-valued data: distances within tolerance */
	run(VP_METRIC_L2, 0, 2000, 257, 100, 10, 2, "l2 float");
	run(VP_METRIC_COSINE, 0, 700, 40, 64, 10, 1, "cosine float");
	/* (VP_SIMD=portable is checked end to end in tests/200-search.bats:
	 * the dispatch is fixed at first use, so it needs a fresh process) */
	return check_done("test_flat");
}
