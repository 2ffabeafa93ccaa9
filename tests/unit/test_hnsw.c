/* test_hnsw: recall against exact search, determinism, validation. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "vp.h"

static double recall_vs_flat(const float *x, size_t n, const float *q, size_t nq,
			     size_t d, int metric, const struct vp_hnsw_graph *g,
			     size_t k, size_t ef)
{
	struct vp_flat f;
	struct vp_flat_pool fp = { 0 };
	struct vp_hnsw h = { 0 };
	struct vp_hnsw_pool hp = { 0 };
	struct vp_error err = { 0 };
	float *norms = malloc(n * sizeof *norms), *d1 = malloc(nq * k * 4), *d2 = malloc(nq * k * 4);
	int64_t *i1 = malloc(nq * k * 8), *i2 = malloc(nq * k * 8);
	int32_t *gt = malloc(nq * k * 4);
	double r;

	vp_sqnorms(x, n, d, norms);
	f = (struct vp_flat){ x, norms, n, d, metric, 0, NULL };
	vp_flat_search(&f, &fp, q, nq, k, 1, d1, i1, &err);
	for (size_t i = 0; i < nq * k; i++)
		gt[i] = (int32_t)i1[i];
	h.x = x; h.n = n; h.d = d; h.metric = metric;
	h.M = g->M; h.M0 = g->M0; h.entry = g->entry; h.maxlevel = g->maxlevel;
	h.levels = g->levels; h.l0 = g->l0; h.upoff = g->upoff; h.upper = g->upper;
	h.nblocks = g->nblocks;
	CHECK(vp_hnsw_search(&h, &hp, q, nq, k, ef, 0, 2, NULL, d2, i2, &err) == 0, "hnsw search");
	r = vp_recall(i2, nq, k, gt, k);
	vp_flat_pool_release(&fp);
	vp_hnsw_pool_release(&hp);
	free(norms); free(d1); free(d2); free(i1); free(i2); free(gt);
	return r;
}

int main(void)
{
	size_t n = 3000, nq = 100, d = 24;
	struct vp_gen gen = { (uint32_t)d, 20, 0.3f, 0, 5 };
	float *x = malloc(n * d * 4), *q = malloc(nq * d * 4);
	struct vp_hnsw_graph g1, g2;
	struct vp_error err = { 0 };
	double r;

	vp_gen_rows(&gen, 0, n, x);
	vp_gen_rows(&gen, n, nq, q);
	CHECK(vp_hnsw_build(x, n, d, VP_METRIC_L2, 8, 64, 2, 1, NULL, 0, NULL, NULL, &g1, &err) == 0, "build");
	r = recall_vs_flat(x, n, q, nq, d, VP_METRIC_L2, &g1, 10, 64);
	CHECK(r >= 0.95, "l2 recall@10 at ef=64: %.4f", r);
	r = recall_vs_flat(x, n, q, nq, d, VP_METRIC_L2, &g1, 10, 10);
	CHECK(r >= 0.80, "l2 recall@10 at ef=10: %.4f", r);
	/* every level-0 node is linked, degrees within bounds */
	{
		int ok = 1;
		for (size_t i = 0; i < n; i++) {
			uint32_t c = g1.l0[i * (1 + g1.M0)];
			ok &= c >= 1 && c <= g1.M0;
		}
		CHECK(ok, "level-0 degrees in 1..M0");
		CHECK(g1.levels[g1.entry] == g1.maxlevel, "entry point on the top level");
	}
	vp_hnsw_graph_release(&g1);

	/* one thread: the same graph twice; another seed: another graph */
	CHECK(vp_hnsw_build(x, n, d, VP_METRIC_L2, 8, 40, 1, 7, NULL, 0, NULL, NULL, &g1, &err) == 0 &&
	      vp_hnsw_build(x, n, d, VP_METRIC_L2, 8, 40, 1, 7, NULL, 0, NULL, NULL, &g2, &err) == 0, "two builds");
	CHECK(g1.entry == g2.entry && !memcmp(g1.l0, g2.l0, n * (1 + g1.M0) * 4) &&
	      g1.nblocks == g2.nblocks && !memcmp(g1.upper, g2.upper, g1.nblocks * (1 + g1.M) * 4),
	      "deterministic with one thread and a seed");
	vp_hnsw_graph_release(&g2);
	CHECK(vp_hnsw_build(x, n, d, VP_METRIC_L2, 8, 40, 1, 8, NULL, 0, NULL, NULL, &g2, &err) == 0 &&
	      memcmp(g1.l0, g2.l0, n * (1 + g1.M0) * 4), "another seed, another graph");
	vp_hnsw_graph_release(&g1);
	vp_hnsw_graph_release(&g2);

	/* inner product on normalised data (cosine) */
	for (size_t i = 0; i < n; i++)
		vp_normalize(x + i * d, d);
	for (size_t i = 0; i < nq; i++)
		vp_normalize(q + i * d, d);
	CHECK(vp_hnsw_build(x, n, d, VP_METRIC_COSINE, 12, 80, 2, 1, NULL, 0, NULL, NULL, &g1, &err) == 0, "cosine build");
	r = recall_vs_flat(x, n, q, nq, d, VP_METRIC_COSINE, &g1, 10, 64);
	CHECK(r >= 0.95, "cosine recall@10 at ef=64: %.4f", r);
	vp_hnsw_graph_release(&g1);

	/* a single vector */
	CHECK(vp_hnsw_build(x, 1, d, VP_METRIC_L2, 8, 40, 2, 1, NULL, 0, NULL, NULL, &g1, &err) == 0 &&
	      g1.l0[0] == 0, "one-vector graph");
	vp_hnsw_graph_release(&g1);
	free(x);
	free(q);
	return check_done("test_hnsw");
}
