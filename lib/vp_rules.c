/*
 * vp_rules: evidence, the rule table, and the recall curve vp-diag
 * measures when recall is below target.  See vp_rules.h.
 */
#define _GNU_SOURCE /* O_DIRECT */
#include "vp_rules.h"

#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <xxhash.h>

#include "vp_family.h"
#include "vp_json.h"
#include "vp_stats.h"

const char *vp_severity_name(int sev)
{
	static const char *const n[] = { "ok", "info", "warning", "critical" };
	return sev >= 0 && sev <= VP_SEV_CRITICAL ? n[sev] : "?";
}

/* ---------------------------------------------------------------- health */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Level-0 nodes not reachable from the entry point (breadth first). */
static int hnsw_walk(const struct vp_hnsw *h, uint64_t *unreach, uint64_t *edges,
		     uint64_t *zero)
{
	size_t n = h->n, stride = 1 + h->M0, head = 0, tail = 0;
	uint32_t *queue = malloc(n * sizeof *queue);
	uint8_t *seen = calloc(n, 1);
	if (!queue || !seen) {
		free(queue);
		free(seen);
		return VP_E_NOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		uint32_t deg = h->l0[i * stride];
		*edges += deg;
		*zero += deg == 0;
	}
	if (n) {
		queue[tail++] = h->entry;
		seen[h->entry] = 1;
	}
	while (head < tail) {
		const uint32_t *l = h->l0 + (size_t)queue[head++] * stride;
		for (uint32_t j = 1; j <= l[0]; j++)
			if (!seen[l[j]]) {
				seen[l[j]] = 1;
				queue[tail++] = l[j];
			}
	}
	*unreach += n - tail;
	free(queue);
	free(seen);
	return 0;
}

/* The rows' hashes, for the duplicate count, without changing what is in
 * memory: a chunk whose pages are all resident is read through the
 * mapping, the rest with O_DIRECT reads, which bypass the page cache.
 * Read through the mapping, a health check after a benchmark (vp-bench
 * --json) brought the whole file in: a cold file became warm, and in a
 * memory cgroup smaller than the index the pages the searches had were
 * evicted (the next run's p99 23-32 ms instead of 0.4-0.7).  Where
 * O_DIRECT is refused (tmpfs), through the mapping, as before. */
static size_t hash_rows(const struct vp_index *ix, const unsigned char *rows,
			size_t rowbytes, uint64_t n, uint64_t *hash, size_t room)
{
	enum { CHUNK = 1 << 20, PG = 4096 };
	const size_t per = rowbytes < CHUNK ? CHUNK / rowbytes : 1;
	unsigned char *buf = NULL, *in = NULL;
	size_t nh = 0, bufcap = 0, incap = 0;
	int fd = -1;

	if (n > room)
		n = room;
	if (sysconf(_SC_PAGESIZE) == PG && rows >= ix->map && rows < ix->map + ix->size)
		fd = open(ix->path, O_RDONLY | O_DIRECT | O_CLOEXEC);
	for (uint64_t i = 0; i < n; i += per) {
		uint64_t m = n - i < per ? n - i : per, off = (uint64_t)(rows - ix->map) + i * rowbytes;
		uint64_t a = off / PG * PG, b = (off + m * rowbytes + PG - 1) / PG * PG;
		const unsigned char *src = rows + i * rowbytes;
		size_t np = (size_t)((b - a) / PG), j = 0;
		if (fd >= 0 && np > incap) {
			unsigned char *t = realloc(in, np);
			if (t) {
				in = t;
				incap = np;
			}
		}
		if (fd >= 0 && incap >= np && !mincore((void *)(ix->map + a), (size_t)(b - a), in))
			for (; j < np && (in[j] & 1); j++)
				;
		if (fd >= 0 && incap >= np && j < np) {
			/* cold pages in it: one direct read of the chunk */
			ssize_t got = -1;
			if (bufcap < b - a) {
				free(buf);
				buf = NULL;
				bufcap = posix_memalign((void **)&buf, PG, (size_t)(b - a)) ? 0 : (size_t)(b - a);
			}
			if (buf)
				got = pread(fd, buf, (size_t)(b - a), (off_t)a);
			if (got >= (ssize_t)(off - a + m * rowbytes))
				src = buf + (off - a);
			else {
				close(fd); /* refused or failed: the mapping from here */
				fd = -1;
			}
		}
		for (uint64_t r = 0; r < m; r++)
			hash[nh++] = XXH3_64bits(src + r * rowbytes, rowbytes);
	}
	if (fd >= 0)
		close(fd);
	free(buf);
	free(in);
	return nh;
}

