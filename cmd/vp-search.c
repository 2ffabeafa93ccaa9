/* vp-search: queries (file or stdin) -> top-k ids and distances on stdout. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>


#include "vp_cli.h"
#include "vp_family.h"
#include "vp_alog.h"
#include "vp_cache.h"
#include "vp_filter.h"
#include "vp_metrics.h"
#include "vp_gemm.h"


/* Allocation counting for --stats: the link wraps malloc, calloc and
 * realloc for vp-search (Makefile), so every allocation libvp makes from
 * this program goes through here. */
static uint64_t vp_alloc_count;
void *__real_malloc(size_t n);
void *__real_calloc(size_t a, size_t b);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t a, size_t b);
void *__wrap_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n)
{
	__atomic_add_fetch(&vp_alloc_count, 1, __ATOMIC_RELAXED);
	return __real_malloc(n);
}
void *__wrap_calloc(size_t a, size_t b)
{
	__atomic_add_fetch(&vp_alloc_count, 1, __ATOMIC_RELAXED);
	return __real_calloc(a, b);
}
void *__wrap_realloc(void *p, size_t n)
{
	__atomic_add_fetch(&vp_alloc_count, 1, __ATOMIC_RELAXED);
	return __real_realloc(p, n);
}

static void usage(void)
{
	printf("usage: %s -i INDEX [options] [QUERIES|-]\n"
	       "Find the k nearest neighbours of each query (stdin when QUERIES is -\n"
	       "or missing).  Queries are read, searched and written a batch at a\n"
	       "time, so a stream of any length works in a pipeline.\n\n"
	       "  -i, --index INDEX    index file (required)\n"
	       "  -k, --k K            neighbours per query (default %d)\n"
	       "  -p, --param KEY=VAL  search parameter (none for FLAT)\n"
	       "  -j, --threads N      search threads (default: the CPUs this process may\n"
	       "                       use: its affinity mask and cgroup CPU quota)\n"
	       VP_HW_HELP
	       "      --preallocate    size every pool at start: no allocation per query\n"
	       "  -f, --output-format F  tsv (default), ivecs or json\n"
	       "  -F, --format F       query format: fvecs, bvecs, fbin, u8bin, hdf5\n"
	       "                       (FILE.hdf5:DATASET, e.g. x.hdf5:test)\n"
	       "                       (default: from the file name; fvecs for stdin)\n"
	       "  -b, --batch N        queries per batch (default %d)\n"
	       "  -c, --config FILE    take k, search parameters, batch and threads from a\n"
	       "                       vp.yaml (options override it)\n"
	       "      --filter EXPR    only rows that pass EXPR: label == 3, label != 3,\n"
	       "                       label in {1,4,7}, id >= 1000 && id < 5000, with\n"
	       "                       &&, ||, ! and parentheses\n"
	       "      --plan NAME      force a plan: index, prefilter, ivf-wide (with\n"
	       "                       --cache: what runs on a miss), cache-first\n"
	       "      --explain[=analyze]  print the candidate plans and the choice\n"
	       "                       instead of results (analyze: also run and time it)\n"
	       "      --cache DIR      answer repeated queries from a result cache: in\n"
	       "                       memory for the run, and DIR/vp-cache.bin shared\n"
	       "                       between runs and processes\n"
	       "      --cache-slots N  slots of a new cache file (default %d; 16..%d)\n"
	       "      --cache-l3 redis://HOST[:PORT][/DB]  with --cache: a third level\n"
	       "                       shared by machines, asked after L1 and L2 (an\n"
	       "                       unreachable server: one warning, then L1 and L2)\n"
	       "      --access-log FILE  append, per query, the segments and IVF lists or\n"
	       "                       HNSW level-0 regions read, and each batch's time\n"
	       "                       (LZ4 blocks; vp-diag --access-log summarises it,\n"
	       "                       vp-warmup --access-log plans from it)\n"
	       "      --log-queries    with --access-log: also the query vectors, for\n"
	       "                       vp-warmup --cache\n"
	       VP_METRICS_HELP
	       "      --stats          print cache hit rate, allocations per query and\n"
	       "                       time by stage on stderr at the end\n"
	       "      --verify         check every section checksum before searching\n"
	       "  -h, --help           this help\n"
	       "  -V, --version        print the version\n\n"
	       "Output: tsv rows 'query<TAB>rank<TAB>id<TAB>distance' (query and rank\n"
	       "from 0); ivecs: k ids per query (-1 past the index size); json: one\n"
	       "object per line {\"query\":N,\"ids\":[...],\"distances\":[...]}.\n"
	       "Exit status: 0 done, 2 usage, 3 bad data or index, 4 I/O error.\n",
	       vp_prog, VP_K_DEFAULT, VP_BATCH_DEFAULT, VP_CACHE_L2_SLOTS_DEFAULT,
	       VP_CACHE_L2_SLOTS_MAX);
}

