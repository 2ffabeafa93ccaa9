/* vp_topk: binary max-heap of (distance, id) and a k-way merge. */
#include "vp_topk.h"

#include <stdlib.h>

#include "vp_err.h"

int vp_topk_init(struct vp_topk *t, size_t k)
{
	t->k = k;
	t->n = 0;
	t->dist = malloc((k ? k : 1) * sizeof *t->dist);
	t->id = malloc((k ? k : 1) * sizeof *t->id);
	if (!t->dist || !t->id) {
		vp_topk_release(t);
		return VP_E_NOMEM;
	}
	return 0;
}

void vp_topk_release(struct vp_topk *t)
{
	free(t->dist);
	free(t->id);
	t->dist = NULL;
	t->id = NULL;
	t->n = t->k = 0;
}

/* "worse" = ranks after: the max-heap order. */
static void sift_down(float *dist, int64_t *id, size_t n, size_t i)
{
	float d = dist[i];
	int64_t v = id[i];
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= n)
			break;
		if (c + 1 < n && vp_topk_before(dist[c], id[c], dist[c + 1], id[c + 1]))
			c++;
		if (!vp_topk_before(d, v, dist[c], id[c]))
			break;
		dist[i] = dist[c];
		id[i] = id[c];
		i = c;
	}
	dist[i] = d;
	id[i] = v;
}

void vp_topk_push_slow(struct vp_topk *t, float d, int64_t v)
{
	if (t->k == 0)
		return;
	if (t->n < t->k) {
		size_t i = t->n++;
		while (i > 0) {
			size_t p = (i - 1) / 2;
			if (!vp_topk_before(t->dist[p], t->id[p], d, v))
				break;
			t->dist[i] = t->dist[p];
			t->id[i] = t->id[p];
			i = p;
		}
		t->dist[i] = d;
		t->id[i] = v;
	} else if (vp_topk_before(d, v, t->dist[0], t->id[0])) {
		t->dist[0] = d;
		t->id[0] = v;
		sift_down(t->dist, t->id, t->n, 0);
	}
}

size_t vp_topk_extract(struct vp_topk *t, float *dist, int64_t *id)
{
	size_t n = t->n;
	/* heap sort in place: repeatedly move the worst to the end */
	for (size_t m = n; m > 1; m--) {
		float d = t->dist[0];
		int64_t v = t->id[0];
		t->dist[0] = t->dist[m - 1];
		t->id[0] = t->id[m - 1];
		t->dist[m - 1] = d;
		t->id[m - 1] = v;
		sift_down(t->dist, t->id, m - 1, 0);
	}
	for (size_t i = 0; i < n; i++) {
		dist[i] = t->dist[i];
		id[i] = t->id[i];
	}
	t->n = 0;
	return n;
}

size_t vp_topk_merge(const float *const *dists, const int64_t *const *ids,
		     const size_t *lens, size_t nlists, size_t k,
		     float *out_dist, int64_t *out_id)
{
	/* nlists is small (segments, threads): a linear scan of the list
	 * heads beats a heap, and keeps ties ordered by id. */
	size_t pos_small[64], *pos = pos_small, out = 0;
	if (nlists > 64 && !(pos = calloc(nlists, sizeof *pos)))
		return 0;
	for (size_t i = 0; i < nlists && nlists <= 64; i++)
		pos[i] = 0;
	while (out < k) {
		size_t best = nlists;
		for (size_t i = 0; i < nlists; i++) {
			if (pos[i] >= lens[i])
				continue;
			if (best == nlists ||
			    vp_topk_before(dists[i][pos[i]], ids[i][pos[i]],
					   dists[best][pos[best]], ids[best][pos[best]]))
				best = i;
		}
		if (best == nlists)
			break;
		/* the same id may come from two lists (overlapping shards) */
		if (out == 0 || out_id[out - 1] != ids[best][pos[best]] ||
		    out_dist[out - 1] != dists[best][pos[best]]) {
			out_dist[out] = dists[best][pos[best]];
			out_id[out] = ids[best][pos[best]];
			out++;
		}
		pos[best]++;
	}
	if (pos != pos_small)
		free(pos);
	return out;
}

void vp_topk_sort_pad(float *dist, int64_t *id, size_t got, size_t k)
{
	for (size_t r = 1; r < got; r++)
		for (size_t t = r; t > 0 && vp_topk_before(dist[t], id[t], dist[t - 1], id[t - 1]); t--) {
			float dv = dist[t];
			int64_t iv = id[t];
			dist[t] = dist[t - 1];
			id[t] = id[t - 1];
			dist[t - 1] = dv;
			id[t - 1] = iv;
		}
	for (size_t r = got; r < k; r++) {
		dist[r] = INFINITY;
		id[r] = -1;
	}
}