int vp_health_measure(const struct vp_searcher *s, struct vp_health *h, struct vp_error *err)
{
	const size_t dupcap = 1u << 20;
	uint64_t *hash = NULL, edges = 0, nodes = 0, listsum = 0;
	size_t nh = 0;
	size_t rowbytes = (size_t)s->ix.hdr.dim * sizeof(float);

	memset(h, 0, sizeof *h);
	h->type = (int)s->ix.hdr.type;
	h->count = s->ix.hdr.count;
	h->dim = s->ix.hdr.dim;
	h->size_bytes = s->ix.size;
	for (int i = 0; i < VP_P_COUNT; i++)
		h->params[i] = s->ix.hdr.params[i];
	h->nseg = s->nseg;
	h->seg_min = UINT64_MAX;
	for (size_t g = 0; g < s->nseg; g++) {
		const struct vp_segment *seg = &s->seg[g];
		uint64_t n = seg->meta.count;
		const unsigned char *rows = NULL;
		h->deleted += seg->ndead;
		if (n < h->seg_min)
			h->seg_min = n;
		if (n > h->seg_max)
			h->seg_max = n;
		if (seg->ivf.offsets) { /* an IVF type's lists */
			for (size_t l = 0; l < seg->ivf.nlist; l++) {
				uint64_t sz = seg->ivf.offsets[l + 1] - seg->ivf.offsets[l];
				/* the live entries: deletes unbalance the lists */
				for (uint64_t p = seg->ivf.offsets[l]; seg->dead && p < seg->ivf.offsets[l + 1]; p++)
					sz -= seg->dead[seg->ivf.ids[p] >> 6] >> (seg->ivf.ids[p] & 63) & 1;
				h->lists_empty += sz == 0;
				if (sz > h->list_max)
					h->list_max = sz;
				listsum += sz;
			}
			h->nlist += seg->ivf.nlist;
			if (h->type == VP_TYPE_IVF_FLAT)
				rows = seg->ivf.data;
		}
		if (h->type == VP_TYPE_HNSW && seg->hnsw.l0) {
			int rc = hnsw_walk(&seg->hnsw, &h->unreachable, &edges, &h->degree_zero);
			if (rc)
				return vp_seterr(err, rc, "out of memory");
			nodes += seg->hnsw.n;
			h->degree_cap = seg->hnsw.M0;
			rows = (const unsigned char *)seg->hnsw.x;
		}
		if (seg->vectors)
			rows = (const unsigned char *)seg->vectors;
		if (!rows)
			continue;
		if (!hash && !(hash = malloc(dupcap * sizeof *hash)))
			return vp_seterr(err, VP_E_NOMEM, "out of memory");
		nh += hash_rows(&s->ix, rows, rowbytes, n, hash + nh, dupcap - nh);
	}
	if (!s->nseg)
		h->seg_min = 0;
	if (h->nlist)
		h->list_mean = (double)listsum / (double)h->nlist;
	if (nodes)
		h->degree_mean = (double)edges / (double)nodes;
	if (nh) {
		qsort(hash, nh, sizeof *hash, cmp_u64);
		for (size_t i = 1; i < nh; i++)
			h->dup_rows += hash[i] == hash[i - 1];
		h->rows_checked = nh;
	}
	free(hash);
	return 0;
}

/* -------------------------------------------------------------- evidence */

static double num(const struct vp_json *o, const char *key, double def)
{
	const struct vp_json *v = o ? vp_json_get(o, key) : NULL;
	return v && (v->type == VP_JSON_NUMBER || v->type == VP_JSON_BOOL) ? v->num : def;
}

static void str(const struct vp_json *o, const char *key, char *buf, size_t n)
{
	const struct vp_json *v = o ? vp_json_get(o, key) : NULL;
	if (v && v->type == VP_JSON_STRING)
		snprintf(buf, n, "%s", v->str);
}

static const struct vp_json *obj(const struct vp_json *o, const char *key)
{
	const struct vp_json *v = o ? vp_json_get(o, key) : NULL;
	return v && v->type == VP_JSON_OBJECT ? v : NULL;
}

/* A small count (threads, CPUs) in [0, 1e6]: a file can hold any double,
 * and converting one out of int's range is undefined (found by fuzz_json). */
static double bounded(const struct vp_json *o, const char *key)
{
	double v = num(o, key, 0);
	return v > 0 ? (v < 1e6 ? v : 1e6) : 0;
}

/* Counts as JSON numbers: non-negative and within uint64. */
static uint64_t count(const struct vp_json *o, const char *key)
{
	double v = num(o, key, 0);
	return v > 0 && v < 1.8e19 ? (uint64_t)v : 0;
}

