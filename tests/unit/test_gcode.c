/* test_gcode: the graph's 8-bit traversal codes, their kernels at every
 * SIMD level, the coded walk (same ids at every level), the build on codes
 * and the re-ranked search's recall. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "vp.h"
#include "vp_hnsw_int.h"

static uint32_t rnd(uint64_t *s)
{
	*s = *s * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(*s >> 33);
}

/* exact top-k ids by brute force (squared L2 or -ip), ties by id */
static void exact(const float *x, size_t n, const float *q, size_t d, int metric,
		  size_t k, int64_t *out)
{
	float *best = malloc(k * sizeof *best);
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		float v = 0;
		for (size_t j = 0; j < d; j++)
			v += metric == VP_METRIC_L2 ? (q[j] - x[i * d + j]) * (q[j] - x[i * d + j])
						    : -q[j] * x[i * d + j];
		if (m == k && v >= best[k - 1])
			continue;
		size_t p = m < k ? m++ : k - 1;
		for (; p > 0 && best[p - 1] > v; p--) {
			best[p] = best[p - 1];
			out[p] = out[p - 1];
		}
		best[p] = v;
		out[p] = (int64_t)i;
	}
	free(best);
}

static double recall(const int64_t *got, const int64_t *want, size_t nq, size_t k)
{
	size_t hit = 0;
	for (size_t i = 0; i < nq; i++)
		for (size_t a = 0; a < k; a++)
			for (size_t b = 0; b < k; b++)
				if (got[i * k + a] == want[i * k + b]) {
					hit++;
					break;
				}
	return (double)hit / (double)(nq * k);
}

struct coded {
	struct vp_hnsw_graph g;
	uint8_t *codes;
	float *lo;
	struct vp_hnsw h;
};

static void coded_build(struct coded *c, const float *x, size_t n, size_t d, int metric,
			int build_on_codes)
{
	struct vp_error err = { 0 };
	size_t stride = vp_gcode_stride(d);
	float scale;
	c->lo = malloc(d * sizeof *c->lo);
	c->codes = malloc(n * stride);
	vp_gcode_train(x, n, d, c->lo, &scale);
	struct vp_gcode gc = { d, stride, scale, c->lo };
	vp_gcode_encode(&gc, x, n, c->codes);
	CHECK(vp_hnsw_build(x, n, d, metric, 8, 64, 2, 1, build_on_codes ? c->codes : NULL,
			    stride, NULL, NULL, &c->g, &err) == 0, "build");
	vp_hnsw_view(&c->h, &c->g, x, d, metric, c->codes, &gc);
}

static void coded_free(struct coded *c)
{
	vp_hnsw_graph_release(&c->g);
	free(c->codes);
	free(c->lo);
}

static void test_codes(void)
{
	size_t n = 50, d = 70, stride = vp_gcode_stride(d);
	float *x = malloc(n * d * 4), lo[70], scale, maxerr = 0;
	uint8_t *c = malloc(n * stride), qc[128];
	uint64_t s = 1;
	int inrange = 1, padded = 1;

	CHECK(stride == 128 && vp_gcode_stride(64) == 64 && vp_gcode_stride(1) == 64 &&
	      vp_gcode_stride(784) == 832, "stride rounds up to 64");
	for (size_t i = 0; i < n * d; i++)
		x[i] = (float)(rnd(&s) % 10000) / 100.0f - 20.0f * (float)(i % d % 3);
	vp_gcode_train(x, n, d, lo, &scale);
	struct vp_gcode g = { d, stride, scale, lo };
	vp_gcode_encode(&g, x, n, c);
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < d; j++) {
			float back = lo[j] + scale * c[i * stride + j];
			float e = fabsf(back - x[i * d + j]);
			maxerr = e > maxerr ? e : maxerr;
			inrange &= c[i * stride + j] <= VP_GCODE_MAX;
		}
		for (size_t j = d; j < stride; j++)
			padded &= c[i * stride + j] == 0;
	}
	CHECK(inrange && padded, "codes in 0..127, padding zero");
	CHECK(maxerr <= scale * 0.5f * 1.001f, "decoding error %g <= scale/2 (%g)", maxerr, scale / 2);
	/* a query far outside the trained range clamps, never wraps */
	float far[70];
	for (size_t j = 0; j < d; j++)
		far[j] = j % 2 ? 1e30f : -1e30f;
	vp_gcode_query(&g, far, 0, qc);
	CHECK(qc[0] == 0 && qc[1] == VP_GCODE_MAX, "clamped query code");
	/* inner product: signed bytes, the largest magnitude at +-127 */
	float q[70];
	for (size_t j = 0; j < d; j++)
		q[j] = (float)j - 35.0f;
	vp_gcode_query(&g, q, 1, qc);
	CHECK((int8_t)qc[0] == -127 && (int8_t)qc[35] == 0 && qc[d] == 0, "ip query code");
	/* constant data: a usable scale */
	float flat[4 * 3] = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 };
	vp_gcode_train(flat, 4, 3, lo, &scale);
	CHECK(scale == 1.0f && lo[0] == 1.0f, "constant data scale %g", scale);
	free(x);
	free(c);
}

