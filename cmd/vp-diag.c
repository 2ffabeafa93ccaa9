/* vp-diag: inspect an index (header, sections, checksums, vector
 * statistics) or the machine (--system); exit 1 when a problem is found. */
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "vp_alog.h"
#include "vp_cli.h"
#include "vp_edit.h"
#include "vp_family.h"
#include "vp_json.h"
#include "vp_rules.h"
#include "vp_search.h"

static void usage(void)
{
	printf("usage: %s [options] [-i] INDEX\n"
	       "       %s --check RUN.json [-i INDEX] [--target-recall R] [--json]\n"
	       "       %s --health [--json] INDEX\n"
	       "       %s --system\n"
	       "Inspect an index: header, sections, checksums, vector statistics and\n"
	       "the health rules (IVF list balance, HNSW reachability and degrees,\n"
	       "duplicate vectors, segments).  With --check, diagnose a recorded run\n"
	       "(vp-bench --json): root causes and what to change, ranked.  With\n"
	       "--system, describe the machine as vp sees it.\n\n"
	       "  -i, --index INDEX    the index (also as the last argument)\n"
	       "      --check RUN.json  run the rules over a vp-bench --json result; with\n"
	       "                       -i, also over the index, and measure the setting\n"
	       "                       that reaches --target-recall on the run's queries\n"
	       "      --target-recall R  the recall@k the run should reach (0..1)\n"
	       "      --health         only the index rules, like --check without a run:\n"
	       "                       exit 1 on a finding at warning level (a plain\n"
	       "                       report lists them, its exit status is integrity)\n"
	       "      --residency      page-cache residency of INDEX, per section (mincore)\n"
	       "      --rules          list the rules: id, severity, what each reads and\n"
	       "                       when it fires\n"
	       "      --system         CPU and its microarchitecture, caches, NUMA nodes,\n"
	       "                       SIMD level and kernels in use, memory, affinity,\n"
	       "                       cgroup limits, huge pages, limits, default threads\n"
	       "      --json           with --system, --check or --health: as JSON (schemas\n"
	       "                       vp-diag-system/1, vp-diag-check/1)\n"
	       "      --access-log FILE  summarise an access log of vp-search\n"
	       "      --no-verify      skip the section checksums (fast)\n"
	       "      --no-stats       skip the vector statistics\n"
	       "  -h, --help           this help\n"
	       "  -V, --version        print the version\n\n"
	       "Exit status: 0 no problem found, 1 a problem found (checksum\n"
	       "mismatch, NaN vectors; with --check or --health a finding at warning\n"
	       "level or above), 2 usage,\n"
	       "3 not a valid index or run file, 4 I/O error.\n",
	       vp_prog, vp_prog, vp_prog, vp_prog);
}

/* Access-log summary: records, queries, the time span, and the most
 * touched lists or regions per kind. */
struct alog_sum {
	uint64_t records, items, maxq, kinds[7], item_bytes, queries, rows;
	uint64_t t_min, t_max;
	uint32_t maxseg, shift;
	uint64_t *count; /* per (kind, item) for items < 65536: IVF, HNSW */
};

static void alog_add(void *ctx, uint32_t query, uint16_t seg, uint16_t kind,
		     const uint32_t *items, uint32_t n)
{
	struct alog_sum *s = ctx;
	uint32_t first = 0;
	int slot = kind == VP_ALOG_IVF ? 1 : kind == VP_ALOG_HNSW || kind == VP_ALOG_HNSW_REGIONS ? 2 : -1;
	s->records++;
	if (kind < 7)
		s->kinds[kind]++;
	if (kind == VP_ALOG_TIME) {
		uint64_t t = n >= 2 ? items[0] | (uint64_t)items[1] << 32 : 0;
		if (t && (!s->t_min || t < s->t_min))
			s->t_min = t;
		if (t > s->t_max)
			s->t_max = t;
		return;
	}
	if (kind == VP_ALOG_QUERY) {
		s->queries++;
		return;
	}
	if (kind == VP_ALOG_ROWS)
		s->rows += n;
	s->items += n;
	if (query + 1ull > s->maxq)
		s->maxq = query + 1ull;
	if (seg > s->maxseg)
		s->maxseg = seg;
	if (slot < 0)
		return;
	if (!s->count)
		s->count = calloc(3 * 65536, sizeof *s->count);
	if (kind == VP_ALOG_HNSW_REGIONS && n) {
		s->shift = items[0];
		first = 1;
	}
	for (uint32_t i = first; i < n && s->count; i++) {
		uint32_t it = kind == VP_ALOG_HNSW ? items[i] / VP_ALOG_REGION : items[i];
		if (it < 65536)
			s->count[slot * 65536 + it]++;
	}
}