int vp_evidence_from_json(struct vp_evidence *ev, const char *text, size_t len,
			  const char *path, struct vp_error *err)
{
	struct vp_json *j = NULL;
	const struct vp_json *ix, *sys, *ru, *res, *runs, *hl, *cg, *sc;
	char schema[32] = "";
	int rc;

	if ((rc = vp_json_parse(text, len, path, &j, err)))
		return rc;
	str(j, "schema", schema, sizeof schema);
	runs = vp_json_get(j, "runs");
	if (j->type != VP_JSON_OBJECT || strncmp(schema, "vp-bench/", 9) || !runs ||
	    runs->type != VP_JSON_ARRAY) {
		vp_json_free(j);
		return vp_seterr(err, VP_E_FORMAT, "%s: not a vp-bench --json result "
				 "(schema vp-bench/1 or /2 with a \"runs\" array)", path);
	}
	ev->have_run = 1;
	str(j, "mode", ev->mode, sizeof ev->mode);
	ev->threads = (int)bounded(j, "threads");
	ev->k = (size_t)count(j, "k");
	ev->nq = (size_t)count(j, "queries");
	str(j, "queries_path", ev->queries_path, sizeof ev->queries_path);
	str(j, "gt_path", ev->gt_path, sizeof ev->gt_path);
	str(j, "sweep", ev->sweep_key, sizeof ev->sweep_key);
	for (size_t r = 0; r < runs->n && ev->nruns < VP_RUN_MAX; r++) {
		const struct vp_json *u = &runs->items[r], *lat = obj(u, "latency_us");
		struct vp_run_point *p = &ev->runs[ev->nruns++];
		str(u, "param", p->param, sizeof p->param);
		p->recall = num(u, "recall", 0);
		p->qps = num(u, "qps", 0);
		ev->wall_s += num(u, "seconds", 0);
		if (lat) {
			p->has_lat = 1;
			p->p50_us = num(lat, "p50", 0);
			p->p99_us = num(lat, "p99", 0);
		}
	}
	if ((sc = obj(j, "cache"))) {
		ev->cache_used = 1;
		ev->cache_lookups = count(sc, "lookups");
		ev->cache_hit_rate = num(sc, "hit_rate", 0);
	}
	if ((ix = obj(j, "index"))) {
		char type[32] = "";
		const struct vp_json *segs = vp_json_get(ix, "segments");
		str(ix, "path", ev->index_path, sizeof ev->index_path);
		str(ix, "type", type, sizeof type);
		ev->ix.type = vp_index_type_parse(type);
		ev->ix.count = count(ix, "count");
		ev->ix.dim = (uint32_t)count(ix, "dim");
		ev->ix.size_bytes = count(ix, "size_bytes");
		if (segs && segs->type == VP_JSON_ARRAY) {
			ev->ix.nseg = segs->n;
			ev->ix.seg_min = segs->n ? UINT64_MAX : 0;
			for (size_t g = 0; g < segs->n; g++) {
				uint64_t c = count(&segs->items[g], "count");
				ev->ix.seg_min = c < ev->ix.seg_min ? c : ev->ix.seg_min;
				ev->ix.seg_max = c > ev->ix.seg_max ? c : ev->ix.seg_max;
			}
		}
		if ((hl = obj(ix, "params")))
			for (int i = 0; i < VP_P_COUNT; i++) {
				/* build parameters are counts; a double past int64 is
				 * undefined to convert (found by fuzz_json) */
				uint64_t v = count(hl, vp_param_defs[i].name);
				ev->ix.params[i] = v < (1ull << 53) ? (int64_t)v : (int64_t)1 << 53;
			}
		if ((hl = obj(ix, "health"))) {
			ev->ix.nlist = (size_t)count(hl, "lists");
			ev->ix.list_mean = num(hl, "list_mean", 0);
			ev->ix.list_max = count(hl, "list_max");
			ev->ix.lists_empty = count(hl, "lists_empty");
			ev->ix.unreachable = count(hl, "unreachable");
			ev->ix.degree_mean = num(hl, "degree_mean", 0);
			ev->ix.degree_zero = count(hl, "degree_zero");
			ev->ix.degree_cap = (uint32_t)bounded(hl, "degree_cap");
			ev->ix.dup_rows = count(hl, "duplicate_rows");
			ev->ix.rows_checked = count(hl, "rows_checked");
			ev->ix.deleted = count(hl, "deleted");
		}
	}
	if ((sys = obj(j, "system"))) {
		str(sys, "simd", ev->simd_used, sizeof ev->simd_used);
		str(sys, "simd_cpu", ev->simd_cpu, sizeof ev->simd_cpu);
		ev->cpus_allowed = (int)bounded(sys, "cpus_allowed");
		ev->mem_total = count(sys, "mem_total_bytes");
		ev->mem_avail = count(sys, "mem_available_bytes");
		if ((cg = obj(sys, "cgroup"))) {
			ev->cgroup_cpus = bounded(cg, "cpus");
			ev->cgroup_mem = count(cg, "memory_bytes");
		}
		if ((ru = obj(sys, "rusage"))) {
			ev->user_s = num(ru, "user_seconds", 0);
			ev->sys_s = num(ru, "system_seconds", 0);
			ev->majflt = count(ru, "major_faults");
			ev->minflt = count(ru, "minor_faults");
			ev->nvcsw = count(ru, "voluntary_switches");
			ev->nivcsw = count(ru, "involuntary_switches");
		}
		if ((res = obj(sys, "residency"))) {
			ev->residency_known = 1;
			ev->residency_before = num(res, "before", 1);
			ev->residency_after = num(res, "after", 1);
		}
	}
	vp_json_free(j);
	return 0;
}

/* ----------------------------------------------------------------- rules */

static int simd_rank(const char *s)
{
	return !strcmp(s, "avx512") ? 2 : !strcmp(s, "avx2") ? 1 : !strcmp(s, "portable") ? 0 : -1;
}

static double best_recall(const struct vp_evidence *ev, int *at)
{
	double b = -1;
	for (int r = 0; r < ev->nruns; r++)
		if (ev->runs[r].recall > b) {
			b = ev->runs[r].recall;
			*at = r;
		}
	return b;
}

static const char *path_or(const char *p, const char *alt)
{
	return p && *p ? p : alt;
}

