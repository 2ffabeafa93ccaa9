/* test_topk: bounded heaps against a sorted reference, and the merge. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "vp.h"

struct pair { float d; int64_t id; };

static int cmp(const void *a, const void *b)
{
	const struct pair *x = a, *y = b;
	return vp_topk_before(x->d, x->id, y->d, y->id) ? -1 :
	       vp_topk_before(y->d, y->id, x->d, x->id) ? 1 : 0;
}

int main(void)
{
	static const size_t ks[] = { 1, 2, 5, 10, 100 };
	struct vp_rng r;
	vp_rng_seed(&r, 7);
	for (size_t t = 0; t < sizeof ks / sizeof *ks; t++) {
		size_t k = ks[t], n = 1000;
		struct vp_topk h;
		struct pair *all = malloc(n * sizeof *all);
		float *d = malloc(k * sizeof *d);
		int64_t *id = malloc(k * sizeof *id);
		size_t got;
		int ok = 1;
		vp_topk_init(&h, k);
		for (size_t i = 0; i < n; i++) {
			/* few distinct values: many ties, broken by id */
			all[i].d = (float)(vp_rng_next(&r) % 50);
			all[i].id = (int64_t)i;
			vp_topk_push(&h, all[i].d, all[i].id);
		}
		qsort(all, n, sizeof *all, cmp);
		got = vp_topk_extract(&h, d, id);
		CHECK(got == k, "k=%zu got %zu", k, got);
		for (size_t i = 0; i < got; i++)
			ok &= d[i] == all[i].d && id[i] == all[i].id;
		CHECK(ok, "k=%zu matches sorted reference", k);
		CHECK(h.n == 0 && vp_topk_bound(&h) == INFINITY, "extract empties");
		vp_topk_release(&h);
		free(all);
		free(d);
		free(id);
	}
	/* fewer candidates than k */
	{
		struct vp_topk h;
		float d[4];
		int64_t id[4];
		vp_topk_init(&h, 4);
		vp_topk_push(&h, 2.0f, 9);
		vp_topk_push(&h, 1.0f, 3);
		CHECK(vp_topk_extract(&h, d, id) == 2 && id[0] == 3 && id[1] == 9, "short list");
		vp_topk_release(&h);
	}
	/* merge of three sorted lists, with a duplicate and ties */
	{
		float d1[] = { 1, 3, 5 }, d2[] = { 2, 3, 6 }, d3[] = { 1 };
		int64_t i1[] = { 10, 30, 50 }, i2[] = { 20, 31, 60 }, i3[] = { 10 };
		const float *ds[] = { d1, d2, d3 };
		const int64_t *is[] = { i1, i2, i3 };
		size_t lens[] = { 3, 3, 1 };
		float od[5];
		int64_t oi[5];
		size_t got = vp_topk_merge(ds, is, lens, 3, 5, od, oi);
		int64_t want[] = { 10, 20, 30, 31, 50 };
		CHECK(got == 5 && !memcmp(oi, want, sizeof want), "merge order (got %zu: %lld %lld %lld %lld %lld)",
		      got, (long long)oi[0], (long long)oi[1], (long long)oi[2], (long long)oi[3], (long long)oi[4]);
		lens[0] = lens[1] = lens[2] = 0;
		CHECK(vp_topk_merge(ds, is, lens, 3, 5, od, oi) == 0, "merge of empty lists");
	}
	return check_done("test_topk");
}
