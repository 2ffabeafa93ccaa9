/*
 * vp_stats: what vp-bench reports: recall@k against ground truth, latency
 * percentiles and a log-bucket histogram.
 */
#ifndef VP_STATS_H
#define VP_STATS_H

#include <stddef.h>
#include <stdint.h>

/* Sorts v ascending. */
void vp_sort_doubles(double *v, size_t n);

/* Returns the p-th percentile (0..100) of n sorted values, interpolating
 * linearly between ranks; 0 when n is 0. */
double vp_percentile(const double *sorted, size_t n, double p);

/* Returns recall@k: the fraction of each query's first k ground-truth ids
 * found among its first k results, averaged over nq queries.  ids is nq*k;
 * gt rows are gt_dim >= k apart. */
double vp_recall(const int64_t *ids, size_t nq, size_t k, const int32_t *gt,
		 size_t gt_dim);

/* Log-scale histogram: VP_HIST_SUB buckets per doubling, from 1 unit. */
#define VP_HIST_SUB 4
#define VP_HIST_BUCKETS (VP_HIST_SUB * 40)

struct vp_hist {
	uint64_t count[VP_HIST_BUCKETS];
};

/* Adds one value (>= 0) to the histogram. */
void vp_hist_add(struct vp_hist *h, double v);

/* Returns the lower edge of bucket i. */
double vp_hist_edge(int i);

#endif