static int r_not_resident(const struct vp_evidence *ev, struct vp_finding *f)
{
	double per_q = ev->nq ? (double)ev->majflt / (double)ev->nq : 0;
	double tail = 0, grew = ev->residency_after - ev->residency_before;
	/* the residency the run gained is the evidence: a fault on a page that
	 * readahead is already reading counts as minor, and with huge pages on
	 * a file mapping one fault brings in megabytes, so major faults alone
	 * undercount; they decide only without residency figures */
	if (!ev->have_run)
		return 0;
	if (!(ev->residency_known && ev->residency_before < VP_RULE_RESIDENT_MIN &&
	      grew >= VP_RULE_RESIDENT_GREW) &&
	    (ev->majflt < VP_RULE_MAJFLT_MIN || per_q < VP_RULE_MAJFLT_PER_Q))
		return 0;
	if (ev->nruns && ev->runs[0].has_lat && ev->runs[0].p50_us > 0)
		tail = ev->runs[0].p99_us / ev->runs[0].p50_us;
	{
		char t[64] = "";
		if (tail > 0)
			snprintf(t, sizeof t, "; p99/p50 latency %.1fx", tail);
		snprintf(f->evidence, sizeof f->evidence,
			 "%llu major page faults over %zu queries (%.3f per query); index %.0f%% "
			 "resident before the run, %.0f%% after%s",
			 (unsigned long long)ev->majflt, ev->nq, per_q, 100 * ev->residency_before,
			 100 * ev->residency_after, t);
	}
	snprintf(f->action, sizeof f->action,
		 "vp-warmup %.300s  (before traffic, e.g. from cron after each rebuild; "
		 "vp-warmup --lock keeps it resident)", path_or(ev->index_path, "INDEX"));
	f->gain = tail > 1 ? tail : 2;
	return 1;
}

static int r_memory(const struct vp_evidence *ev, struct vp_finding *f)
{
	uint64_t limit = ev->cgroup_mem ? ev->cgroup_mem : ev->mem_total;
	uint64_t n = ev->ix.count, d = ev->ix.dim;
	double sq8, pq;
	uint64_t m;
	if (!limit || !ev->ix.size_bytes ||
	    (double)ev->ix.size_bytes <= VP_RULE_MEM_FRACTION * (double)limit)
		return 0;
	/* sizes from the layouts in vp-index(5): codes, ids, centroids */
	m = d % 4 == 0 ? d / 4 : d % 2 == 0 ? d / 2 : d;
	sq8 = (double)n * (double)(d + 4) + 256.0 * (double)d * 4;
	pq = (double)n * (double)(m + 4) + 256.0 * (double)d * 4 * 2;
	snprintf(f->evidence, sizeof f->evidence,
		 "index %.1f MB, %s %.1f MB (%.0f%%)", (double)ev->ix.size_bytes / 1e6,
		 ev->cgroup_mem ? "cgroup memory limit" : "memory", (double)limit / 1e6,
		 100.0 * (double)ev->ix.size_bytes / (double)limit);
	if (sq8 < 0.5 * (double)limit)
		snprintf(f->action, sizeof f->action,
			 "a compressed index: vp-build -t IVF_SQ8 (about %.1f MB, 8 bits a "
			 "dimension) or -t IVF_PQ -p m=%llu (about %.1f MB), then vp-tune for nprobe",
			 sq8 / 1e6, (unsigned long long)m, pq / 1e6);
	else
		snprintf(f->action, sizeof f->action,
			 "vp-build -t IVF_PQ -p m=%llu (about %.1f MB), or a larger memory limit",
			 (unsigned long long)m, pq / 1e6);
	f->gain = (double)ev->ix.size_bytes / (sq8 < 0.5 * (double)limit ? sq8 : pq);
	return 1;
}

static int r_simd(const struct vp_evidence *ev, struct vp_finding *f)
{
	int used = simd_rank(ev->simd_used), cpu = simd_rank(ev->simd_cpu);
	if (used < 0 || cpu < 0 || used >= cpu)
		return 0;
	snprintf(f->evidence, sizeof f->evidence,
		 "distance kernels %s on a CPU that has %s", ev->simd_used, ev->simd_cpu);
	snprintf(f->action, sizeof f->action,
		 "unset VP_SIMD (or VP_SIMD=%s): the kernels follow the CPU", ev->simd_cpu);
	/* measured per distance on AVX-512 machines: ~1.3x AVX2, ~4x portable */
	f->gain = used == 0 ? (cpu == 2 ? 4 : 3) : 1.3;
	return 1;
}