static void test_kernels(void)
{
	uint64_t s = 7;
	static const size_t strides[] = { 64, 128, 192, 832 };
	for (size_t t = 0; t < 4; t++) {
		size_t st = strides[t];
		uint8_t *a = aligned_alloc(64, st), *b = aligned_alloc(64, st);
		int same = 1;
		for (int rep = 0; rep < 50; rep++) {
			for (size_t j = 0; j < st; j++) {
				a[j] = rep == 0 ? VP_GCODE_MAX : (uint8_t)(rnd(&s) % 128);
				b[j] = rep == 0 ? 0 : (uint8_t)(rnd(&s) % 128);
			}
			int32_t l2 = vp_code_l2_portable(a, b, st);
			/* the query of an inner product is signed */
			for (size_t j = 0; j < st; j++)
				if (rep % 2)
					a[j] = (uint8_t)(int8_t)((int)(rnd(&s) % 255) - 127);
			int32_t ip = vp_code_ip_portable(a, b, st);
			(void)ip;
			for (int lv = VP_SIMD_AVX2; lv <= VP_SIMD_AVX512; lv++) {
				const struct vp_kernels *k = vp_kernels_at((enum vp_simd)lv);
				if (!k)
					continue;
				vp_code_dist_fn f = vp_code_l2_for(k);
				if (rep % 2 == 0 && f(a, b, st) != l2)
					same = 0;
			}
		}
		CHECK(same, "code l2 equal at every SIMD level, stride %zu", st);
		free(a);
		free(b);
	}
	/* the extreme sum: 127^2 per byte over 832 bytes */
	uint8_t *a = aligned_alloc(64, 832), *b = aligned_alloc(64, 832);
	memset(a, VP_GCODE_MAX, 832);
	memset(b, 0, 832);
	for (int lv = VP_SIMD_PORTABLE; lv <= VP_SIMD_AVX512; lv++) {
		const struct vp_kernels *k = vp_kernels_at((enum vp_simd)lv);
		if (k)
			CHECK(vp_code_l2_for(k)(a, b, 832) == 127 * 127 * 832 &&
			      vp_code_l2_for(k)(b, a, 832) == 127 * 127 * 832,
			      "largest code distance at level %d", lv);
	}
	free(a);
	free(b);
}

/* every walk the CPU has returns the same candidates as the portable one
 * (integer distances), for L2 and inner product, with and without a
 * filter; the search on top returns the same ids on integer data */
