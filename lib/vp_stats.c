/* vp_stats: percentile, recall and histogram arithmetic. */
#include "vp_stats.h"

#include <math.h>
#include <stdlib.h>

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

void vp_sort_doubles(double *v, size_t n)
{
	qsort(v, n, sizeof *v, cmp_double);
}

double vp_percentile(const double *s, size_t n, double p)
{
	double r, f;
	size_t i;
	if (n == 0)
		return 0;
	if (p <= 0)
		return s[0];
	if (p >= 100)
		return s[n - 1];
	r = p / 100.0 * (double)(n - 1);
	i = (size_t)r;
	f = r - (double)i;
	return i + 1 < n ? s[i] + f * (s[i + 1] - s[i]) : s[i];
}

double vp_recall(const int64_t *ids, size_t nq, size_t k, const int32_t *gt,
		 size_t gt_dim)
{
	size_t hit = 0;
	if (nq == 0 || k == 0)
		return 0;
	for (size_t q = 0; q < nq; q++)
		for (size_t i = 0; i < k; i++) {
			int64_t v = ids[q * k + i];
			if (v < 0)
				continue;
			/* k is small: a linear probe of the truth row is fine */
			for (size_t j = 0; j < k; j++)
				if (gt[q * gt_dim + j] == v) {
					hit++;
					break;
				}
		}
	return (double)hit / (double)(nq * k);
}

void vp_hist_add(struct vp_hist *h, double v)
{
	int b = v < 1 ? 0 : (int)floor(log2(v) * VP_HIST_SUB) + 1;
	if (b >= VP_HIST_BUCKETS)
		b = VP_HIST_BUCKETS - 1;
	h->count[b]++;
}

double vp_hist_edge(int i)
{
	return i == 0 ? 0 : exp2((double)(i - 1) / VP_HIST_SUB);
}