/* What --metrics reports: counts so far and the batch-time histogram. */
struct mstate {
	uint64_t queries, batches, search_ns;
	struct vp_hist batch_us;
	double batch_us_sum;
};

static void fill_metrics(struct vp_metrics *m, const struct mstate *ms,
			 const struct vp_searcher *s, const char *index, int threads,
			 struct vp_cache *cache)
{
	char lb[512] = "";

	vp_metrics_reset(m);
	vp_metrics_one(m, "vp_search_queries_total", "counter", "Queries answered.",
		       (double)ms->queries);
	vp_metrics_one(m, "vp_search_batches_total", "counter", "Batches searched.",
		       (double)ms->batches);
	vp_metrics_one(m, "vp_search_search_seconds_total", "counter",
		       "Wall time spent searching (cache lookups included), not reading or writing.",
		       (double)ms->search_ns / 1e9);
	vp_metrics_one(m, "vp_search_queries_per_second", "gauge",
		       "Queries per second of search time so far.",
		       ms->search_ns ? (double)ms->queries * 1e9 / (double)ms->search_ns : 0);
	vp_metrics_hist_us(m, "vp_search_batch_duration_seconds",
			   "Wall time to search one batch of queries.", NULL, &ms->batch_us,
			   ms->batch_us_sum);
	if (cache) {
		const struct vp_cache_stats *cs = vp_cache_stats(cache);
		vp_metrics_one(m, "vp_search_cache_lookups_total", "counter",
			       "Result-cache lookups.", (double)cs->lookups);
		vp_metrics_family(m, "vp_search_cache_hits_total", "counter",
				  "Result-cache hits by level (l1: this process, l2: the shared file).");
		vp_metrics_sample(m, "", "level=\"l1\"", (double)cs->l1_hits);
		vp_metrics_sample(m, "", "level=\"l2\"", (double)cs->l2_hits);
		vp_metrics_sample(m, "", "level=\"l3\"", (double)cs->l3_hits);
	}
	vp_metrics_one(m, "vp_search_threads_requested", "gauge", "Search threads requested.",
		       threads);
	vp_metrics_residency(m, "vp_search", s->ix.map, s->ix.size);
	vp_metrics_one(m, "vp_search_index_vectors", "gauge", "Vectors in the index searched.",
		       (double)s->ix.hdr.count);
	vp_metrics_label(lb, sizeof lb, "index", index);
	{
		/* which build answered: the header checksum changes with every
		 * rebuild and append, as the result cache's keys do */
		uint64_t x;
		char hex[17];
		memcpy(&x, s->ix.map + VP_INDEX_HEADER_SIZE - 8, 8);
		snprintf(hex, sizeof hex, "%016llx", (unsigned long long)x);
		vp_metrics_label(lb, sizeof lb, "checksum", hex);
	}
	vp_metrics_label(lb, sizeof lb, "type", vp_index_type_name((int)s->ix.hdr.type));
	vp_metrics_label(lb, sizeof lb, "gemm", s->fam->gemm ?
			 vp_gemm_name(s->ix.hdr.dim) : "none");
	vp_metrics_family(m, "vp_search_index_info", "gauge",
			  "Always 1: the index searched, its header checksum, its type and the exact-search GEMM path.");
	vp_metrics_sample(m, "", lb, 1);
	vp_metrics_process(m, "vp_search");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "index", required_argument, NULL, 'i' },
		{ "k", required_argument, NULL, 'k' },
		{ "param", required_argument, NULL, 'p' },
		{ "threads", required_argument, NULL, 'j' },
		VP_HW_LONGOPTS,
		{ "output-format", required_argument, NULL, 'f' },
		{ "format", required_argument, NULL, 'F' },
		{ "batch", required_argument, NULL, 'b' },
		{ "verify", no_argument, NULL, 'v' },
		{ "config", required_argument, NULL, 'c' },
		{ "filter", required_argument, NULL, 'X' },
		{ "plan", required_argument, NULL, 'P' },
		{ "explain", optional_argument, NULL, 'E' },
		{ "cache", required_argument, NULL, 'C' },
		{ "cache-slots", required_argument, NULL, 'Z' },
		{ "cache-l3", required_argument, NULL, '3' },
		{ "stats", no_argument, NULL, 'T' },
		{ "access-log", required_argument, NULL, 'L' },
		{ "log-queries", no_argument, NULL, 'Q' },
		VP_METRICS_LONGOPTS,
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *index = NULL, *in = "-", *params[64];
	int nparams = 0, threads = vp_default_threads(), verify = 0, c;
	size_t k = VP_K_DEFAULT, batch = VP_BATCH_DEFAULT;
	enum vp_outfmt of = VP_OUT_TSV;
	enum vp_vecfmt fmt = VP_FMT_AUTO;
	struct vp_param_set ps;
	struct vp_searcher s;
	struct vp_reader r;
	struct vp_error err = { 0 };
	float *q, *dist;
	int64_t *ids;
	int32_t *ibuf;
	char *tbuf;
	uint64_t done = 0;
	const char *cfgpath = NULL;
	int k_given = 0, threads_given = 0, batch_given = 0;
	const char *fexpr = NULL;
	int plan = VP_PLAN_AUTO, explain = 0;
	struct vp_filter filter;
	uint64_t search_ns = 0, read_ns = 0, write_ns = 0, allocs_warm = 0, warm_q = 0;
	const char *cachedir = NULL, *alogpath = NULL, *l3url = NULL;
	unsigned char *apart = NULL; /* vp_searcher_rows_apart, a segment each */
	struct vp_l3 *l3 = NULL;
	struct vp_alog alog;
	struct vp_cache *cache = NULL;
	int stats = 0, cache_first = 0, log_queries = 0;
	size_t cache_slots = VP_CACHE_L2_SLOTS_DEFAULT;
	uint64_t seed;
	struct vp_search_call call;
	struct vp_hw_cli hwc;
	struct vp_metrics_cli mc;
	struct vp_metrics met;
	struct mstate ms = { 0 };
	struct vp_config cfg;
	char why[300] = "given";
	uint64_t allocs_all = 0;

	vp_cli_init(argc, argv);
	vp_hw_cli_init(&hwc);
	vp_metrics_cli_init(&mc);
	vp_metrics_init(&met);
	hwc.preallocate_ok = 1;
	vp_config_init(&cfg);
	while ((c = getopt_long(argc, argv, "i:k:p:j:f:F:b:c:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'i': index = optarg; break;
		case 'k': k = (size_t)vp_opt_int("-k", optarg, VP_K_MIN, VP_K_MAX); k_given = 1; break;
		case 'c': cfgpath = optarg; break;
		case 'X': fexpr = optarg; break;
		case 'C': cachedir = optarg; break;
		case '3': l3url = optarg; break;
		case 'Z':
			cache_slots = (size_t)vp_opt_int("--cache-slots", optarg, VP_CACHE_L2_SLOTS_MIN,
							 VP_CACHE_L2_SLOTS_MAX);
			break;
		case 'T': stats = 1; break;
		case 'L': alogpath = optarg; break;
		case 'Q': log_queries = 1; break;
		case 'P':
			if (!strcmp(optarg, "cache-first")) {
				cache_first = 1;
				plan = VP_PLAN_AUTO;
			} else if ((plan = vp_plan_parse(optarg)) <= 0)
				vp_usage_error("--plan: '%s' is not index, prefilter, ivf-wide or "
					       "cache-first", optarg);
			break;
		case 'E':
			if (!optarg)
				explain = 1;
			else if (!strcmp(optarg, "analyze"))
				explain = 2;
			else
				vp_usage_error("--explain: '%s' is not 'analyze'", optarg);
			break;
		case 'p':
			if (nparams == 64)
				vp_usage_error("too many -p options");
			params[nparams++] = optarg;
			break;
		case 'j':
			threads = (int)vp_opt_int("--threads", optarg, VP_THREADS_MIN, VP_THREADS_MAX);
			threads_given = 1;
			break;
		case 'f': of = vp_outfmt_parse(optarg); break;
		case 'F':
			fmt = vp_vecfmt_parse(optarg);
			if (!fmt || fmt == VP_FMT_IVECS || fmt == VP_FMT_IBIN)
				vp_usage_error("--format: '%s' is not fvecs, bvecs, fbin, u8bin or hdf5", optarg);
			break;
		case 'b':
			batch = (size_t)vp_opt_int("--batch", optarg, VP_BATCH_MIN, VP_BATCH_MAX);
			batch_given = 1;
			break;
		case 'v': verify = 1; break;
		case VP_METRICS_OPT_FILE: case VP_METRICS_OPT_INTERVAL:
			vp_metrics_cli_option(&mc, c, optarg);
			break;
		case VP_HW_OPT_CPUS: case VP_HW_OPT_NUMA: case VP_HW_OPT_HUGE: case VP_HW_OPT_PREALLOC:
			vp_hw_cli_option(&hwc, c, optarg);
			break;
		case 'h': usage(); vp_close_stdout(); return 0;
		case 'V': vp_version();
		default: vp_usage_error("bad option");
		}
	}
	if (optind < argc)
		in = argv[optind++];
	if (optind < argc)
		vp_usage_error("unexpected argument '%s'", argv[optind]);
	if (!index)
		vp_usage_error("-i INDEX is required");
	if (of == VP_OUT_IVECS && !explain)
		vp_refuse_tty_stdout("ivecs");
	if (fexpr && vp_filter_parse(&filter, fexpr, &err))
		vp_usage_error("%s", err.msg);
	if ((explain || plan != VP_PLAN_AUTO) && !fexpr)
		vp_usage_error("--explain and --plan need --filter");
	if (log_queries && !alogpath)
		vp_usage_error("--log-queries needs --access-log");
	if (l3url && !cachedir)
		vp_usage_error("--cache-l3 needs --cache");
	if (cache_first && !cachedir)
		vp_usage_error("--plan cache-first needs --cache");

	/* the config's hardware section and the thread count come first: the
	 * index is mapped under them */
	if (cfgpath && vp_config_load(&cfg, cfgpath, &err))
		vp_die_err(&err);
	vp_hw_cli_config(&hwc, &cfg);
	if (!threads_given && (cfg.search_threads || cfg.threads)) {
		threads = (int)(cfg.search_threads ? cfg.search_threads : cfg.threads);
		threads_given = 1;
		snprintf(why, sizeof why, "from %s", cfgpath);
	} else if (!threads_given && hwc.hw.ncpus) {
		snprintf(why, sizeof why, "one per CPU of --cpus %s", hwc.cpus);
	} else if (!threads_given) {
		vp_hw_default_threads(why, sizeof why);
	}
	threads = vp_hw_cli_start(&hwc, threads, threads_given);
	if (vp_searcher_open(&s, index, verify, &err))
		vp_die_err(&err);
	vp_hw_cli_numa_map(&hwc, s.ix.map, s.ix.size);
	vp_params_defaults(&ps);
	if (cfgpath) {
		int type = (int)s.ix.hdr.type;
		if (cfg.type && cfg.type != type)
			vp_usage_error("%s describes a %s index, %s is %s", cfgpath,
				       vp_index_type_name(cfg.type), index,
				       vp_index_type_name(type));
		if (!k_given)
			k = (size_t)cfg.k;
		if (!batch_given)
			batch = (size_t)cfg.batch;
		for (int i = 0; i < VP_P_COUNT; i++)
			if ((cfg.params.set & (1u << i)) &&
			    vp_param_defs[i].stage == VP_STAGE_SEARCH &&
			    vp_params_set(&ps, vp_param_defs[i].name, cfg.params.val[i],
					  type, VP_STAGE_SEARCH, &err))
				vp_die(VP_EXIT_DATA, "%s: %s", cfgpath, err.msg);
	}
	for (int i = 0; i < nparams; i++)
		if (vp_params_parse(&ps, params[i], (int)s.ix.hdr.type, VP_STAGE_SEARCH, &err))
			vp_usage_error("%s", err.msg);
	if (cachedir && vp_cache_open(&cache, cachedir, k, VP_CACHE_L1_DEFAULT,
				      cache_slots, &err))
		vp_die_err(&err);
	if (l3url && (l3 = vp_cli_l3_open(l3url)))
		vp_cache_set_l3(cache, l3);
	if (fexpr && vp_searcher_check_filter(&s, &filter, &err))
		vp_usage_error("%s", err.msg);
	if (explain) {
		struct vp_plan_est est[VP_PLAN_COUNT], cf;
		double sel;
		int chosen = vp_searcher_plan(&s, &filter, k, &ps, est, &sel);
		if (plan != VP_PLAN_AUTO) {
			if (!est[plan].available)
				vp_usage_error("plan '%s' does not apply to %s indexes",
					       est[plan].name, vp_index_type_name((int)s.ix.hdr.type));
			chosen = plan;
		}
		printf("filter       %s\n", fexpr);
		printf("selectivity  %.4f (estimated from the stored label histogram and id range)\n", sel);
		if (s.label_locality >= 0)
			printf("locality     %.2f (HNSW neighbours sharing a label, beyond chance)\n",
			       s.label_locality);
		if (cache) {
			/* the file's hit rate so far predicts this run's */
			const struct vp_cache_stats *cs = vp_cache_stats(cache);
			double h = cs->file_lookups ? (double)cs->file_hits / (double)cs->file_lookups : 0;
			vp_plan_cache_first(&cf, &est[chosen], h, vp_cache_lookup_us(s.ix.hdr.dim));
			printf("cache        %s/%s: hit rate %.1f%% over %llu lookups so far\n",
			       cachedir, VP_CACHE_FILE, 100.0 * h, (unsigned long long)cs->file_lookups);
		}
		printf("%-11s %-9s %14s %10s\n", "plan", "available", "est_us/query", "exp_recall");
		for (int p = 1; p <= VP_PLAN_COUNT; p++) {
			const struct vp_plan_est *e = p < VP_PLAN_COUNT ? &est[p] : &cf;
			if (p == VP_PLAN_COUNT && !cache) {
				printf("%-11s %-9s %14s %10s  (needs --cache)\n", "cache-first", "no", "-", "-");
				continue;
			}
			if (!e->available) {
				printf("%-11s %-9s %14s %10s\n", e->name, "no", "-", "-");
				continue;
			}
			printf("%-11s %-9s %14.1f %10.2f%s", e->name, "yes", e->cost_us, e->recall,
			       p == VP_PLAN_COUNT || (p == chosen && !cache) ? "  <- chosen" :
			       p == chosen ? "  <- on a miss" : "");
			if (p == VP_PLAN_WIDE)
				printf("  (nprobe=%lld)", (long long)e->nprobe);
			printf("\n");
		}
		plan = chosen;
		if (explain == 1) {
			vp_cache_close(cache);
			vp_cli_l3_close(l3, l3url);
			vp_filter_release(&filter);
			vp_searcher_close(&s);
			vp_close_stdout();
			return 0;
		}
	}
	if (vp_reader_open(&r, in, fmt, &err))
		vp_die_err(&err);
	if (r.dim && r.dim != s.ix.hdr.dim)
		vp_die(VP_EXIT_DATA, "%s: queries have dimension %u, index %s has %u",
		       r.name, r.dim, index, s.ix.hdr.dim);

	seed = vp_searcher_cache_seed(&s, k, &ps, plan, fexpr ? &filter : NULL);
	call = (struct vp_search_call){ &s, k, &ps, threads, fexpr ? &filter : NULL, plan };
	if (alogpath) {
		if (vp_alog_open(&alog, alogpath, &err))
			vp_die_err(&err);
		s.tracing = 1;
		apart = calloc(s.nseg ? s.nseg : 1, 1);
		if (!apart)
			vp_die(VP_EXIT_IO, "out of memory");
		for (size_t g = 0; g < s.nseg; g++)
			apart[g] = (unsigned char)vp_searcher_rows_apart(&s, g);
	}
	q = malloc(batch * (r.dim ? r.dim : 1) * sizeof *q);
	dist = malloc(batch * k * sizeof *dist);
	ids = malloc(batch * k * sizeof *ids);
	ibuf = malloc(k * sizeof *ibuf);
	tbuf = malloc(vp_text_room(k));
	if (!q || !dist || !ids || !ibuf || !tbuf)
		vp_die(VP_EXIT_IO, "out of memory");
	vp_hugepage_hint(q, batch * (r.dim ? r.dim : 1) * sizeof *q);
	/* hardware.preallocate: every pool sized now, none on the first batch */
	if (hwc.hw.preallocate && vp_searcher_preallocate(&s, batch, k, &ps, threads, &err))
		vp_die_err(&err);
	for (;;) {
		uint64_t t0 = vp_now_nsec(), a0 = vp_alloc_count;
		long got = vp_reader_read(&r, q, batch, &err);
		if (got < 0)
			vp_die_err(&err);
		if (got == 0)
			break;
		read_ns += vp_now_nsec() - t0;
		t0 = vp_now_nsec();
		/* with a cache: hits answered, misses searched in one parallel call */
		if (cache ? vp_cache_search(cache, seed, q, (size_t)got, r.dim, vp_search_call_fn,
					    &call, dist, ids, &err) :
			    vp_search_call_fn(&call, q, (size_t)got, dist, ids, &err))
			vp_die(err.code == VP_E_ARG ? VP_EXIT_USAGE : vp_exit_code(err.code),
			       "%s", err.msg);
		{
			uint64_t dt = vp_now_nsec() - t0;
			search_ns += dt;
			ms.queries += (uint64_t)got;
			ms.batches++;
			ms.search_ns += dt;
			vp_hist_add(&ms.batch_us, (double)dt / 1e3);
			ms.batch_us_sum += (double)dt / 1e3;
		}
		if (alogpath) {
			size_t nsearched = (size_t)got;
			const size_t *rows = cache ? vp_cache_searched(cache, &nsearched) : NULL;
			/* when the batch ran: for recency and the time-of-day profile */
			uint64_t now = (uint64_t)time(NULL);
			uint32_t tw[2] = { (uint32_t)now, (uint32_t)(now >> 32) };
			if (vp_alog_add(&alog, (uint32_t)done, 0, VP_ALOG_TIME, tw, 2, &err))
				vp_die_err(&err);
			/* every query, hits included: vp-warmup --cache replays the
			 * most frequent */
			for (size_t j = 0; log_queries && j < (size_t)got; j++)
				if (vp_alog_add(&alog, (uint32_t)(done + j), 0, VP_ALOG_QUERY,
						(const uint32_t *)(const void *)(q + j * r.dim), r.dim, &err))
					vp_die_err(&err);
			for (size_t j = 0; j < nsearched; j++)
				for (size_t g = 0; g < s.nseg; g++) {
					uint16_t kind;
					const uint32_t *items;
					uint32_t cnt = vp_searcher_trace(&s, g, j, &kind, &items);
					uint32_t qn = (uint32_t)(done + (rows ? rows[j] : j));
					if (vp_alog_add(&alog, qn, (uint16_t)g, kind, items, cnt, &err))
						vp_die_err(&err);
					cnt = vp_searcher_trace_rows(&s, g, j, &items);
					if ((cnt || apart[g]) &&
					    vp_alog_add(&alog, qn, (uint16_t)g, VP_ALOG_ROWS, items, cnt, &err))
						vp_die_err(&err);
				}
		}
		/* allocations after the first batch, which warms the pools */
		allocs_all += vp_alloc_count - a0;
		if (done > 0) {
			allocs_warm += vp_alloc_count - a0;
			warm_q += (uint64_t)got;
		}
		t0 = vp_now_nsec();
		if (explain != 2)
			vp_write_results(of, done, (size_t)got, k, dist, ids, ibuf, tbuf);
		write_ns += vp_now_nsec() - t0;
		done += (uint64_t)got;
		vp_progress("%llu queries", (unsigned long long)done);
		if (vp_metrics_cli_due(&mc)) {
			fill_metrics(&met, &ms, &s, index, threads, cache);
			vp_metrics_cli_write(&mc, &met, 0);
		}
	}
	vp_progress_done();
	if (explain == 2) {
		const char *pn = plan == VP_PLAN_INDEX ? "index" :
				 plan == VP_PLAN_PREFILTER ? "prefilter" : "ivf-wide";
		const struct vp_cache_stats *cs = cache ? vp_cache_stats(cache) : NULL;
		printf("analyze      %llu queries, %.1f us/query measured (plan %s%s, %d thread%s)",
		       (unsigned long long)done, done ? (double)search_ns / 1e3 / (double)done : 0,
		       cs ? "cache-first, misses " : "", pn, threads, threads == 1 ? "" : "s");
		if (cs)
			printf(", hit rate %.1f%%", cs->lookups ? 100.0 * (double)(cs->l1_hits + cs->l2_hits + cs->l3_hits) /
							      (double)cs->lookups : 0.0);
		printf("\n");
	}
	if (stats) {
		fprintf(stderr, "%s: stats: %llu queries; read %.3f s, search %.3f s, write %.3f s\n",
			vp_prog, (unsigned long long)done, (double)read_ns / 1e9,
			(double)search_ns / 1e9, (double)write_ns / 1e9);
		fprintf(stderr, "%s: stats: %.3f allocations per query after the first batch "
			"(%llu queries)\n", vp_prog,
			warm_q ? (double)allocs_warm / (double)warm_q : 0.0,
			(unsigned long long)warm_q);
		if (hwc.hw.preallocate)
			fprintf(stderr, "%s: stats: pools preallocated: %.3f allocations per query "
				"from the first query\n", vp_prog,
				done ? (double)allocs_all / (double)done : 0.0);
		vp_hw_cli_report(&hwc, threads, why, s.ix.map);
		if (cache) {
			/* repeats inside one batch count as memory (L1) hits */
			const struct vp_cache_stats *cs = vp_cache_stats(cache);
			fprintf(stderr, "%s: stats: cache %llu lookups, %llu L1 hits, %llu L2 hits, "
				"%llu L3 hits, hit rate %.1f%%\n", vp_prog, (unsigned long long)cs->lookups,
				(unsigned long long)cs->l1_hits, (unsigned long long)cs->l2_hits,
				(unsigned long long)cs->l3_hits,
				cs->lookups ? 100.0 * (double)(cs->l1_hits + cs->l2_hits + cs->l3_hits) /
						      (double)cs->lookups : 0.0);
		}
	}
	if (alogpath && vp_alog_close(&alog, &err))
		vp_die_err(&err);
	free(apart);
	if (mc.path) {
		fill_metrics(&met, &ms, &s, index, threads, cache);
		vp_metrics_cli_write(&mc, &met, 1);
		vp_metrics_free(&met);
	}
	if (cache && vp_cache_error(cache))
		vp_warn("%s/%s: %s; results were not all cached", cachedir, VP_CACHE_FILE,
			vp_cache_error(cache));
	vp_cache_close(cache);
	vp_cli_l3_close(l3, l3url);
	if (fexpr)
		vp_filter_release(&filter);
	vp_reader_close(&r);
	vp_searcher_close(&s);
	free(q);
	free(dist);
	free(ids);
	free(ibuf);
	free(tbuf);
	vp_close_stdout();
	return 0;
}