static int r_oversub(const struct vp_evidence *ev, struct vp_finding *f)
{
	double rate = ev->wall_s > 0 ? (double)ev->nivcsw / ev->wall_s : 0;
	if (strcmp(ev->mode, "throughput") || ev->cpus_allowed <= 0 ||
	    ev->threads <= ev->cpus_allowed)
		return 0;
	snprintf(f->evidence, sizeof f->evidence,
		 "%d threads on %d allowed CPU%s; %.0f involuntary context switches/s",
		 ev->threads, ev->cpus_allowed, ev->cpus_allowed == 1 ? "" : "s", rate);
	snprintf(f->action, sizeof f->action,
		 "-j %d (one thread per allowed CPU; hardware.threads: %d in vp.yaml), "
		 "or allow more CPUs (taskset, --cpus)", ev->cpus_allowed, ev->cpus_allowed);
	/* measured on Fashion-MNIST (FLAT and HNSW batches, 4 threads on one
	 * CPU): 2-4% lost to preemption; more with more threads per CPU */
	{
		double over = (double)ev->threads / ev->cpus_allowed - 1;
		f->gain = 1 + 0.03 * (over < 5 ? over : 5) + (rate > VP_RULE_IVCSW_PER_S ? 0.01 : 0);
	}
	return 1;
}

static int r_quota(const struct vp_evidence *ev, struct vp_finding *f)
{
	int q = (int)ceil(ev->cgroup_cpus - 1e-9);
	if (strcmp(ev->mode, "throughput") || ev->cgroup_cpus <= 0 || ev->threads <= q)
		return 0;
	snprintf(f->evidence, sizeof f->evidence,
		 "%d threads under a cgroup CPU quota of %.2f CPUs", ev->threads, ev->cgroup_cpus);
	snprintf(f->action, sizeof f->action,
		 "-j %d (the quota, rounded up), or raise the quota (cpu.max)", q < 1 ? 1 : q);
	/* measured with a real 1-CPU quota, FLAT batches: -j 2 lost 4% to -j 1 */
	f->gain = 1 + 0.04 * ((double)ev->threads / (q < 1 ? 1 : q) - 1);
	return 1;
}

static int r_recall(const struct vp_evidence *ev, struct vp_finding *f)
{
	int at = 0;
	double b = best_recall(ev, &at);
	if (ev->target_recall <= 0 || !ev->have_run || !ev->nruns || b >= ev->target_recall)
		return 0;
	snprintf(f->evidence, sizeof f->evidence, "recall@%zu %.4f%s%s, target %.4f", ev->k, b,
		 ev->runs[at].param[0] ? " at " : "", ev->runs[at].param, ev->target_recall);
	if (ev->curve_key[0] && ev->curve_recall >= ev->target_recall)
		snprintf(f->action, sizeof f->action,
			 "-p %s=%lld (measured recall %.4f on the run's queries; search.%s: %lld "
			 "in vp.yaml)", ev->curve_key, (long long)ev->curve_value, ev->curve_recall,
			 ev->curve_key, (long long)ev->curve_value);
	else if (ev->curve_key[0])
		snprintf(f->action, sizeof f->action,
			 "no %s reaches it (best %.4f at %s=%lld): rebuild with vp-tune --target %.4f",
			 ev->curve_key, ev->curve_recall, ev->curve_key, (long long)ev->curve_value,
			 ev->target_recall);
	else
		snprintf(f->action, sizeof f->action,
			 "vp-tune --target %.4f, or vp-diag --check with -i INDEX to measure the "
			 "setting that reaches it", ev->target_recall);
	f->gain = 1 + 10 * (ev->target_recall - b);
	return 1;
}

static int r_segments(const struct vp_evidence *ev, struct vp_finding *f)
{
	const struct vp_health *h = &ev->ix;
	if (h->nseg <= VP_RULE_SEGMENTS_MAX || h->seg_max == 0 ||
	    (double)h->seg_min >= VP_RULE_SEG_SMALL * (double)h->seg_max)
		return 0;
	snprintf(f->evidence, sizeof f->evidence,
		 "%zu segments, %llu to %llu vectors: every query searches each one",
		 h->nseg, (unsigned long long)h->seg_min, (unsigned long long)h->seg_max);
	{
		char params[128] = "";
		for (int i = 0; i < VP_P_COUNT; i++)
			if (vp_param_defs[i].stage == VP_STAGE_BUILD && h->params[i] &&
			    (vp_param_defs[i].types & VP_T(h->type))) {
				size_t l = strlen(params);
				char v[32];
				snprintf(params + l, sizeof params - l, " -p %s=%s", vp_param_defs[i].name,
					 vp_param_str(i, h->params[i], v, sizeof v));
			}
		if (h->type == VP_TYPE_IVF_SQ8)
			snprintf(f->action, sizeof f->action,
				 "rebuild as one segment from all the vectors: vp-build -t %s%s -o %.200s "
				 "VECTORS (keep the input vectors: this file holds codes, not vectors)",
				 vp_index_type_name(h->type), params, path_or(ev->index_path, "INDEX"));
		else
			/* the index keeps its originals: compaction merges */
			snprintf(f->action, sizeof f->action,
				 "merge them into one segment: vp-build --compact%s %.200s",
				 h->type == VP_TYPE_FLAT || h->type == VP_TYPE_HNSW ? "" : " --retrain",
				 path_or(ev->index_path, "INDEX"));
	}
	/* a graph search costs about log n per segment, a scan n: more, smaller
	 * segments cost most in graphs (51 HNSW segments of Fashion-MNIST
	 * searched 24x slower than one; IVF pays a coarse step per segment) */
	f->gain = h->type == VP_TYPE_HNSW ? 0.5 * (double)h->nseg : 1 + 0.05 * (double)h->nseg;
	return 1;
}