static void test_walks(void)
{
	size_t n = 2000, nq = 40, d = 40, k = 10;
	float *x = malloc(n * d * 4), *q = malloc(nq * d * 4);
	uint64_t s = 3;
	for (size_t i = 0; i < n * d; i++)
		x[i] = (float)(rnd(&s) % 64);
	for (size_t i = 0; i < nq * d; i++)
		q[i] = (float)(rnd(&s) % 64);
	for (int metric = VP_METRIC_L2; metric <= VP_METRIC_IP; metric++) {
		struct coded c;
		coded_build(&c, x, n, d, metric, metric == VP_METRIC_L2);
		vp_hnsw_walk_fn walks[3] = { vp_hnsw_walk_portable, NULL, NULL };
		int nw = 1;
#if defined(__x86_64__) && defined(VP_HAVE_X86_KERNELS)
		if (vp_kernels_at(VP_SIMD_AVX2))
			walks[nw++] = vp_hnsw_walk_avx2;
		if (vp_kernels_at(VP_SIMD_AVX512) && __builtin_cpu_supports("avx512vnni"))
			walks[nw++] = vp_hnsw_walk_vnni;
#endif
		struct vp_hnsw_pool hp = { 0 };
		float *dd = malloc(nq * k * 4);
		int64_t *ids = malloc(nq * k * 8);
		struct vp_error err = { 0 };
		/* make the pool's per-thread state through one search */
		CHECK(vp_hnsw_search(&c.h, &hp, q, 1, k, 32, 0, 1, NULL, dd, ids, &err) == 0, "search");
		struct vp_hstate *st = hp.per_thread[0];
		int same = 1, nonempty = 1;
		int32_t labels[2000];
		for (size_t i = 0; i < n; i++)
			labels[i] = (int32_t)(i % 3);
		struct vp_filter f = { 0 };
		CHECK(vp_filter_parse(&f, "label == 1", &err) == 0, "filter");
		struct vp_fctx fc = { .f = &f, .labels = labels };
		for (int filt = 0; filt < 2; filt++)
			for (size_t i = 0; i < nq; i++) {
				uint32_t ref[32], got[32];
				size_t nr, ng;
				vp_gcode_query(&c.h.gc, q + i * d, metric != VP_METRIC_L2, st->qcode);
				nr = walks[0](&c.h, st, st->qcode, 32, 15, filt ? &fc : NULL, NULL, ref, NULL);
				nonempty &= nr == 15;
				for (int w = 1; w < nw; w++) {
					ng = walks[w](&c.h, st, st->qcode, 32, 15, filt ? &fc : NULL, NULL, got, NULL);
					same &= ng == nr && !memcmp(ref, got, nr * 4);
				}
				for (size_t j = 0; filt && j < nr; j++)
					same &= labels[ref[j]] == 1;
			}
		CHECK(nonempty, "walk keeps refine candidates (metric %d)", metric);
		CHECK(same, "%d walks agree, filtered rows only when filtered (metric %d)", nw, metric);
		vp_filter_release(&f);
		/* determinism: the same search twice */
		int64_t *ids2 = malloc(nq * k * 8);
		vp_hnsw_search(&c.h, &hp, q, nq, k, 32, 0, 2, NULL, dd, ids, &err);
		vp_hnsw_search(&c.h, &hp, q, nq, k, 32, 0, 1, NULL, dd, ids2, &err);
		CHECK(!memcmp(ids, ids2, nq * k * 8), "same ids on 1 and 2 threads (metric %d)", metric);
		free(ids2);
		vp_hnsw_pool_release(&hp);
		free(dd);
		free(ids);
		coded_free(&c);
	}
	free(x);
	free(q);
}