static void alog_report(const char *path, struct alog_sum *s, long n)
{
	static const char *const kn[3] = { "flat", "ivf list", "hnsw region" };
	uint64_t kc[3];
	struct stat st;
	kc[0] = s->kinds[VP_ALOG_FLAT];
	kc[1] = s->kinds[VP_ALOG_IVF];
	kc[2] = s->kinds[VP_ALOG_HNSW] + s->kinds[VP_ALOG_HNSW_REGIONS];
	printf("access log     %s\n", path);
	printf("records        %ld (queries up to %llu, segments %u)\n", n,
	       (unsigned long long)s->maxq, s->records ? s->maxseg + 1 : 0);
	if (!stat(path, &st) && s->maxq)
		printf("cost           %.0f bytes a query on disk (LZ4), %.1f items a query\n",
		       (double)st.st_size / (double)s->maxq, (double)s->items / (double)s->maxq);
	if (s->t_min) {
		char a[32], b[32];
		time_t t0 = (time_t)s->t_min, t1 = (time_t)s->t_max;
		struct tm tm0, tm1;
		strftime(a, sizeof a, "%Y-%m-%d %H:%M:%S", gmtime_r(&t0, &tm0) ? &tm0 : &tm1);
		strftime(b, sizeof b, "%Y-%m-%d %H:%M:%S", gmtime_r(&t1, &tm1) ? &tm1 : &tm0);
		printf("time           %s to %s UTC\n", a, b);
	}
	if (s->queries)
		printf("query vectors  %llu (--log-queries)\n", (unsigned long long)s->queries);
	if (s->kinds[VP_ALOG_HNSW_REGIONS])
		printf("hnsw regions   %u nodes each\n", 1u << s->shift);
	if (s->kinds[VP_ALOG_ROWS])
		printf("rows read      %llu records, %.1f rows a record (floats read one by one; a batch by list: its results)\n",
		       (unsigned long long)s->kinds[VP_ALOG_ROWS],
		       (double)s->rows / (double)s->kinds[VP_ALOG_ROWS]);
	for (int k = 0; k < 3; k++) {
		if (!kc[k])
			continue;
		printf("%-14s %llu records\n", kn[k], (unsigned long long)kc[k]);
		if (k == 0 || !s->count)
			continue;
		/* the ten most touched */
		for (int top = 0; top < 10; top++) {
			uint64_t best = 0;
			uint32_t bi = 0;
			for (uint32_t i = 0; i < 65536; i++)
				if (s->count[k * 65536 + i] > best) {
					best = s->count[k * 65536 + i];
					bi = i;
				}
			if (!best)
				break;
			printf("  %s %-8u %llu\n", kn[k], bi, (unsigned long long)best);
			s->count[k * 65536 + bi] = 0;
		}
	}
}

static void jstr(const char *k, const char *v, int comma)
{
	printf("  \"%s\": ", k);
	vp_json_str(v);
	printf("%s\n", comma ? "," : "");
}

static const char *mib(uint64_t b, char *buf, size_t n)
{
	if (!b)
		snprintf(buf, n, "unknown");
	else if (b >= 1u << 20)
		snprintf(buf, n, "%.1f MiB", (double)b / 1048576.0);
	else
		snprintf(buf, n, "%llu KiB", (unsigned long long)(b >> 10));
	return buf;
}

