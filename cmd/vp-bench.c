/* vp-bench: recall@k, QPS, latency percentiles and a regression gate. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>


#include "vp_cli.h"
#include "vp_family.h"
#include "vp_gemm.h"
#include "vp_filter.h"
#include "vp_metrics.h"
#include "vp_rules.h"

#define MAX_SWEEP 256

static void usage(void)
{
	printf("usage: %s -i INDEX -q QUERIES -g GT.ivecs [options]\n"
	       "Measure recall@k, queries per second and latency of an index.\n\n"
	       "  -i, --index INDEX     index file (required)\n"
	       "  -q, --queries FILE    query vectors (required)\n"
	       "  -g, --gt FILE         ground truth ivecs, ibin or FILE.hdf5:neighbors,\n"
	       "                        at least k ids per query\n"
	       "                        (required; make it with vp-search -f ivecs on FLAT)\n"
	       "  -k, --k K             neighbours per query (default %d)\n"
	       "  -p, --param KEY=V1,V2,...  sweep a search parameter; more -p KEY=V\n"
	       "                       fix others for every run (one may list values)\n"
	       "  -j, --threads N       threads in throughput mode (default: the CPUs this\n"
	       "                        process may use: affinity mask, cgroup CPU quota)\n"
	       VP_HW_HELP
	       "      --mode M          latency (default: each query alone, one\n"
	       "                        thread) or throughput (batches on N threads)\n"
	       "  -n, --nq N            use only the first N queries\n"
	       "  -b, --batch N         queries per batch in throughput mode (default %d)\n"
	       "      --filter EXPR     filtered search (ground truth must be filtered too)\n"
	       "      --plan NAME       force the plan of a filtered search\n"
	       "      --cache DIR       use vp-search's result cache; reports the hit rate\n"
	       "      --cache-l3 URL    with --cache: the shared third level (redis://...)\n"
	       "      --hist            print the latency histogram\n"
	       "      --cold-start      time from the first query: no untimed warm-up\n"
	       "                        search of 32 queries before each run (what an\n"
	       "                        evicted or half-warm index costs its first users)\n"
	       "      --json            write the results as JSON (schema vp-bench/2:\n"
	       "                        runs, and the evidence vp-diag checks)\n"
	       VP_METRICS_HELP
	       "      --baseline FILE   compare with an earlier --json result\n"
	       "      --max-regression PCT  with --baseline: exit 1 when QPS or recall\n"
	       "                        fall more than PCT percent (default 5)\n"
	       "  -h, --help            this help\n"
	       "  -V, --version         print the version\n\n"
	       "Exit status: 0 done, 1 regression against the baseline, 2 usage,\n"
	       "3 bad data or index, 4 I/O error.\n",
	       vp_prog, VP_K_DEFAULT, VP_BATCH_DEFAULT);
}

struct run {
	char param[64];
	double recall, qps, seconds;
	double lat[8]; /* min avg p50 p90 p95 p99 p99.9 max, microseconds */
	int has_lat;
	struct vp_hist hist;
};

static const char *const lat_names[8] = {
	"min", "avg", "p50", "p90", "p95", "p99", "p999", "max",
};

/* What a run searches with beyond the parameters. */
struct bctx {
	const struct vp_filter *f;
	int plan;
	struct vp_cache *cache;
	int cold;  /* --cold-start: no untimed warm-up search */
};

/* One query or batch, through the cache when there is one: hits copied,
 * the misses searched in one call and stored. */
static int search(struct vp_searcher *s, const struct bctx *b, const float *q,
		  size_t nq, size_t k, const struct vp_param_set *ps, int threads,
		  float *dist, int64_t *ids, struct vp_error *err)
{
	struct vp_search_call call = { s, k, ps, threads, b->f, b->plan };
	if (!b->cache)
		return vp_search_call_fn(&call, q, nq, dist, ids, err);
	return vp_cache_search(b->cache, vp_searcher_cache_seed(s, k, ps, b->plan, b->f),
			       q, nq, s->ix.hdr.dim, vp_search_call_fn, &call, dist, ids, err);
}

/* --metrics: the runs finished so far, and the one in progress */
static struct {
	struct vp_metrics_cli mc;
	struct vp_metrics m;
	const struct vp_searcher *s;
	const struct run *runs;
	int ndone;
	uint64_t queries;          /* timed queries so far, all runs */
	const char *index;
	struct vp_cache *cache;
	size_t k;
} gm;

