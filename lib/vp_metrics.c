/*
 * vp_metrics: Prometheus text exposition, written atomically.  See
 * vp_metrics.h for the conventions.
 */
#define _GNU_SOURCE 1
#include "vp_metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vp.h"
#include "vp_dist.h"
#include "vp_sys.h"

void vp_metrics_init(struct vp_metrics *m)
{
	memset(m, 0, sizeof *m);
}

void vp_metrics_reset(struct vp_metrics *m)
{
	m->len = 0;
	m->oom = 0;
	m->last[0] = 0;
	if (m->buf)
		m->buf[0] = 0;
}

void vp_metrics_free(struct vp_metrics *m)
{
	free(m->buf);
	vp_metrics_init(m);
}

static void put(struct vp_metrics *m, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void put(struct vp_metrics *m, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (m->oom)
		return;
	for (;;) {
		size_t room = m->cap - m->len;
		va_start(ap, fmt);
		n = vsnprintf(m->buf ? m->buf + m->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			m->oom = 1;
			return;
		}
		if ((size_t)n < room) {
			m->len += (size_t)n;
			return;
		}
		size_t cap = m->cap ? m->cap * 2 : 4096;
		while (cap < m->len + (size_t)n + 1)
			cap *= 2;
		char *b = realloc(m->buf, cap);
		if (!b) {
			m->oom = 1;
			return;
		}
		m->buf = b;
		m->cap = cap;
	}
}

/* Prometheus floats: Go's ParseFloat forms, +Inf/-Inf/NaN spelled out. */
static void put_value(struct vp_metrics *m, double v)
{
	if (isnan(v))
		put(m, "NaN");
	else if (isinf(v))
		put(m, v > 0 ? "+Inf" : "-Inf");
	else if (v == floor(v) && fabs(v) < 9e15)
		put(m, "%.0f", v);
	else
		put(m, "%.9g", v);
}

void vp_metrics_family(struct vp_metrics *m, const char *name, const char *type,
		       const char *help)
{
	snprintf(m->last, sizeof m->last, "%s", name);
	/* HELP text escapes backslash and newline; ours has neither */
	put(m, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void vp_metrics_sample(struct vp_metrics *m, const char *suffix, const char *labels,
		       double value)
{
	put(m, "%s%s", m->last, suffix ? suffix : "");
	if (labels && *labels)
		put(m, "{%s}", labels);
	put(m, " ");
	put_value(m, value);
	put(m, "\n");
}

void vp_metrics_one(struct vp_metrics *m, const char *name, const char *type,
		    const char *help, double value)
{
	vp_metrics_family(m, name, type, help);
	vp_metrics_sample(m, "", NULL, value);
}

void vp_metrics_label(char *buf, size_t cap, const char *key, const char *value)
{
	size_t n = strlen(buf);

	if (n + 1 >= cap)
		return;
	n += (size_t)snprintf(buf + n, cap - n, "%s%s=\"", n ? "," : "", key);
	for (const char *p = value; *p && n + 3 < cap; p++) {
		if (*p == '\\' || *p == '"')
			buf[n++] = '\\', buf[n++] = *p;
		else if (*p == '\n')
			buf[n++] = '\\', buf[n++] = 'n';
		else
			buf[n++] = *p;
	}
	if (n + 1 < cap)
		buf[n++] = '"';
	buf[n < cap ? n : cap - 1] = 0;
}

void vp_metrics_hist_us(struct vp_metrics *m, const char *name, const char *help,
			const char *labels, const struct vp_hist *h, double sum_us)
{
	vp_metrics_family(m, name, "histogram", help);
	vp_metrics_hist_samples(m, labels, h, sum_us);
}

void vp_metrics_hist_samples(struct vp_metrics *m, const char *labels,
			     const struct vp_hist *h, double sum_us)
{
	int first = -1, last = -1;
	uint64_t total = 0, cum = 0;
	char lb[512];

	for (int b = 0; b < VP_HIST_BUCKETS; b++)
		if (h->count[b]) {
			if (first < 0)
				first = b;
			last = b;
			total += h->count[b];
		}
	if (first >= 0) {
		/* edges at whole doublings: bucket 0 holds [0, 1) us, bucket b > 0
		 * [2^((b-1)/SUB), 2^(b/SUB)), so 2^j us is the upper edge of
		 * bucket j*SUB */
		int j0 = first > 0 ? (first - 1) / VP_HIST_SUB : 0;
		int j1 = (last + VP_HIST_SUB - 1) / VP_HIST_SUB;
		for (int j = j0; j <= j1; j++) {
			char le[32];
			cum = 0;
			for (int b = 0; b <= j * VP_HIST_SUB && b < VP_HIST_BUCKETS; b++)
				cum += h->count[b];
			snprintf(le, sizeof le, "%.9g", ldexp(1e-6, j));
			snprintf(lb, sizeof lb, "%s", labels ? labels : "");
			vp_metrics_label(lb, sizeof lb, "le", le);
			vp_metrics_sample(m, "_bucket", lb, (double)cum);
		}
	}
	snprintf(lb, sizeof lb, "%s", labels ? labels : "");
	vp_metrics_label(lb, sizeof lb, "le", "+Inf");
	vp_metrics_sample(m, "_bucket", lb, (double)total);
	vp_metrics_sample(m, "_sum", labels, sum_us / 1e6);
	vp_metrics_sample(m, "_count", labels, (double)total);
}

void vp_metrics_process(struct vp_metrics *m, const char *prefix)
{
	struct vp_usage u;
	char name[128], lb[256] = "";

	vp_usage_get(&u);
#define ONE(suffix, type, help, v)                                          \
	do {                                                                 \
		snprintf(name, sizeof name, "%s_%s", prefix, suffix);        \
		vp_metrics_one(m, name, type, help, (double)(v));            \
	} while (0)
	ONE("resident_memory_bytes", "gauge", "Resident set size of the process.", u.rss);
	ONE("peak_resident_memory_bytes", "gauge", "Peak resident set size of the process.",
	    u.peak_rss);
	snprintf(name, sizeof name, "%s_cpu_seconds_total", prefix);
	vp_metrics_family(m, name, "counter", "CPU time used by the process, by mode.");
	vp_metrics_sample(m, "", "mode=\"user\"", u.user_s);
	vp_metrics_sample(m, "", "mode=\"system\"", u.sys_s);
	snprintf(name, sizeof name, "%s_page_faults_total", prefix);
	vp_metrics_family(m, name, "counter",
			  "Page faults: major needed I/O (the index was not in memory), minor did not.");
	vp_metrics_sample(m, "", "kind=\"major\"", (double)u.majflt);
	vp_metrics_sample(m, "", "kind=\"minor\"", (double)u.minflt);
	snprintf(name, sizeof name, "%s_context_switches_total", prefix);
	vp_metrics_family(m, name, "counter",
			  "Context switches: voluntary (waits), involuntary (preempted).");
	vp_metrics_sample(m, "", "kind=\"voluntary\"", (double)u.nvcsw);
	vp_metrics_sample(m, "", "kind=\"involuntary\"", (double)u.nivcsw);
	ONE("threads", "gauge", "Threads of the process.", u.threads);
	vp_metrics_label(lb, sizeof lb, "simd", vp_kernels()->name);
	{
		const struct vp_kernels *best = vp_kernels_at(vp_simd_cpu_level());
		vp_metrics_label(lb, sizeof lb, "simd_cpu", best ? best->name : "portable");
	}
	vp_metrics_label(lb, sizeof lb, "version", VP_VERSION);
	snprintf(name, sizeof name, "%s_build_info", prefix);
	vp_metrics_family(m, name, "gauge",
			  "Always 1: vp's version, the SIMD kernels in use and the best the CPU has.");
	vp_metrics_sample(m, "", lb, 1);
#undef ONE
}

void vp_metrics_residency(struct vp_metrics *m, const char *prefix, const void *map,
			  size_t size)
{
	/* mincore walks every page: 1.3 ms for a 200 MB index, most of a
	 * rewrite's cost; a gauge a few seconds old is as good */
	static const void *last_map;
	static size_t last_size;
	static uint64_t last_usec;
	static double last = NAN;
	char name[128];
	uint64_t now = vp_now_usec();

	if (map != last_map || size != last_size || now - last_usec >= VP_METRICS_RESIDENCY_USEC) {
		size_t total = 0;
		long res = vp_resident_pages(map, size, &total);
		last = res < 0 || !total ? NAN : (double)res / (double)total;
		last_map = map;
		last_size = size;
		last_usec = now;
	}
	snprintf(name, sizeof name, "%s_index_size_bytes", prefix);
	vp_metrics_one(m, name, "gauge", "Size of the index file.", (double)size);
	snprintf(name, sizeof name, "%s_index_resident_ratio", prefix);
	vp_metrics_one(m, name, "gauge",
		       "Fraction of the index file's pages in the page cache (mincore, at most 5 s old).",
		       last);
}

int vp_metrics_write(const struct vp_metrics *m, const char *path, struct vp_error *err)
{
	if (m->oom)
		return vp_seterr(err, VP_E_NOMEM, "%s: out of memory formatting metrics", path);
	/* the temporary file's dot name does not end in .prom, which the
	 * textfile collector ignores; 0644: collectors run as another user; no
	 * fsync: the collector needs a whole file, which rename gives, a
	 * metrics file need not survive a crash, and an fsync per rewrite cost
	 * 5% of search throughput at a 0.1 s interval */
	return vp_write_atomic(path, m->buf, m->len, err);
}