/* The machine as vp sees it: what explains a slow run. */
static int system_report(int json)
{
	struct vp_sysinfo si;
	char a[32], b[32], c[32];
	vp_sysinfo_get(&si);
	if (json) {
		printf("{\n");
		jstr("schema", "vp-diag-system/1", 1);
		jstr("cpu", si.cpu_model, 1);
		jstr("vendor", si.vendor, 1);
		printf("  \"family\": %d,\n  \"model\": %d,\n", si.family, si.model);
		jstr("microarchitecture", si.uarch, 1);
		printf("  \"cores\": %d,\n  \"l1d_bytes\": %llu,\n  \"l2_bytes\": %llu,\n"
		       "  \"l3_bytes\": %llu,\n", si.cores, (unsigned long long)si.l1d,
		       (unsigned long long)si.l2, (unsigned long long)si.l3);
		printf("  \"numa_nodes\": %d,\n  \"numa_node_memory_bytes\": [", si.numa_nodes);
		for (int n = 0, f = 1; n < 8; n++)
			if (si.node_mem[n]) {
				printf("%s%llu", f ? "" : ", ", (unsigned long long)si.node_mem[n]);
				f = 0;
			}
		printf("],\n");
		printf("  \"memory_bytes\": %llu,\n  \"memory_available_bytes\": %llu,\n",
		       (unsigned long long)si.mem_total, (unsigned long long)si.mem_avail);
		jstr("affinity", si.affinity, 1);
		printf("  \"affinity_cpus\": %d,\n  \"cgroup_cpu_quota\": %.3f,\n"
		       "  \"cgroup_memory_limit_bytes\": %llu,\n", si.affinity_cpus, si.cgroup_cpus,
		       (unsigned long long)si.cgroup_mem);
		jstr("cgroup", si.cgroup_where, 1);
		jstr("simd_cpu", si.simd_cpu, 1);
		jstr("kernels", si.simd_used, 1);
		jstr("transparent_huge_pages", si.thp, 1);
		printf("  \"page_size\": %ld,\n  \"max_map_count\": %ld,\n  \"open_files_limit\": %ld,\n",
		       si.page_size, si.max_map_count, si.nofile);
		printf("  \"default_threads\": %d,\n", si.default_threads);
		jstr("default_threads_why", si.threads_why, 0);
		printf("}\n");
		return 0;
	}
	printf("cpu            %s\n", si.cpu_model[0] ? si.cpu_model : "unknown");
	printf("vendor         %s, family %d, model %d: %s\n", si.vendor[0] ? si.vendor : "unknown",
	       si.family, si.model, si.uarch);
	printf("cores          %d\n", si.cores);
	printf("caches         L1d %s, L2 %s, L3 %s (cpu0)\n", mib(si.l1d, a, sizeof a),
	       mib(si.l2, b, sizeof b), mib(si.l3, c, sizeof c));
	printf("numa           %d node%s", si.numa_nodes, si.numa_nodes == 1 ? "" : "s");
	for (int n = 0; n < 8; n++)
		if (si.node_mem[n])
			printf("%s node%d %.1f GiB", n ? "," : ":", n, (double)si.node_mem[n] / 1073741824.0);
	printf("\n");
	printf("simd (cpu)     %s\n", si.simd_cpu);
	printf("kernels        %s%s\n", si.simd_used,
	       strcmp(si.simd_cpu, si.simd_used) ? " (capped by VP_SIMD)" : "");
	printf("memory         %.1f GiB total, %.1f GiB available\n",
	       (double)si.mem_total / 1073741824.0, (double)si.mem_avail / 1073741824.0);
	printf("affinity       %s (%d CPU%s)\n", si.affinity, si.affinity_cpus,
	       si.affinity_cpus == 1 ? "" : "s");
	if (si.cgroup_cpus > 0)
		printf("cgroup cpu     quota %.2f CPUs (%s)\n", si.cgroup_cpus, si.cgroup_where);
	else
		printf("cgroup cpu     no quota (%s)\n", si.cgroup_where);
	if (si.cgroup_mem)
		printf("cgroup memory  limit %.1f MiB\n", (double)si.cgroup_mem / 1048576.0);
	else
		printf("cgroup memory  no limit\n");
	printf("page size      %ld\n", si.page_size);
	printf("huge pages     %s (transparent)\n", si.thp);
	printf("max_map_count  %ld\n", si.max_map_count);
	if (si.nofile < 0)
		printf("open files     unlimited\n");
	else
		printf("open files     %ld\n", si.nofile);
	printf("threads        %d by default: %s\n", si.default_threads, si.threads_why);
	return 0;
}

/* Page-cache residency per section (mincore): what vp-warmup brought in,
 * and what a cold start lacks. */