static void fill_metrics(void)
{
	struct vp_metrics *m = &gm.m;
	char lb[256];

	vp_metrics_reset(m);
	vp_metrics_one(m, "vp_bench_queries_total", "counter", "Timed queries searched.",
		       (double)gm.queries);
	vp_metrics_one(m, "vp_bench_runs_total", "counter", "Runs finished (one per swept value).",
		       gm.ndone);
	if (gm.ndone) {
		static const struct { const char *name, *help; size_t off; } per_run[] = {
			{ "vp_bench_recall_ratio", "Recall@k against the ground truth, per run.",
			  offsetof(struct run, recall) },
			{ "vp_bench_queries_per_second", "Queries per second, per run.",
			  offsetof(struct run, qps) },
		};
		for (size_t f = 0; f < 2; f++) {
			vp_metrics_family(m, per_run[f].name, "gauge", per_run[f].help);
			for (int r = 0; r < gm.ndone; r++) {
				double v;
				memcpy(&v, (const char *)&gm.runs[r] + per_run[f].off, sizeof v);
				lb[0] = 0;
				vp_metrics_label(lb, sizeof lb, "param", gm.runs[r].param);
				vp_metrics_sample(m, "", lb, v);
			}
		}
		if (gm.runs[0].has_lat) {
			vp_metrics_family(m, "vp_bench_query_duration_seconds", "histogram",
					  "Latency of one query searched alone (latency mode), per run.");
			for (int r = 0; r < gm.ndone; r++) {
				/* one family, a bucket set per run */
				double sum = gm.runs[r].lat[1] * gm.runs[r].qps * gm.runs[r].seconds;
				lb[0] = 0;
				vp_metrics_label(lb, sizeof lb, "param", gm.runs[r].param);
				vp_metrics_hist_samples(m, lb, &gm.runs[r].hist, sum);
			}
		}
	}
	vp_metrics_one(m, "vp_bench_k", "gauge", "Neighbours per query.", (double)gm.k);
	if (gm.cache) {
		const struct vp_cache_stats *cs = vp_cache_stats(gm.cache);
		vp_metrics_one(m, "vp_bench_cache_lookups_total", "counter", "Result-cache lookups.",
			       (double)cs->lookups);
		vp_metrics_family(m, "vp_bench_cache_hits_total", "counter",
				  "Result-cache hits by level (l1: this process, l2: the shared file).");
		vp_metrics_sample(m, "", "level=\"l1\"", (double)cs->l1_hits);
		vp_metrics_sample(m, "", "level=\"l2\"", (double)cs->l2_hits);
		vp_metrics_sample(m, "", "level=\"l3\"", (double)cs->l3_hits);
	}
	vp_metrics_residency(m, "vp_bench", gm.s->ix.map, gm.s->ix.size);
	lb[0] = 0;
	vp_metrics_label(lb, sizeof lb, "index", gm.index);
	vp_metrics_label(lb, sizeof lb, "type", vp_index_type_name((int)gm.s->ix.hdr.type));
	vp_metrics_label(lb, sizeof lb, "gemm", gm.s->fam->gemm ?
			 vp_gemm_name(gm.s->ix.hdr.dim) : "none");
	vp_metrics_family(m, "vp_bench_index_info", "gauge",
			  "Always 1: the index measured, its type and the exact-search GEMM path.");
	vp_metrics_sample(m, "", lb, 1);
	vp_metrics_process(m, "vp_bench");
}

static void metrics_tick(void)
{
	if (vp_metrics_cli_due(&gm.mc)) {
		fill_metrics();
		vp_metrics_cli_write(&gm.mc, &gm.m, 0);
	}
}

