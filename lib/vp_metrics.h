/*
 * vp_metrics: metrics in the Prometheus text exposition format (0.0.4),
 * written atomically for node_exporter's textfile collector.
 *
 * A program fills a vp_metrics with families (one # HELP and # TYPE each)
 * and their samples, then writes it with vp_metrics_write: a temporary file
 * in the target's directory, then rename.  The collector reads the file
 * whenever it is scraped, so it must never see half of one.  Names follow
 * Prometheus conventions: base units (seconds, bytes), counters ending in
 * _total, histograms as cumulative _bucket{le=...} with _sum and _count,
 * and what is a label rather than a number (SIMD level, GEMM path) as an
 * _info gauge of value 1.
 */
#ifndef VP_METRICS_H
#define VP_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "vp_err.h"
#include "vp_stats.h"

struct vp_metrics {
	char *buf;
	size_t len, cap;
	int oom;        /* an append failed: vp_metrics_write reports it */
	char last[96];  /* the family being written */
};

void vp_metrics_init(struct vp_metrics *m);
void vp_metrics_reset(struct vp_metrics *m);
void vp_metrics_free(struct vp_metrics *m);

/* Starts a family: type is "counter", "gauge" or "histogram". */
void vp_metrics_family(struct vp_metrics *m, const char *name, const char *type,
		       const char *help);

/* One sample of the current family.  suffix: "" or "_bucket", "_sum",
 * "_count"; labels: NULL, or 'a="x",b="y"' already escaped (see
 * vp_metrics_label). */
void vp_metrics_sample(struct vp_metrics *m, const char *suffix, const char *labels,
		       double value);

/* A family with one sample: the common case. */
void vp_metrics_one(struct vp_metrics *m, const char *name, const char *type,
		    const char *help, double value);

/* Appends key="value" to a label list in buf (cap bytes), escaping
 * backslash, quote and newline as the format requires. */
void vp_metrics_label(char *buf, size_t cap, const char *key, const char *value);

/* A histogram family from a vp_hist of microseconds: the buckets become
 * cumulative counts at every doubling from 1 us (2^j us, in seconds)
 * between the first and the last non-empty bucket, so the le edges follow
 * the latency range this run saw and the counts are exact (vp_hist has
 * VP_HIST_SUB buckets per doubling).  sum_us: the sum of the values. */
void vp_metrics_hist_us(struct vp_metrics *m, const char *name, const char *help,
			const char *labels, const struct vp_hist *h, double sum_us);

/* The samples of such a histogram alone, for a family (begun with
 * vp_metrics_family) that has one set of buckets per label value. */
void vp_metrics_hist_samples(struct vp_metrics *m, const char *labels,
			     const struct vp_hist *h, double sum_us);

/* What every program reports about itself: resident and peak memory, CPU
 * seconds (user, system), page faults (major, minor), context switches
 * (voluntary, involuntary), threads, and the SIMD level in an info gauge.
 * prefix: "vp_search", ... */
void vp_metrics_process(struct vp_metrics *m, const char *prefix);

/* Page-cache residency of [map, map + size) (mincore) as a 0..1 gauge and
 * the index's size in bytes.  Measured again at most every
 * VP_METRICS_RESIDENCY_USEC for the same mapping: mincore over a large
 * index costs milliseconds, most of a rewrite. */
#define VP_METRICS_RESIDENCY_USEC 5000000
void vp_metrics_residency(struct vp_metrics *m, const char *prefix,
			  const void *map, size_t size);

/* Writes the metrics to path atomically (.PATH.tmp.PID.XXXXXX, rename; no
 * fsync: a scrape needs a whole file, not a durable one).
 * Returns 0, or VP_E_IO / VP_E_NOMEM with err filled. */
int vp_metrics_write(const struct vp_metrics *m, const char *path, struct vp_error *err);

#endif