static int residency_report(const char *path)
{
	struct vp_index ix;
	struct vp_error err = { 0 };
	long ps = sysconf(_SC_PAGESIZE);
	size_t total = 0;
	long all;
	/* looking must not fault anything in: no huge-page hint */
	vp_hw_set_huge_pages(0);
	if (vp_index_open(&ix, path, &err))
		vp_die_err(&err);
	all = vp_resident_pages(ix.map, ix.size, &total);
	printf("index          %s: %zu pages, %.1f%% resident\n", path, total,
	       total ? 100.0 * (double)all / (double)total : 0.0);
	printf("  %-15s %7s %12s %12s %9s\n", "section", "segment", "offset", "length", "resident");
	for (uint32_t i = 0; i < ix.nsections; i++) {
		const struct vp_section *sc = &ix.sections[i];
		uint64_t a = sc->offset / (uint64_t)ps * (uint64_t)ps;
		size_t np = 0;
		long r = sc->length ? vp_resident_pages(ix.map + a, sc->offset + sc->length - a, &np) : 0;
		printf("  %-15s %7u %12llu %12llu %8.1f%%\n", sc->name, sc->segment,
		       (unsigned long long)sc->offset, (unsigned long long)sc->length,
		       np ? 100.0 * (double)r / (double)np : 100.0);
	}
	vp_index_close(&ix);
	vp_close_stdout();
	return 0;
}

static void list_rules(void)
{
	printf("%-24s %-8s %-24s %s\n", "rule", "severity", "part of (cause)", "fires when");
	for (size_t i = 0; i < vp_nrules; i++)
		printf("%-24s %-8s %-24s %s\n", vp_rules[i].id, vp_severity_name(vp_rules[i].severity),
		       vp_rules[i].cause ? vp_rules[i].cause : "-", vp_rules[i].threshold);
}

static void print_health(const struct vp_health *h)
{
	if (h->nlist)
		printf("ivf lists      %zu, mean %.1f vectors, largest %llu (%.1fx the mean), %llu empty\n",
		       h->nlist, h->list_mean, (unsigned long long)h->list_max,
		       h->list_mean > 0 ? (double)h->list_max / h->list_mean : 0.0,
		       (unsigned long long)h->lists_empty);
	if (h->degree_cap)
		printf("hnsw level 0   mean degree %.1f of %u, %llu without links, %llu unreachable "
		       "from the entry point\n", h->degree_mean, h->degree_cap,
		       (unsigned long long)h->degree_zero, (unsigned long long)h->unreachable);
	if (h->rows_checked)
		printf("duplicates     %llu of %llu rows\n", (unsigned long long)h->dup_rows,
		       (unsigned long long)h->rows_checked);
}

static void print_findings(const struct vp_finding *f, size_t n)
{
	if (!n) {
		printf("findings       none\n");
		return;
	}
	printf("findings       %zu (worst: %s)\n", n, vp_severity_name(vp_rules_worst(f, n)));
	for (size_t i = 0; i < n; i++) {
		int sym = f[i].root && f[i].root != f[i].rule;
		printf("%2zu. %-22s [%s]%s%s\n", i + 1, f[i].rule->id,
		       vp_severity_name(f[i].severity), sym ? "  a symptom of " : "",
		       sym ? f[i].root->id : "");
		printf("    evidence   %s\n", f[i].evidence);
		printf("    why        %s\n", f[i].rule->why);
		printf("    do         %s\n", f[i].action);
		printf("    expected   %.2fx\n", f[i].gain);
	}
}

/* The setting that reaches the target, measured on every other query of
 * the run (up to 500) from the best run's value up. */