static void bench_one(struct vp_searcher *s, const struct bctx *b,
		      const float *q, size_t nq,
		      size_t k, const struct vp_param_set *ps, int threads,
		      int latency, size_t batch, const int32_t *gt,
		      size_t gt_dim, struct run *out)
{
	struct vp_error err = { 0 };
	float *dist = malloc(nq * k * sizeof *dist);
	int64_t *ids = malloc(nq * k * sizeof *ids);
	double *lat = latency ? malloc(nq * sizeof *lat) : NULL;
	size_t d = s->ix.hdr.dim, warm = nq < 32 ? nq : 32;
	uint64_t t0;

	if (!dist || !ids || (latency && !lat))
		vp_die(VP_EXIT_IO, "out of memory");
	/* warm-up, untimed: read the queries once (a first touch of a large
	 * array costs more than the reads that follow, and with a cache the
	 * hashing would pay it), page in the index and the per-thread pools;
	 * not through the cache, which would then answer the first queries */
	{
		volatile float sink = 0;
		for (size_t i = 0; i < nq * d; i += 16)
			sink += q[i];
		(void)sink;
	}
	if (!b->cold && vp_searcher_search_filtered(s, q, warm, k, ps, latency ? 1 : threads,
						     b->f, b->plan, dist, ids, &err))
		vp_die_err(&err);
	memset(&out->hist, 0, sizeof out->hist);
	t0 = vp_now_nsec();
	if (latency) {
		for (size_t i = 0; i < nq; i++) {
			uint64_t a = vp_now_nsec();
			if (search(s, b, q + i * d, 1, k, ps, 1, dist + i * k,
				   ids + i * k, &err))
				vp_die_err(&err);
			lat[i] = (double)(vp_now_nsec() - a) / 1000.0;
			vp_hist_add(&out->hist, lat[i]);
			vp_progress("%s %zu/%zu queries", out->param, i + 1, nq);
			gm.queries++;
			if ((i & 255) == 255)
				metrics_tick();
		}
	} else {
		for (size_t i = 0; i < nq; i += batch) {
			size_t m = nq - i < batch ? nq - i : batch;
			if (search(s, b, q + i * d, m, k, ps, threads,
				   dist + i * k, ids + i * k, &err))
				vp_die_err(&err);
			vp_progress("%s %zu/%zu queries", out->param, i + m, nq);
			gm.queries += m;
			metrics_tick();
		}
	}
	out->seconds = (double)(vp_now_nsec() - t0) / 1e9;
	vp_progress_done();
	out->qps = out->seconds > 0 ? (double)nq / out->seconds : 0;
	out->recall = vp_recall(ids, nq, k, gt, gt_dim);
	out->has_lat = latency;
	if (latency) {
		double sum = 0;
		for (size_t i = 0; i < nq; i++)
			sum += lat[i];
		vp_sort_doubles(lat, nq);
		out->lat[0] = lat[0];
		out->lat[1] = sum / (double)nq;
		out->lat[2] = vp_percentile(lat, nq, 50);
		out->lat[3] = vp_percentile(lat, nq, 90);
		out->lat[4] = vp_percentile(lat, nq, 95);
		out->lat[5] = vp_percentile(lat, nq, 99);
		out->lat[6] = vp_percentile(lat, nq, 99.9);
		out->lat[7] = lat[nq - 1];
	}
	free(lat);
	free(dist);
	free(ids);
}

/* Fraction of the index's pages in the page cache. */
static double residency(const struct vp_searcher *s)
{
	size_t total = 0;
	long r = vp_resident_pages(s->ix.map, s->ix.size, &total);
	return r < 0 || !total ? -1 : (double)r / (double)total;
}

/* Vectors inserted per second. */
static double eps(uint64_t count, uint64_t usec)
{
	return usec ? (double)count * 1e6 / (double)usec : 0;
}

/* Compares runs with a baseline's by parameter; returns the number of
 * regressions, printing each on stderr. */