/* recall after re-ranking, for each metric, built on codes or floats */
static void test_recall(void)
{
	size_t n = 4000, nq = 100, d = 32, k = 10;
	struct vp_gen gen = { (uint32_t)d, 30, 0.3f, 0, 9 };
	float *x = malloc(n * d * 4), *q = malloc(nq * d * 4), *dd = malloc(nq * k * 4);
	int64_t *ids = malloc(nq * k * 8), *want = malloc(nq * k * 8);
	struct vp_error err = { 0 };
	vp_gen_rows(&gen, 0, n, x);
	vp_gen_rows(&gen, n, nq, q);
	for (int metric = VP_METRIC_L2; metric <= VP_METRIC_COSINE; metric++) {
		float *xm = malloc(n * d * 4), *qm = malloc(nq * d * 4);
		memcpy(xm, x, n * d * 4);
		memcpy(qm, q, nq * d * 4);
		if (metric == VP_METRIC_COSINE) {
			for (size_t i = 0; i < n; i++)
				vp_normalize(xm + i * d, d);
			for (size_t i = 0; i < nq; i++)
				vp_normalize(qm + i * d, d);
		}
		for (size_t i = 0; i < nq; i++)
			exact(xm, n, qm + i * d, d, metric == VP_METRIC_L2 ? VP_METRIC_L2 : VP_METRIC_IP,
			      k, want + i * k);
		for (int oncodes = 0; oncodes < 2; oncodes++) {
			struct coded c;
			struct vp_hnsw_pool hp = { 0 };
			if (oncodes && metric == VP_METRIC_IP)
				continue;
			coded_build(&c, xm, n, d, metric, oncodes);
			CHECK(vp_hnsw_search(&c.h, &hp, qm, nq, k, 64, 0, 2, NULL, dd, ids, &err) == 0,
			      "search");
			double r = recall(ids, want, nq, k);
			CHECK(r >= 0.95, "metric %d, built on %s: recall@10 at ef=64 %.4f", metric,
			      oncodes ? "codes" : "floats", r);
			/* distances are exact after re-ranking, ascending */
			int asc = 1, exactd = 1;
			for (size_t i = 0; i < nq; i++)
				for (size_t j = 0; j < k; j++) {
					float e = vp_distance(metric, qm + i * d, xm + ids[i * k + j] * d, d);
					exactd &= fabsf(e - dd[i * k + j]) <= 1e-4f * (1 + fabsf(e));
					asc &= j == 0 || dd[i * k + j - 1] <= dd[i * k + j];
				}
			CHECK(exactd && asc, "exact distances, ascending (metric %d)", metric);
			/* a selective filter (10%): the walk goes on until it has
			 * k rows that pass, and they are the right ones */
			if (metric == VP_METRIC_L2) {
				struct vp_filter f = { 0 };
				int32_t *lab = malloc(n * sizeof *lab);
				float *xf = malloc(n / 10 * d * 4);
				int64_t *wf = malloc(nq * k * 8);
				int full = 1;
				for (size_t i = 0; i < n; i++) {
					lab[i] = (int32_t)(i % 10);
					if (i % 10 == 0)
						memcpy(xf + i / 10 * d, xm + i * d, d * 4);
				}
				CHECK(vp_filter_parse(&f, "label == 0", &err) == 0, "filter");
				struct vp_fctx fc = { .f = &f, .labels = lab };
				CHECK(vp_hnsw_search(&c.h, &hp, qm, nq, k, 64, 0, 1, &fc, dd, ids, &err) == 0,
				      "filtered search");
				for (size_t i = 0; i < nq; i++) {
					exact(xf, n / 10, qm + i * d, d, VP_METRIC_L2, k, wf + i * k);
					for (size_t j = 0; j < k; j++) {
						wf[i * k + j] *= 10;
						full &= ids[i * k + j] >= 0 && ids[i * k + j] % 10 == 0;
					}
				}
				r = recall(ids, wf, nq, k);
				CHECK(full && r >= 0.9, "10%% filter, built on %s: k passing rows (%d), "
				      "recall %.4f", oncodes ? "codes" : "floats", full, r);
				vp_filter_release(&f);
				free(lab);
				free(xf);
				free(wf);
			}
			vp_hnsw_pool_release(&hp);
			coded_free(&c);
		}
		free(xm);
		free(qm);
	}
	/* refine: automatic max(ratio x k, ef/4), at most ef, at least k; a
	 * given value wins */
	CHECK(vp_hnsw_refine(10, 40, 0, 1.5f) == 15 && vp_hnsw_refine(10, 64, 0, 1.5f) == 16 &&
	      vp_hnsw_refine(10, 200, 0, 1.5f) == 50 && vp_hnsw_refine(10, 12, 0, 1.5f) == 12 &&
	      vp_hnsw_refine(10, 5, 0, 1.5f) == 10 && vp_hnsw_refine(10, 64, 40, 1.5f) == 40 &&
	      vp_hnsw_refine(10, 64, 3, 1.5f) == 10 && vp_hnsw_refine(10, 64, 0, 3.2f) == 32 &&
	      vp_hnsw_refine(10, 20, 0, 3.2f) == 20 && vp_hnsw_refine(10, 64, 0, 0) == 16,
	      "refine");
	free(x); free(q); free(dd); free(ids); free(want);
}

/* breadth-first reordering: rows, codes and links move together, the
 * answers map back through the order, and every row is reachable */