static void measure_curve(struct vp_evidence *ev, struct vp_searcher *s, int at)
{
	struct vp_error err = { 0 };
	float *q, *half;
	int32_t *gt, *ghalf;
	size_t nq, ngt, nh = 0;
	uint32_t qd, gd;
	int64_t start = 0;
	const char *key = NULL;
	const char *eq = strchr(ev->runs[at].param, '=');

	if (vp_read_all(ev->queries_path, VP_FMT_AUTO, &q, &nq, &qd, &err) ||
	    vp_read_all_ints(ev->gt_path, VP_FMT_AUTO, &gt, &ngt, &gd, &err)) {
		vp_warn("%s; recall curve not measured", err.msg);
		return;
	}
	if (qd != s->ix.hdr.dim || gd < ev->k || !ev->k || ngt < nq) {
		vp_warn("%s, %s: do not match the index; recall curve not measured",
			ev->queries_path, ev->gt_path);
		free(q);
		free(gt);
		return;
	}
	half = malloc(500 * (size_t)qd * sizeof *half);
	ghalf = malloc(500 * (size_t)gd * sizeof *ghalf);
	for (size_t i = 0; half && ghalf && i < nq && nh < 500; i += 2, nh++) {
		memcpy(half + nh * qd, q + i * qd, qd * sizeof *q);
		memcpy(ghalf + nh * gd, gt + i * gd, gd * sizeof *gt);
	}
	if (eq)
		start = strtoll(eq + 1, NULL, 10);
	if (half && ghalf && nh) {
		int rc = vp_rules_recall_curve(s, half, nh, ghalf, gd, ev->k, ev->target_recall, start,
					       vp_default_threads(), &key, &ev->curve_value,
					       &ev->curve_recall, &err);
		if (rc < 0)
			vp_warn("%s; recall curve not measured", err.msg);
		else
			snprintf(ev->curve_key, sizeof ev->curve_key, "%s", key);
	}
	free(half);
	free(ghalf);
	free(q);
	free(gt);
}