static int compare(const char *path, const struct run *runs, int nruns,
		   double pct)
{
	struct vp_error err = { 0 };
	struct vp_json *j;
	const struct vp_json *br;
	char *text;
	size_t len = 0;
	int bad = 0;

	if (vp_read_text(path, 256u << 20, &text, &len, &err))
		vp_die_err(&err);
	if (vp_json_parse(text, len, path, &j, &err))
		vp_die_err(&err);
	free(text);
	br = vp_json_get(j, "runs");
	if (!br || br->type != VP_JSON_ARRAY)
		vp_die(VP_EXIT_DATA, "%s: not a vp-bench --json result (no \"runs\" array)", path);
	for (int i = 0; i < nruns; i++) {
		const struct vp_json *old = NULL;
		for (size_t b = 0; b < br->n; b++) {
			const struct vp_json *p = vp_json_get(&br->items[b], "param");
			if (p && p->type == VP_JSON_STRING && !strcmp(p->str, runs[i].param))
				old = &br->items[b];
		}
		if (!old) {
			vp_warn("baseline %s has no run with param '%s'; not compared",
				path, runs[i].param);
			continue;
		}
		{
			const struct vp_json *oq = vp_json_get(old, "qps");
			const struct vp_json *orc = vp_json_get(old, "recall");
			if (!oq || oq->type != VP_JSON_NUMBER || !orc ||
			    orc->type != VP_JSON_NUMBER)
				vp_die(VP_EXIT_DATA, "%s: run '%s' lacks numeric qps and recall",
				       path, runs[i].param);
			if (runs[i].qps < oq->num * (1 - pct / 100)) {
				vp_warn("regression%s%s: qps %.0f, baseline %.0f (%.1f%% lower, "
					"limit %g%%)", runs[i].param[0] ? " at " : "",
					runs[i].param, runs[i].qps, oq->num,
					100 * (1 - runs[i].qps / oq->num), pct);
				bad++;
			}
			if (runs[i].recall < orc->num * (1 - pct / 100)) {
				vp_warn("regression%s%s: recall %.4f, baseline %.4f (limit %g%%)",
					runs[i].param[0] ? " at " : "", runs[i].param,
					runs[i].recall, orc->num, pct);
				bad++;
			}
		}
	}
	vp_json_free(j);
	return bad;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "index", required_argument, NULL, 'i' },
		{ "queries", required_argument, NULL, 'q' },
		{ "gt", required_argument, NULL, 'g' },
		{ "k", required_argument, NULL, 'k' },
		{ "param", required_argument, NULL, 'p' },
		{ "threads", required_argument, NULL, 'j' },
		VP_HW_LONGOPTS,
		{ "mode", required_argument, NULL, 'M' },
		{ "nq", required_argument, NULL, 'n' },
		{ "batch", required_argument, NULL, 'b' },
		{ "hist", no_argument, NULL, 'H' },
		{ "cold-start", no_argument, NULL, 'O' },
		{ "filter", required_argument, NULL, 'X' },
		{ "plan", required_argument, NULL, 'P' },
		{ "cache", required_argument, NULL, 'C' },
		{ "cache-l3", required_argument, NULL, '3' },
		{ "json", no_argument, NULL, 'J' },
		{ "baseline", required_argument, NULL, 'B' },
		{ "max-regression", required_argument, NULL, 'R' },
		VP_METRICS_LONGOPTS,
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *index = NULL, *qpath = NULL, *gpath = NULL, *sweep = NULL, *fixed[16];
	int nfixed = 0;
	const char *baseline = NULL, *fexpr = NULL, *cachedir = NULL, *l3url = NULL;
	struct vp_l3 *l3 = NULL;
	struct vp_filter filter;
	struct bctx bc = { NULL, VP_PLAN_AUTO, NULL, 0 };
	int threads = vp_default_threads(), latency = 1, hist = 0, json = 0, c, threads_given = 0;
	struct vp_hw_cli hwc;
	struct vp_usage u0, u1;
	struct vp_health health;
	double res_before, res_after;
	uint64_t hp_anon = 0, hp_file = 0;
	char kdesc[64];
	int64_t nq_max = -1;
	size_t k = VP_K_DEFAULT, batch = VP_BATCH_DEFAULT, nq, ngt;
	double pct = 5;
	struct vp_error err = { 0 };
	struct vp_searcher s;
	struct vp_sysinfo si;
	struct run *runs;
	struct vp_param_set *psets;
	int nruns = 0, bad = 0;
	char key[64] = "", *vals[MAX_SWEEP], *list = NULL; /* vals point into list */
	float *q;
	int32_t *gt;
	uint32_t qd, gd;
	struct stat st;

	vp_cli_init(argc, argv);
	vp_hw_cli_init(&hwc);
	vp_metrics_cli_init(&gm.mc);
	vp_metrics_init(&gm.m);
	while ((c = getopt_long(argc, argv, "i:q:g:k:p:j:n:b:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'i': index = optarg; break;
		case 'q': qpath = optarg; break;
		case 'g': gpath = optarg; break;
		case 'k': k = (size_t)vp_opt_int("-k", optarg, VP_K_MIN, VP_K_MAX); break;
		case 'p':
			/* the -p that lists values is the sweep; the others (or
			 * all but the first, when none lists) hold for every run */
			if (nfixed == 16)
				vp_usage_error("too many -p options");
			if (strchr(optarg, ',') && sweep && strchr(sweep, ','))
				vp_usage_error("only one -p may list values (the sweep)");
			if (!sweep || (strchr(optarg, ',') && !strchr(sweep, ','))) {
				if (sweep)
					fixed[nfixed++] = sweep;
				sweep = optarg;
			} else
				fixed[nfixed++] = optarg;
			break;
		case 'j':
			threads = (int)vp_opt_int("--threads", optarg, VP_THREADS_MIN, VP_THREADS_MAX);
			threads_given = 1;
			break;
		case VP_HW_OPT_CPUS: case VP_HW_OPT_NUMA: case VP_HW_OPT_HUGE: case VP_HW_OPT_PREALLOC:
			vp_hw_cli_option(&hwc, c, optarg);
			break;
		case 'M':
			if (!strcmp(optarg, "latency")) latency = 1;
			else if (!strcmp(optarg, "throughput")) latency = 0;
			else vp_usage_error("--mode: '%s' is not latency or throughput", optarg);
			break;
		case 'n': nq_max = vp_opt_int("--nq", optarg, 1, INT64_MAX); break;
		case 'b': batch = (size_t)vp_opt_int("--batch", optarg, VP_BATCH_MIN, VP_BATCH_MAX); break;
		case 'H': hist = 1; break;
		case 'O': bc.cold = 1; break;
		case 'X': fexpr = optarg; break;
		case 'P':
			if ((bc.plan = vp_plan_parse(optarg)) <= 0)
				vp_usage_error("--plan: '%s' is not index, prefilter or ivf-wide", optarg);
			break;
		case 'C': cachedir = optarg; break;
		case '3': l3url = optarg; break;
		case 'J': json = 1; break;
		case 'B': baseline = optarg; break;
		case 'R': pct = vp_opt_double("--max-regression", optarg, 0, 100); break;
		case VP_METRICS_OPT_FILE: case VP_METRICS_OPT_INTERVAL:
			vp_metrics_cli_option(&gm.mc, c, optarg);
			break;
		case 'h': usage(); vp_close_stdout(); return 0;
		case 'V': vp_version();
		default: vp_usage_error("bad option");
		}
	}
	if (optind < argc)
		vp_usage_error("unexpected argument '%s'", argv[optind]);
	if (!index || !qpath || !gpath)
		vp_usage_error("-i INDEX, -q QUERIES and -g GT are required");

	if (fexpr) {
		if (vp_filter_parse(&filter, fexpr, &err))
			vp_usage_error("%s", err.msg);
		bc.f = &filter;
	} else if (bc.plan != VP_PLAN_AUTO)
		vp_usage_error("--plan needs --filter");
	threads = vp_hw_cli_start(&hwc, threads, threads_given);
	if (vp_searcher_open(&s, index, 0, &err))
		vp_die_err(&err);
	if (l3url && !cachedir)
		vp_usage_error("--cache-l3 needs --cache");
	if (cachedir) {
		if (vp_cache_open(&bc.cache, cachedir, k, VP_CACHE_L1_DEFAULT,
				  VP_CACHE_L2_SLOTS_DEFAULT, &err))
			vp_die_err(&err);
	}
	if (l3url && (l3 = vp_cli_l3_open(l3url)))
		vp_cache_set_l3(bc.cache, l3);
	if (vp_read_all(qpath, VP_FMT_AUTO, &q, &nq, &qd, &err))
		vp_die_err(&err);
	if (nq == 0)
		vp_die(VP_EXIT_DATA, "%s: no queries", qpath);
	if (qd != s.ix.hdr.dim)
		vp_die(VP_EXIT_DATA, "%s: queries have dimension %u, index %s has %u",
		       qpath, qd, index, s.ix.hdr.dim);
	if (vp_read_all_ints(gpath, VP_FMT_AUTO, &gt, &ngt, &gd, &err))
		vp_die_err(&err);
	if (nq_max > 0 && (size_t)nq_max < nq)
		nq = (size_t)nq_max;
	if (ngt < nq)
		vp_die(VP_EXIT_DATA, "%s: ground truth has %zu rows, fewer than the %zu queries",
		       gpath, ngt, nq);
	if (gd < k)
		vp_die(VP_EXIT_DATA, "%s: ground truth has %u ids per query, fewer than k=%zu",
		       gpath, gd, k);

	/* the sweep: KEY=V1,V2,... (each value checked like a -p option) */
	if (sweep) {
		const char *eq = strchr(sweep, '=');
		char *tok, *save;
		if (!eq || eq == sweep || eq - sweep >= (long)sizeof key)
			vp_usage_error("-p: expected KEY=V1,V2,..., not '%s'", sweep);
		memcpy(key, sweep, (size_t)(eq - sweep));
		key[eq - sweep] = 0;
		if (!(list = strdup(eq + 1)))
			vp_die(VP_EXIT_IO, "out of memory");
		for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			if (nruns == MAX_SWEEP)
				vp_usage_error("-p: at most %d values", MAX_SWEEP);
			vals[nruns++] = tok;
		}
		if (!nruns)
			vp_usage_error("-p: no values in '%s'", sweep);
	} else
		nruns = 1;
	runs = calloc((size_t)nruns, sizeof *runs);
	psets = calloc((size_t)nruns, sizeof *psets);
	if (!runs || !psets)
		vp_die(VP_EXIT_IO, "out of memory");
	/* check every value before the first (maybe long) run */
	for (int r = 0; r < nruns; r++) {
		vp_params_defaults(&psets[r]);
		for (int i = 0; i < nfixed; i++)
			if (vp_params_parse(&psets[r], fixed[i], (int)s.ix.hdr.type, VP_STAGE_SEARCH,
					    &err))
				vp_usage_error("%s", err.msg);
		if (sweep) {
			char kv[160];
			snprintf(runs[r].param, sizeof runs[r].param, "%s=%s", key, vals[r]);
			snprintf(kv, sizeof kv, "%s=%s", key, vals[r]);
			if (vp_params_parse(&psets[r], kv, (int)s.ix.hdr.type, VP_STAGE_SEARCH, &err))
				vp_usage_error("%s", err.msg);
		}
	}
	gm.s = &s;
	gm.runs = runs;
	gm.index = index;
	gm.cache = bc.cache;
	gm.k = k;
	/* the evidence vp-diag --check reads: what the process paid during
	 * the runs, and how much of the index was in memory before them */
	res_before = residency(&s);
	vp_usage_get(&u0);
	for (int r = 0; r < nruns; r++) {
		bench_one(&s, &bc, q, nq, k, &psets[r], threads, latency, batch, gt, gd, &runs[r]);
		gm.ndone = r + 1;
		metrics_tick();
	}
	vp_usage_get(&u1);
	res_after = residency(&s);
	if (gm.mc.path) {
		fill_metrics();
		vp_metrics_cli_write(&gm.mc, &gm.m, 1);
		vp_metrics_free(&gm.m);
	}
	if (json && vp_health_measure(&s, &health, &err))
		vp_die_err(&err);

	vp_sysinfo_get(&si);
	vp_hw_hugepages_granted(&hp_anon, &hp_file);
	/* exact search's GEMM: vp's kernel or OpenBLAS's, as measured */
	snprintf(kdesc, sizeof kdesc, "%s%s%s", si.simd_used,
		 s.fam->gemm ? ", exact-search GEMM " : "",
		 s.fam->gemm ? vp_gemm_name(s.ix.hdr.dim) : "");
	stat(index, &st);
	if (json) {
		struct vp_cgroup cg;
		struct vp_cpuset aff;
		char affl[256];
		int naff = vp_hw_affinity(&aff);
		const struct vp_kernels *best = vp_kernels_at(vp_simd_cpu_level());
		vp_cgroup_get(&cg);
		vp_cpulist_format(&aff, affl, sizeof affl);
		printf("{\n  \"schema\": \"vp-bench/2\",\n  \"vp_version\": \"%s\",\n", VP_VERSION);
		printf("  \"index\": {\"path\": ");
		vp_json_str(index);
		printf(", \"type\": \"%s\", \"metric\": \"%s\", \"count\": %llu, "
		       "\"dim\": %u, \"size_bytes\": %lld, \"build_seconds\": %.6f, "
		       "\"build_eps\": %.1f,\n    \"params\": {",
		       vp_index_type_name((int)s.ix.hdr.type),
		       vp_metric_name((int)s.ix.hdr.metric),
		       (unsigned long long)s.ix.hdr.count, s.ix.hdr.dim,
		       (long long)st.st_size, (double)s.ix.hdr.build_usec / 1e6,
		       eps(s.ix.hdr.count, s.ix.hdr.build_usec));
		for (int i = 0, any = 0; i < VP_P_COUNT; i++)
			if (vp_param_defs[i].stage == VP_STAGE_BUILD &&
			    (vp_param_defs[i].types & VP_T(s.ix.hdr.type))) {
				printf("%s\"%s\": %lld", any ? ", " : "", vp_param_defs[i].name,
				       (long long)s.ix.hdr.params[i]);
				any = 1;
			}
		printf("},\n    \"health\": {\"lists\": %zu, \"list_mean\": %.3f, \"list_max\": %llu, "
		       "\"lists_empty\": %llu, \"unreachable\": %llu, \"degree_mean\": %.3f, "
		       "\"degree_zero\": %llu, \"degree_cap\": %u, \"duplicate_rows\": %llu, "
		       "\"rows_checked\": %llu, \"deleted\": %llu},\n    \"segments\": [",
		       health.nlist, health.list_mean, (unsigned long long)health.list_max,
		       (unsigned long long)health.lists_empty, (unsigned long long)health.unreachable,
		       health.degree_mean, (unsigned long long)health.degree_zero, health.degree_cap,
		       (unsigned long long)health.dup_rows, (unsigned long long)health.rows_checked,
		       (unsigned long long)health.deleted);
		for (size_t g = 0; g < s.nseg; g++)
			printf("%s{\"count\": %llu, \"first_id\": %llu, \"build_seconds\": %.6f, "
			       "\"build_eps\": %.1f}", g ? ", " : "",
			       (unsigned long long)s.seg[g].meta.count,
			       (unsigned long long)s.seg[g].meta.id_base,
			       (double)s.seg[g].meta.build_usec / 1e6,
			       eps(s.seg[g].meta.count, s.seg[g].meta.build_usec));
		printf("]},\n");
		printf("  \"queries\": %zu,\n  \"queries_path\": ", nq);
		vp_json_str(qpath);
		printf(",\n  \"gt_path\": ");
		vp_json_str(gpath);
		printf(",\n  \"k\": %zu,\n  \"mode\": \"%s\",\n  \"cold_start\": %s,\n"
		       "  \"threads\": %d,\n  \"sweep\": ", k, latency ? "latency" : "throughput",
		       bc.cold ? "true" : "false", latency ? 1 : threads);
		vp_json_str(key);
		printf(",\n  \"cpus\": \"%s\",\n  \"huge_pages\": {\"mode\": \"%s\", "
		       "\"anon_bytes\": %llu, \"file_bytes\": %llu},\n", hwc.hw.ncpus ? hwc.cpus : "",
		       hwc.hw.huge_pages ? "on" : "off", (unsigned long long)hp_anon,
		       (unsigned long long)hp_file);
		printf("  \"system\": {\"cpu\": ");
		vp_json_str(si.cpu_model);
		printf(", \"cores\": %d, \"simd\": \"%s\", \"simd_cpu\": \"%s\", \"kernels\": ",
		       si.cores, si.simd_used, best ? best->name : "portable");
		vp_json_str(kdesc);
		printf(",\n    \"affinity\": \"%s\", \"cpus_allowed\": %d, \"threads_requested\": %d, "
		       "\"default_threads\": %d,\n    \"cgroup\": {\"cpus\": %.3f, \"memory_bytes\": %llu, "
		       "\"where\": ", affl, naff, threads, si.default_threads, cg.cpus,
		       (unsigned long long)cg.mem);
		vp_json_str(cg.where);
		printf("},\n    \"mem_total_bytes\": %llu, \"mem_available_bytes\": %llu, "
		       "\"thp\": ", (unsigned long long)si.mem_total, (unsigned long long)si.mem_avail);
		vp_json_str(si.thp);
		printf(",\n    \"rusage\": {\"user_seconds\": %.6f, \"system_seconds\": %.6f, "
		       "\"major_faults\": %llu, \"minor_faults\": %llu, \"voluntary_switches\": %llu, "
		       "\"involuntary_switches\": %llu},\n    \"residency\": {\"before\": %.6f, "
		       "\"after\": %.6f}},\n",
		       u1.user_s - u0.user_s, u1.sys_s - u0.sys_s,
		       (unsigned long long)(u1.majflt - u0.majflt),
		       (unsigned long long)(u1.minflt - u0.minflt),
		       (unsigned long long)(u1.nvcsw - u0.nvcsw),
		       (unsigned long long)(u1.nivcsw - u0.nivcsw), res_before, res_after);
		printf("  \"runs\": [\n");
		for (int r = 0; r < nruns; r++) {
			const struct run *u = &runs[r];
			printf("    {\"param\": ");
			vp_json_str(u->param);
			printf(", \"recall\": %.6f, \"qps\": %.3f, \"seconds\": %.6f",
			       u->recall, u->qps, u->seconds);
			if (u->has_lat) {
				printf(", \"latency_us\": {");
				for (int t = 0; t < 8; t++)
					printf("%s\"%s\": %.3f", t ? ", " : "", lat_names[t], u->lat[t]);
				printf("}, \"histogram_us\": [");
				int first = 1;
				for (int b = 0; b < VP_HIST_BUCKETS; b++)
					if (u->hist.count[b]) {
						printf("%s[%.3f, %llu]", first ? "" : ", ",
						       vp_hist_edge(b),
						       (unsigned long long)u->hist.count[b]);
						first = 0;
					}
				printf("]");
			}
			printf("}%s\n", r + 1 < nruns ? "," : "");
		}
		printf("  ],\n");
		if (bc.cache) {
			const struct vp_cache_stats *cs = vp_cache_stats(bc.cache);
			double hr = cs->lookups ? (double)(cs->l1_hits + cs->l2_hits + cs->l3_hits) /
						  (double)cs->lookups : 0.0;
			printf("  \"cache_hit_rate\": %.6f,\n  \"cache\": {\"lookups\": %llu, "
			       "\"hit_rate\": %.6f, \"l1_hits\": %llu, \"l2_hits\": %llu, "
			       "\"l3_hits\": %llu},\n", hr, (unsigned long long)cs->lookups, hr,
			       (unsigned long long)cs->l1_hits, (unsigned long long)cs->l2_hits,
			       (unsigned long long)cs->l3_hits);
		}
		if (fexpr) {
			printf("  \"filter\": ");
			vp_json_str(fexpr);
			printf(",\n");
		}
		printf("  \"peak_rss_bytes\": %llu\n}\n", (unsigned long long)vp_peak_rss());
	} else {
		printf("# index %s: %s %s, %llu x %u, %.1f MB, built in %.2f s (%.0f vectors/s)",
		       index, vp_index_type_name((int)s.ix.hdr.type),
		       vp_metric_name((int)s.ix.hdr.metric),
		       (unsigned long long)s.ix.hdr.count, s.ix.hdr.dim,
		       (double)st.st_size / 1e6, (double)s.ix.hdr.build_usec / 1e6,
		       eps(s.ix.hdr.count, s.ix.hdr.build_usec));
		if (s.nseg > 1) {
			printf(", %zu segments:", s.nseg);
			for (size_t g = 0; g < s.nseg; g++)
				printf(" %llu in %.2f s (%.0f/s)%s",
				       (unsigned long long)s.seg[g].meta.count,
				       (double)s.seg[g].meta.build_usec / 1e6,
				       eps(s.seg[g].meta.count, s.seg[g].meta.build_usec),
				       g + 1 < s.nseg ? "," : "");
		}
		printf("\n");
		printf("# %zu queries, k=%zu, mode %s, %d thread%s%s%s, kernels %s, huge pages %s "
		       "(granted %.1f MB anonymous, %.1f MB mapped file), peak RSS %.1f MB\n",
		       nq, k, latency ? "latency" : "throughput", latency ? 1 : threads,
		       (latency || threads == 1) ? "" : "s", hwc.hw.ncpus ? " pinned to CPUs " : "",
		       hwc.hw.ncpus ? hwc.cpus : "", kdesc, hwc.hw.huge_pages ? "on" : "off",
		       (double)hp_anon / 1048576.0, (double)hp_file / 1048576.0,
		       (double)vp_peak_rss() / 1e6);
		if (fexpr)
			printf("# filter %s%s%s\n", fexpr, bc.plan ? ", plan " : "",
			       bc.plan == VP_PLAN_INDEX ? "index" : bc.plan == VP_PLAN_PREFILTER ?
			       "prefilter" : bc.plan == VP_PLAN_WIDE ? "ivf-wide" : "");
		if (bc.cache) {
			const struct vp_cache_stats *cs = vp_cache_stats(bc.cache);
			printf("# cache %s: %llu lookups, hit rate %.1f%% (L1 %llu, L2 %llu, L3 %llu)\n",
			       cachedir, (unsigned long long)cs->lookups, cs->lookups ? 100.0 *
			       (double)(cs->l1_hits + cs->l2_hits + cs->l3_hits) / (double)cs->lookups : 0.0,
			       (unsigned long long)cs->l1_hits, (unsigned long long)cs->l2_hits,
			       (unsigned long long)cs->l3_hits);
		}
		printf("%-16s %8s %10s", "param", "recall", "qps");
		if (latency)
			printf(" %9s %9s %9s %9s %9s %9s %9s %9s", "min_us", "avg_us",
			       "p50_us", "p90_us", "p95_us", "p99_us", "p99.9_us", "max_us");
		printf("\n");
		for (int r = 0; r < nruns; r++) {
			const struct run *u = &runs[r];
			printf("%-16s %8.4f %10.1f", u->param[0] ? u->param : "-",
			       u->recall, u->qps);
			if (u->has_lat)
				for (int t = 0; t < 8; t++)
					printf(" %9.1f", u->lat[t]);
			printf("\n");
		}
		if (hist && latency)
			for (int r = 0; r < nruns; r++) {
				uint64_t mx = 0;
				printf("\n# latency histogram%s%s (us)\n",
				       runs[r].param[0] ? " " : "", runs[r].param);
				for (int b = 0; b < VP_HIST_BUCKETS; b++)
					if (runs[r].hist.count[b] > mx)
						mx = runs[r].hist.count[b];
				for (int b = 0; b < VP_HIST_BUCKETS; b++) {
					uint64_t n = runs[r].hist.count[b];
					int bar;
					if (!n)
						continue;
					bar = (int)((double)n * 50 / (double)mx + 0.5);
					printf("%10.1f %8llu ", vp_hist_edge(b),
					       (unsigned long long)n);
					for (int t = 0; t < bar; t++)
						putchar('#');
					putchar('\n');
				}
			}
	}
	if (baseline)
		bad = compare(baseline, runs, nruns, pct);
	vp_searcher_close(&s);
	vp_cache_close(bc.cache);
	vp_cli_l3_close(l3, l3url);
	if (fexpr)
		vp_filter_release(&filter);
	free(q);
	free(gt);
	free(runs);
	free(psets);
	free(list);
	vp_close_stdout();
	return bad ? VP_EXIT_NEGATIVE : 0;
}