static void test_reorder(void)
{
	size_t n = 3000, nq = 50, d = 64, k = 10, st = vp_gcode_stride(d);
	struct vp_gen gen = { (uint32_t)d, 40, 0.2f, 0, 11 };
	float *x = malloc(n * d * 4), *x0 = malloc(n * d * 4), *q = malloc(nq * d * 4);
	float *dd = malloc(nq * k * 4), *d2 = malloc(nq * k * 4);
	int64_t *ids = malloc(nq * k * 8), *ids2 = malloc(nq * k * 8);
	struct vp_error err = { 0 };
	struct coded c;
	struct vp_hnsw_pool hp = { 0 };
	uint32_t *order = NULL;
	vp_gen_rows(&gen, 0, n, x);
	vp_gen_rows(&gen, n, nq, q);
	memcpy(x0, x, n * d * 4);
	coded_build(&c, x, n, d, VP_METRIC_L2, 1);
	uint8_t *c0 = malloc(n * st);
	memcpy(c0, c.codes, n * st);
	CHECK(vp_hnsw_search(&c.h, &hp, q, nq, k, 64, 0, 1, NULL, dd, ids, &err) == 0, "before");
	vp_hnsw_pool_release(&hp);
	CHECK(vp_hnsw_reorder(&c.g, x, d, c.codes, st, NULL, NULL, &order) == 0, "reorder");
	int moved = 1, perm = 1;
	uint8_t *seen = calloc(n, 1);
	for (size_t i = 0; i < n; i++) {
		moved &= !memcmp(x + i * d, x0 + (size_t)order[i] * d, d * 4) &&
			 !memcmp(c.codes + i * st, c0 + (size_t)order[i] * st, st);
		perm &= order[i] < n && !seen[order[i]];
		seen[order[i]] = 1;
	}
	CHECK(perm && moved, "a permutation; rows and codes moved with it");
	/* every row reachable from the entry on level 0 */
	uint32_t *queue = malloc(n * 4);
	size_t head = 0, tail = 0;
	memset(seen, 0, n);
	queue[tail++] = c.g.entry;
	seen[c.g.entry] = 1;
	while (head < tail) {
		const uint32_t *l = c.g.l0 + (size_t)queue[head++] * (1 + c.g.M0);
		for (uint32_t j = 1; j <= l[0]; j++)
			if (!seen[l[j]]) {
				seen[l[j]] = 1;
				queue[tail++] = l[j];
			}
	}
	CHECK(tail == n, "every row reachable after reordering: %zu of %zu", tail, n);
	/* the same answers, mapped back through the order */
	struct vp_gcode gc = c.h.gc;
	vp_hnsw_view(&c.h, &c.g, x, d, VP_METRIC_L2, c.codes, &gc);
	c.h.rowid = order;
	CHECK(vp_hnsw_search(&c.h, &hp, q, nq, k, 64, 0, 1, NULL, d2, ids2, &err) == 0, "after");
	double r = recall(ids2, ids, nq, k);
	CHECK(r >= 0.97, "answers after reordering agree with before: %.4f", r);
	vp_hnsw_pool_release(&hp);
	/* by heat (a relayout): every 7th row read; they come first, then
	 * the rows they link to, then the rest */
	{
		double *heat = calloc(n, sizeof *heat);
		uint32_t *o2 = NULL, nhot[2] = { 0, 0 }, *l0 = malloc(n * (1 + c.g.M0) * 4);
		size_t nh = 0, s0 = 1 + c.g.M0;
		int ok = 1;
		uint8_t *cls = calloc(n, 1);
		for (size_t i = 0; i < n; i += 7) {
			heat[i] = 1 + (double)(i % 5);
			nh++;
		}
		memcpy(l0, c.g.l0, n * s0 * 4);
		/* each old row: 0 read, 1 linked from a read one, 2 neither */
		for (size_t u = 0; u < n; u++)
			cls[u] = heat[u] > 0 ? 0 : 2;
		for (size_t u = 0; u < n; u++)
			for (uint32_t j = 1; heat[u] > 0 && j <= l0[u * s0]; j++)
				if (cls[l0[u * s0 + j]] == 2)
					cls[l0[u * s0 + j]] = 1;
		CHECK(vp_hnsw_reorder(&c.g, x, d, c.codes, st, heat, nhot, &o2) == 0, "by heat");
		CHECK(nhot[0] == nh && nhot[1] > nhot[0] && nhot[1] < n, "parts %u %u of %zu (%zu read)",
		      nhot[0], nhot[1], n, nh);
		for (size_t i = 0; i < n; i++)
			ok &= cls[o2[i]] == (i < nhot[0] ? 0 : i < nhot[1] ? 1 : 2);
		CHECK(ok, "read rows first, then those they link to, then the rest");
		free(heat); free(o2); free(l0); free(cls);
	}
	free(queue); free(seen); free(order); free(c0);
	coded_free(&c);
	free(x); free(x0); free(q); free(dd); free(d2); free(ids); free(ids2);
}

int main(void)
{
	test_reorder();
	test_codes();
	test_kernels();
	test_walks();
	test_recall();
	return check_done("test_gcode");
}