/* --check: the rules over a recorded run, and the index when given. */
static int run_check(const char *runpath, const char *ipath, double target, int json)
{
	static struct vp_evidence ev;
	struct vp_finding f[32];
	struct vp_error err = { 0 };
	struct vp_searcher s;
	char *text;
	size_t len, nf;
	int worst, have_s = 0;

	memset(&ev, 0, sizeof ev);
	if (runpath) {
		if (vp_read_text(runpath, 256u << 20, &text, &len, &err))
			vp_die_err(&err);
		if (vp_evidence_from_json(&ev, text, len, runpath, &err))
			vp_die_err(&err);
		free(text);
	}
	ev.target_recall = target;
	if (ipath) {
		if (vp_searcher_open(&s, ipath, 0, &err))
			vp_die_err(&err);
		have_s = 1;
		if (vp_health_measure(&s, &ev.ix, &err))
			vp_die_err(&err);
		ev.have_index = 1;
		snprintf(ev.index_path, sizeof ev.index_path, "%s", ipath);
	}
	/* below target: measure the setting that reaches it, on half the run's
	 * queries (every other one), so the advice is not fitted to them all */
	if (have_s && target > 0 && ev.nruns && ev.queries_path[0] && ev.gt_path[0]) {
		int at = 0;
		double best = -1;
		for (int r = 0; r < ev.nruns; r++)
			if (ev.runs[r].recall > best) {
				best = ev.runs[r].recall;
				at = r;
			}
		if (best < target)
			measure_curve(&ev, &s, at);
	}
	nf = vp_rules_run(&ev, f, 32);
	worst = vp_rules_worst(f, nf);
	if (json) {
		printf("{\n  \"schema\": \"vp-diag-check/1\",\n  \"run\": ");
		vp_json_str(runpath ? runpath : "");
		printf(",\n  \"index\": ");
		vp_json_str(ev.index_path);
		printf(",\n  \"target_recall\": %.6f,\n  \"worst\": \"%s\",\n  \"findings\": [",
		       target, vp_severity_name(worst));
		for (size_t i = 0; i < nf; i++) {
			printf("%s\n    {\"rule\": \"%s\", \"severity\": \"%s\", \"cause\": \"%s\", "
			       "\"evidence\": ", i ? "," : "", f[i].rule->id,
			       vp_severity_name(f[i].severity),
			       f[i].root ? f[i].root->id : f[i].rule->id);
			vp_json_str(f[i].evidence);
			printf(", \"action\": ");
			vp_json_str(f[i].action);
			printf(", \"expected_gain\": %.3f}", f[i].gain);
		}
		printf("%s]\n}\n", nf ? "\n  " : "");
	} else {
		if (runpath)
			printf("run            %s: %s %s, %zu queries, k=%zu, %s mode, %d thread%s\n",
			       runpath, ev.ix.type > 0 ? vp_index_type_name(ev.ix.type) : "?",
			       ev.index_path, ev.nq, ev.k, ev.mode[0] ? ev.mode : "?", ev.threads,
			       ev.threads == 1 ? "" : "s");
		else
			printf("index          %s: %s, %llu x %u, %zu segment%s\n", ev.index_path,
			       vp_index_type_name(ev.ix.type), (unsigned long long)ev.ix.count,
			       ev.ix.dim, ev.ix.nseg, ev.ix.nseg == 1 ? "" : "s");
		if (!runpath)
			print_health(&ev.ix);
		if (target > 0)
			printf("target recall  %.4f\n", target);
		print_findings(f, nf);
		if (!nf)
			printf("healthy        no rule fired\n");
	}
	if (have_s)
		vp_searcher_close(&s);
	vp_close_stdout();
	return worst >= VP_SEV_WARNING ? VP_EXIT_NEGATIVE : 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "system", no_argument, NULL, 'S' },
		{ "json", no_argument, NULL, 'J' },
		{ "no-verify", no_argument, NULL, 'N' },
		{ "no-stats", no_argument, NULL, 'T' },
		{ "access-log", required_argument, NULL, 'L' },
		{ "index", required_argument, NULL, 'i' },
		{ "check", required_argument, NULL, 'C' },
		{ "target-recall", required_argument, NULL, 'R' },
		{ "rules", no_argument, NULL, 'U' },
		{ "health", no_argument, NULL, 'H' },
		{ "residency", no_argument, NULL, 'Y' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int sys = 0, verify = 1, stats = 1, c, problems = 0, json = 0;
	const char *alog = NULL, *ipath = NULL, *runpath = NULL;
	double target = 0;
	int health = 0, residency = 0;
	struct vp_index ix;
	struct vp_error err = { 0 };
	const char *path;
	time_t created;
	struct vp_searcher osr;
	int have_sr = 0;
	char when[64];

	vp_cli_init(argc, argv);
	while ((c = getopt_long(argc, argv, "i:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'S': sys = 1; break;
		case 'J': json = 1; break;
		case 'N': verify = 0; break;
		case 'T': stats = 0; break;
		case 'L': alog = optarg; break;
		case 'i': ipath = optarg; break;
		case 'C': runpath = optarg; break;
		case 'R': target = vp_opt_double("--target-recall", optarg, 0, 1); break;
		case 'U': list_rules(); vp_close_stdout(); return 0;
		case 'H': health = 1; break;
		case 'Y': residency = 1; break;
		case 'h': usage(); vp_close_stdout(); return 0;
		case 'V': vp_version();
		default: vp_usage_error("bad option");
		}
	}
	if (alog) {
		struct alog_sum sum = { 0 };
		long n;
		if (optind < argc)
			vp_usage_error("--access-log takes no INDEX");
		n = vp_alog_read(alog, alog_add, &sum, &err);
		if (n < 0)
			vp_die_err(&err);
		alog_report(alog, &sum, n);
		free(sum.count);
		vp_close_stdout();
		return 0;
	}
	if (ipath && optind < argc)
		vp_usage_error("the index is given twice (-i and '%s')", argv[optind]);
	if (residency) {
		if (!ipath && optind < argc)
			ipath = argv[optind++];
		if (!ipath || optind < argc || runpath || health || sys)
			vp_usage_error("--residency takes one INDEX and nothing else");
		return residency_report(ipath);
	}
	if (health && !runpath) {
		if (!ipath && optind < argc)
			ipath = argv[optind++];
		if (!ipath || optind < argc)
			vp_usage_error("--health takes one INDEX");
		if (target > 0)
			vp_usage_error("--target-recall goes with --check");
		return run_check(NULL, ipath, 0, json);
	}
	if (runpath) {
		if (sys)
			vp_usage_error("--check and --system are separate reports");
		if (!ipath && optind < argc)
			ipath = argv[optind++];
		if (optind < argc)
			vp_usage_error("unexpected argument '%s'", argv[optind]);
		return run_check(runpath, ipath, target, json);
	}
	if (target > 0)
		vp_usage_error("--target-recall goes with --check");
	if (json && !sys)
		vp_usage_error("--json goes with --system, --check or --health");
	if (sys) {
		if (optind < argc)
			vp_usage_error("--system takes no INDEX");
		system_report(json);
		vp_close_stdout();
		return 0;
	}
	if (ipath)
		path = ipath;
	else if (optind + 1 != argc)
		vp_usage_error("expected one INDEX");
	else
		path = argv[optind];
	if (vp_index_open(&ix, path, &err))
		vp_die_err(&err);
	created = (time_t)ix.hdr.created;
	memset(&osr, 0, sizeof osr);
	{
		/* a creation time gmtime cannot represent is shown as a number */
		struct tm tmv, *tm = gmtime_r(&created, &tmv);
		if (tm)
			strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", tm);
		else
			snprintf(when, sizeof when, "at an unrepresentable time (%lld)",
				 (long long)ix.hdr.created);
	}
	printf("index          %s\n", path);
	printf("format         %u.%u\n", ix.hdr.major, ix.hdr.minor);
	printf("type           %s\n", vp_index_type_name((int)ix.hdr.type));
	printf("metric         %s\n", vp_metric_name((int)ix.hdr.metric));
	printf("vectors        %llu x %u\n", (unsigned long long)ix.hdr.count, ix.hdr.dim);
	printf("file size      %zu bytes (%.1f MB; raw vectors %.1f MB)\n", ix.size,
	       (double)ix.size / 1e6, (double)ix.hdr.count * ix.hdr.dim * 4 / 1e6);
	printf("built          %s in %.3f s, seed %llu\n", when,
	       (double)ix.hdr.build_usec / 1e6, (unsigned long long)ix.hdr.seed);
	{
		/* what opening for search checks per index type (lists against
		 * codebooks, graph levels against counts): a file vp-search
		 * refuses is a problem here too */
		struct vp_error e2 = { 0 };
		if (vp_searcher_open(&osr, path, 0, &e2)) {
			printf("structure      %s\n", e2.msg);
			problems++;
		} else {
			uint64_t live = vp_edit_nlive(&osr);
			printf("structure      ok (opens for search)\n");
			have_sr = 1;
			if (live != ix.hdr.count)
				printf("deleted        %llu of %llu rows (%.1f%%), %llu live: "
				       "vp-build --compact reclaims them\n",
				       (unsigned long long)(ix.hdr.count - live),
				       (unsigned long long)ix.hdr.count,
				       100.0 * (double)(ix.hdr.count - live) / (double)ix.hdr.count,
				       (unsigned long long)live);
		}
	}
	{
		struct vp_segment_meta *metas;
		long nseg = vp_index_segments(&ix, &metas, &err);
		if (nseg < 0) {
			printf("segments       unreadable\n");
			vp_warn("%s", err.msg);
			problems++;
		} else {
			printf("segments       %ld\n", nseg);
			for (long g = 0; g < nseg; g++) {
				const struct vp_segment *sg = have_sr && (size_t)g < osr.nseg ?
							      &osr.seg[g] : NULL;
				if (nseg == 1 && (!sg || (!sg->ext && !sg->ndead)))
					break;
				if (sg && sg->ext) {
					/* an id map: shards, upserts, compacted indexes */
					int64_t lo = INT64_MAX, hi = -1;
					for (uint64_t r = 0; r < sg->meta.count; r++) {
						lo = sg->ext[r] < lo ? sg->ext[r] : lo;
						hi = sg->ext[r] > hi ? sg->ext[r] : hi;
					}
					printf("  segment %-4ld %llu rows, ids %lld..%lld (id map)", g,
					       (unsigned long long)metas[g].count, (long long)lo,
					       (long long)hi);
				} else
					printf("  segment %-4ld ids %llu..%llu", g,
					       (unsigned long long)metas[g].id_base,
					       (unsigned long long)(metas[g].id_base + metas[g].count - 1));
				if (sg && sg->ndead)
					printf(", %llu deleted", (unsigned long long)sg->ndead);
				printf(", built in %.3f s\n", (double)metas[g].build_usec / 1e6);
			}
			free(metas);
		}
		if (have_sr) {
			vp_searcher_close(&osr);
			have_sr = 0;
		}
	}
	{
		/* every build parameter of the type, from the table */
		int any = 0;
		for (int i = 0; i < VP_P_COUNT && i < VP_INDEX_NPARAMS; i++)
			if (vp_param_defs[i].stage == VP_STAGE_BUILD &&
			    (vp_param_defs[i].types & VP_T(ix.hdr.type))) {
				char v[32];
				printf("%s%s=%s", any ? ", " : "parameters     ", vp_param_defs[i].name,
				       vp_param_str(i, ix.hdr.params[i], v, sizeof v));
				any = 1;
			}
		if (any)
			printf("\n");
	}
	{
		/* what the family says about its sections */
		const struct vp_family *fam = vp_family_of((int)ix.hdr.type);
		if (fam && fam->describe)
			fam->describe(&ix, stdout);
	}
	{
		const struct vp_section *cs = vp_index_find(&ix, "config", 0);
		if (cs && cs->length < 65536) {
			const char *t = vp_index_data(&ix, cs);
			printf("config         (as built)\n    ");
			for (uint64_t i = 0; i < cs->length; i++) {
				char ch = t[i];
				if (ch == '\n')
					printf(i + 1 < cs->length ? "\n    " : "\n");
				else if (ch >= 32 && ch < 127)
					putchar(ch);
			}
		}
	}
	printf("sections       %u\n", ix.nsections);
	printf("  %-15s %7s %12s %12s %-16s %s\n", "name", "segment", "offset",
	       "length", "xxh64", verify ? "check" : "");
	for (uint32_t i = 0; i < ix.nsections; i++) {
		const struct vp_section *s = &ix.sections[i];
		const char *check = "";
		if (verify) {
			struct vp_index one = ix;
			one.nsections = 1;
			one.sections = (struct vp_section *)s;
			if (vp_index_verify(&one, &err)) {
				check = "MISMATCH";
				problems++;
			} else
				check = "ok";
		}
		printf("  %-15s %7u %12llu %12llu %016llx %s\n", s->name, s->segment,
		       (unsigned long long)s->offset, (unsigned long long)s->length,
		       (unsigned long long)s->xxh64, check);
	}
	if (stats) {
		/* every segment's vectors (IVF_FLAT and IVF_SQ8 keep only codes) */
		double mn = INFINITY, mx = 0, sum = 0;
		uint64_t nan = 0, zero = 0, seen = 0;
		for (uint32_t si = 0; si < ix.nsections; si++) {
			const struct vp_section *vs = &ix.sections[si];
			const float *x = vp_index_data(&ix, vs);
			uint64_t rows;
			if (strcmp(vs->name, "vectors") || vs->length % ((uint64_t)ix.hdr.dim * 4))
				continue;
			rows = vs->length / ((uint64_t)ix.hdr.dim * 4);
			for (uint64_t i = 0; i < rows; i++, seen++) {
				const float *v = x + i * ix.hdr.dim;
				double s2 = 0;
				int bad = 0;
				for (uint32_t j = 0; j < ix.hdr.dim; j++) {
					if (!isfinite(v[j]))
						bad = 1;
					s2 += (double)v[j] * v[j];
				}
				if (bad) {
					nan++;
					continue;
				}
				s2 = sqrt(s2);
				zero += s2 == 0;
				mn = s2 < mn ? s2 : mn;
				mx = s2 > mx ? s2 : mx;
				sum += s2;
				if ((seen & 4095) == 0)
					vp_progress("statistics %llu/%llu", (unsigned long long)seen,
						    (unsigned long long)ix.hdr.count);
			}
		}
		vp_progress_done();
		if (seen > nan)
			printf("norms          min %.6g, mean %.6g, max %.6g\n", mn,
			       sum / (double)(seen - nan), mx);
		if (seen) {
			printf("zero vectors   %llu\n", (unsigned long long)zero);
			printf("nan vectors    %llu\n", (unsigned long long)nan);
		}
		if (nan)
			problems++;
	}
	{
		/* the index-health rules */
		struct vp_searcher sr;
		struct vp_error e2 = { 0 };
		if (!vp_searcher_open(&sr, path, 0, &e2)) {
			static struct vp_evidence ev;
			struct vp_finding f[32];
			size_t nf;
			memset(&ev, 0, sizeof ev);
			snprintf(ev.index_path, sizeof ev.index_path, "%s", path);
			if (vp_health_measure(&sr, &ev.ix, &e2))
				vp_die_err(&e2);
			ev.have_index = 1;
			nf = vp_rules_run(&ev, f, 32);
			print_health(&ev.ix);
			/* findings are advice, not damage: the exit status stays the
			 * file's integrity (--health makes them count) */
			print_findings(f, nf);
			vp_searcher_close(&sr);
		}
	}
	if (problems) {
		if (err.msg[0])
			vp_warn("%s", err.msg);
		printf("problems       %d\n", problems);
	} else
		printf("problems       none\n");
	vp_index_close(&ix);
	vp_close_stdout();
	return problems ? VP_EXIT_NEGATIVE : 0;
}