static int r_ivf(const struct vp_evidence *ev, struct vp_finding *f)
{
	const struct vp_health *h = &ev->ix;
	double per = h->nlist ? (double)h->count / (double)h->nlist : 0;
	double skew = h->list_mean > 0 ? (double)h->list_max / h->list_mean : 0;
	uint64_t want = 1;
	if (!h->nlist || (per >= VP_RULE_LIST_MIN && skew <= VP_RULE_LIST_SKEW &&
			  (double)h->lists_empty <= VP_RULE_EMPTY_LISTS * (double)h->nlist))
		return 0;
	/* about sqrt(n) lists, a power of two, at least VP_RULE_LIST_MIN rows each */
	while (want * 2 <= (uint64_t)sqrt((double)h->count) * 1.5 &&
	       (double)h->count / (double)(want * 2) >= 4 * VP_RULE_LIST_MIN)
		want *= 2;
	snprintf(f->evidence, sizeof f->evidence,
		 "%zu lists for %llu vectors: %.1f per list, largest %.1fx the mean, %llu empty",
		 h->nlist, (unsigned long long)h->count, per, skew,
		 (unsigned long long)h->lists_empty);
	/* a retrain needs the rows: IVF_SQ8 and SCANN without its
	 * originals keep only codes */
	int rows = h->type != VP_TYPE_IVF_SQ8 &&
		   (h->type != VP_TYPE_SCANN || h->params[VP_P_KEEP] == VP_SCANN_KEEP_ORIGINALS);
	if (h->deleted && rows && skew > VP_RULE_LIST_SKEW)
		/* the lists were balanced until deletes emptied some: new
		 * centroids from the live rows */
		snprintf(f->action, sizeof f->action,
			 "retrain on the live rows: vp-build --compact --retrain %.200s",
			 path_or(ev->index_path, "INDEX"));
	else
		snprintf(f->action, sizeof f->action,
			 "rebuild with -p nlist=%llu (about sqrt(n)), or vp-tune to choose it",
			 (unsigned long long)want);
	f->gain = per < VP_RULE_LIST_MIN ? VP_RULE_LIST_MIN / (per > 1 ? per : 1) : skew / 2;
	if (f->gain < 1.1)
		f->gain = 1.1;
	return 1;
}

static int r_deleted(const struct vp_evidence *ev, struct vp_finding *f)
{
	const struct vp_health *h = &ev->ix;
	double frac = h->count ? (double)h->deleted / (double)h->count : 0;
	if (frac <= VP_RULE_DELETED)
		return 0;
	snprintf(f->evidence, sizeof f->evidence,
		 "%llu of %llu rows deleted (%.0f%%): searches still read them",
		 (unsigned long long)h->deleted, (unsigned long long)h->count, 100 * frac);
	snprintf(f->action, sizeof f->action,
		 "write the live rows only: vp-build --compact %.200s",
		 path_or(ev->index_path, "INDEX"));
	/* a scan reads the deleted rows, a walk steps through them */
	f->gain = 1 / (1 - (frac < 0.9 ? frac : 0.9));
	return 1;
}

static int r_cache(const struct vp_evidence *ev, struct vp_finding *f)
{
	if (!ev->cache_used || ev->cache_lookups < VP_RULE_CACHE_MIN_LOOKUPS ||
	    ev->cache_hit_rate >= VP_RULE_CACHE_MIN_HIT)
		return 0;
	snprintf(f->evidence, sizeof f->evidence, "result-cache hit rate %.1f%% over %llu lookups",
		 100 * ev->cache_hit_rate, (unsigned long long)ev->cache_lookups);
	snprintf(f->action, sizeof f->action,
		 "drop --cache: the queries do not repeat, and each miss pays a lookup and a store");
	f->gain = 1.05;
	return 1;
}

static int r_unreachable(const struct vp_evidence *ev, struct vp_finding *f)
{
	const struct vp_health *h = &ev->ix;
	if (h->type != VP_TYPE_HNSW || !h->unreachable)
		return 0;
	snprintf(f->evidence, sizeof f->evidence,
		 "%llu of %llu level-0 nodes cannot be reached from the entry point",
		 (unsigned long long)h->unreachable, (unsigned long long)h->count);
	snprintf(f->action, sizeof f->action,
		 "rebuild with a larger M or efConstruction (now M=%lld, efConstruction=%lld)",
		 (long long)h->params[VP_P_HNSW_M], (long long)h->params[VP_P_EFC]);
	f->gain = 1 + 10 * (double)h->unreachable / (double)(h->count ? h->count : 1);
	/* pruning leaves a few nodes unreachable in most HNSW graphs */
	if ((double)h->unreachable <= VP_RULE_UNREACH_WARN * (double)h->count)
		f->severity = VP_SEV_INFO;
	return 1;
}

static int r_degree(const struct vp_evidence *ev, struct vp_finding *f)
{
	const struct vp_health *h = &ev->ix;
	if (h->type != VP_TYPE_HNSW || !h->degree_cap ||
	    (!h->degree_zero && h->degree_mean >= h->degree_cap / 4.0))
		return 0;
	snprintf(f->evidence, sizeof f->evidence,
		 "level-0 degree mean %.1f of %u, %llu nodes without links", h->degree_mean,
		 h->degree_cap, (unsigned long long)h->degree_zero);
	snprintf(f->action, sizeof f->action,
		 "look for duplicate or degenerate vectors; rebuild with a larger efConstruction");
	f->gain = 1.05;
	return 1;
}

static int r_dups(const struct vp_evidence *ev, struct vp_finding *f)
{
	const struct vp_health *h = &ev->ix;
	if (!h->rows_checked || (double)h->dup_rows <= VP_RULE_DUP_FRACTION * (double)h->rows_checked)
		return 0;
	snprintf(f->evidence, sizeof f->evidence, "%llu of %llu rows are exact duplicates",
		 (unsigned long long)h->dup_rows, (unsigned long long)h->rows_checked);
	snprintf(f->action, sizeof f->action,
		 "deduplicate the input (sort -u on the rows, or filter by id upstream): "
		 "duplicates take result slots and crowd graph links");
	f->gain = 1 + (double)h->dup_rows / (double)h->rows_checked;
	return 1;
}

const struct vp_rule vp_rules[] = {
	{ "memory-pressure", NULL, VP_SEV_CRITICAL,
	  "index size; cgroup memory limit, else MemTotal",
	  "index > 80% of the limit",
	  "the page cache cannot keep it: every query waits on the disk", r_memory },
	{ "index-not-resident", "memory-pressure", VP_SEV_WARNING,
	  "major faults during the run; residency before it (mincore); p99/p50",
	  "residency < 90% before the run and up by >= 5 points during it, or >= 8 major faults and >= 0.1 a query",
	  "a query that faults waits for the disk: the tail grows by orders of magnitude",
	  r_not_resident },
	{ "cpu-quota", NULL, VP_SEV_WARNING,
	  "threads requested; cgroup cpu.max (v2) or cfs quota (v1)",
	  "throughput mode, threads > the quota rounded up",
	  "the kernel stops the cgroup when the quota is spent: threads stall together",
	  r_quota },
	{ "threads-oversubscribed", "cpu-quota", VP_SEV_WARNING,
	  "threads requested; CPUs of the affinity mask; involuntary switches",
	  "throughput mode, threads > allowed CPUs",
	  "threads preempt each other and lose their caches", r_oversub },
	{ "simd-capped", NULL, VP_SEV_WARNING,
	  "SIMD level of the kernels in use; the best the CPU has",
	  "in use < the CPU's best (VP_SIMD set)",
	  "each distance costs 1.3x (AVX2 on AVX-512) to 4x (portable) more", r_simd },
	{ "recall-below-target", NULL, VP_SEV_WARNING,
	  "recall of each run; --target-recall; the recall curve vp-diag measures with -i",
	  "best recall < target",
	  "the answers are not the ones asked for", r_recall },
	{ "segments-fragmented", NULL, VP_SEV_WARNING,
	  "segment count and sizes",
	  "> 8 segments and smallest < 25% of largest",
	  "each query searches every segment: small ones cost as much as large", r_segments },
	{ "ivf-imbalanced", NULL, VP_SEV_WARNING,
	  "IVF list sizes",
	  "< 39 vectors a list, largest > 8x the mean, or > 5% empty",
	  "tiny lists cost a probe each for few vectors; huge ones dominate the scan", r_ivf },
	{ "deleted-rows", NULL, VP_SEV_WARNING,
	  "tombstones of every segment",
	  "> 10% of the rows deleted",
	  "searches still read and step through deleted rows", r_deleted },
	{ "cache-ineffective", NULL, VP_SEV_WARNING,
	  "result-cache lookups and hit rate",
	  ">= 1000 lookups, hit rate < 5%",
	  "a cache of queries that never repeat only adds a lookup and a store", r_cache },
	{ "hnsw-unreachable", NULL, VP_SEV_WARNING,
	  "breadth-first walk of level 0 from the entry point",
	  "any node unreachable (a warning above 1%)",
	  "a node the search cannot reach is never returned", r_unreachable },
	{ "hnsw-degree", NULL, VP_SEV_INFO,
	  "level-0 degrees",
	  "a node without links, or mean degree < 1/4 of the cap",
	  "sparse links lower recall per distance computed", r_degree },
	{ "duplicate-vectors", NULL, VP_SEV_INFO,
	  "hashes of the stored vectors",
	  "> 1% exact duplicate rows",
	  "duplicates fill result slots with the same answer", r_dups },
};
const size_t vp_nrules = sizeof vp_rules / sizeof vp_rules[0];

static const struct vp_rule *rule_by_id(const char *id)
{
	for (size_t i = 0; i < vp_nrules; i++)
		if (!strcmp(vp_rules[i].id, id))
			return &vp_rules[i];
	return NULL;
}

size_t vp_rules_run(const struct vp_evidence *ev, struct vp_finding *out, size_t cap)
{
	struct vp_finding all[64];
	const struct vp_rule *root[64];
	int used[64] = { 0 };
	size_t n = 0, w = 0;

	for (size_t i = 0; i < vp_nrules && n < 64; i++) {
		memset(&all[n], 0, sizeof all[n]);
		if (vp_rules[i].check(ev, &all[n])) {
			all[n].rule = &vp_rules[i];
			if (!all[n].severity)
				all[n].severity = vp_rules[i].severity;
			n++;
		}
	}
	/* a symptom whose cause fired belongs to the cause's group */
	for (size_t i = 0; i < n; i++) {
		root[i] = all[i].rule;
		if (all[i].rule->cause)
			for (size_t j = 0; j < n; j++)
				if (all[j].rule == rule_by_id(all[i].rule->cause))
					root[i] = all[j].rule;
	}
	/* groups in order of their worst severity, then their largest gain */
	while (w < cap) {
		int best = -1, bsev = -1;
		double bgain = 0;
		for (size_t i = 0; i < n; i++) {
			int sev = 0;
			double gain = 0;
			if (used[i] || root[i] != all[i].rule)
				continue;
			for (size_t j = 0; j < n; j++)
				if (root[j] == all[i].rule) {
					sev = all[j].severity > sev ? all[j].severity : sev;
					gain = all[j].gain > gain ? all[j].gain : gain;
				}
			if (sev > bsev || (sev == bsev && gain > bgain)) {
				best = (int)i;
				bsev = sev;
				bgain = gain;
			}
		}
		if (best < 0)
			break;
		used[best] = 1;
		all[best].root = all[best].rule;
		out[w++] = all[best];
		for (size_t j = 0; j < n && w < cap; j++)
			if (!used[j] && root[j] == all[best].rule) {
				used[j] = 1;
				all[j].root = root[j];
				out[w++] = all[j];
			}
	}
	return w;
}

int vp_rules_worst(const struct vp_finding *f, size_t n)
{
	int w = VP_SEV_OK;
	for (size_t i = 0; i < n; i++)
		w = f[i].severity > w ? f[i].severity : w;
	return w;
}

/* ---------------------------------------------------------- recall curve */

static int recall_at(struct vp_searcher *s, const float *q, size_t nq, const int32_t *gt,
		     size_t gd, size_t k, int pid, int64_t v, int threads, float *dist,
		     int64_t *ids, double *r, struct vp_error *err)
{
	struct vp_param_set ps;
	int rc;
	vp_params_defaults(&ps);
	ps.val[pid] = v;
	ps.set |= 1u << pid;
	if ((rc = vp_searcher_search(s, q, nq, k, &ps, threads, dist, ids, err)) < 0)
		return rc;
	*r = vp_recall(ids, nq, k, gt, gd);
	return 0;
}

int vp_rules_recall_curve(struct vp_searcher *s, const float *q, size_t nq,
			  const int32_t *gt, size_t gd, size_t k, double target,
			  int64_t start, int threads, const char **key, int64_t *value,
			  double *recall, struct vp_error *err)
{
	int type = (int)s->ix.hdr.type, pid;
	const struct vp_family *fam = vp_family_of(type);
	int64_t v, hi, lo = 0;
	float *dist;
	int64_t *ids;
	int rc = 0;

	/* the family's recall setting: ef, nprobe, or none (FLAT) */
	if (!fam || (pid = fam->sweep_param) < 0)
		return vp_seterr(err, VP_E_UNSUPP, "%s: %s search has no recall setting",
				 s->ix.path, vp_index_type_name(type));
	*key = vp_param_defs[pid].name;
	hi = vp_param_defs[pid].max;
	if (pid == VP_P_NPROBE && s->nseg && s->seg[0].ivf.nlist && (int64_t)s->seg[0].ivf.nlist < hi)
		hi = (int64_t)s->seg[0].ivf.nlist;
	v = start > vp_param_defs[pid].min ? start : vp_param_defs[pid].min;
	dist = malloc(nq * k * sizeof *dist);
	ids = malloc(nq * k * sizeof *ids);
	if (!dist || !ids) {
		free(dist);
		free(ids);
		return vp_seterr(err, VP_E_NOMEM, "out of memory");
	}
	*value = v;
	*recall = 0;
	for (;;) {
		double r;
		if ((rc = recall_at(s, q, nq, gt, gd, k, pid, v, threads, dist, ids, &r, err)) < 0)
			break;
		*value = v;
		*recall = r;
		if (r >= target + VP_RULE_CURVE_MARGIN || (r >= target && v >= hi)) {
			rc = 1;
			break;
		}
		if (v >= hi) {
			rc = 0;
			break;
		}
		lo = v;
		/* steps of ~1.4x: recall rises steeply near the knee */
		v = v + (v * 2 + 4) / 5 > hi ? hi : v + (v * 2 + 4) / 5;
	}
	/* then bisect between the last value that missed and the first that
	 * reached it, to within ~5%: the cheapest setting that does */
	while (rc == 1 && lo > 0 && *value - lo > 1 && *value - lo > lo / 20) {
		int64_t mid = lo + (*value - lo) / 2;
		double r;
		int e = recall_at(s, q, nq, gt, gd, k, pid, mid, threads, dist, ids, &r, err);
		if (e < 0) {
			rc = e;
			break;
		}
		if (r >= target + VP_RULE_CURVE_MARGIN) {
			*value = mid;
			*recall = r;
		} else
			lo = mid;
	}
	free(dist);
	free(ids);
	return rc;
}
