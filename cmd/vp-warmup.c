/* vp-warmup: bring an index into the page cache before traffic. */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "vp_alog.h"
#include "vp_cache.h"
#include "vp_cli.h"
#include "vp_metrics.h"
#include "vp_search.h"
#include "vp_warm.h"

static void usage(void)
{
	printf("usage: %s [options] INDEX\n"
	       "Bring the index into the page cache (madvise WILLNEED, then a read of\n"
	       "every page): the whole file, or with --access-log the part recorded\n"
	       "traffic needs, hottest first, up to a budget.  Reports page-cache\n"
	       "residency before and after.\n\n"
	       "      --access-log LOG plan from a vp-search --access-log: the small\n"
	       "                       structures every query needs, then IVF lists and\n"
	       "                       HNSW level-0 regions in order of heat\n"
	       "      --budget SIZE|PCT  bring in at most this much (bytes, K, M, G, or a\n"
	       "                       percentage of the file; default: all the log touched)\n"
	       "      --strategy S     frequency, recency, correlation or all (default)\n"
	       "      --grain SIZE     an HNSW region brings in the whole SIZE-aligned\n"
	       "                       blocks around it (fewer, larger reads; default\n"
	       "                       64K; 4K: pages)\n"
	       "      --half-life T    recency: an access's weight halves every T\n"
	       "                       (seconds, or with m, h, d; default 1d)\n"
	       "      --at HH:MM       recency: a time-of-day profile, only accesses within\n"
	       "                       an hour of HH:MM (UTC) on any day count\n"
	       "      --dry-run        print the plan (ranges, bytes, expected hit rate)\n"
	       "                       and bring nothing in\n"
	       "      --save-plan FILE with --access-log: write the plan to FILE and bring\n"
	       "                       nothing in (plan ahead, from cron)\n"
	       "      --plan FILE      bring in the ranges of a saved plan: no log read,\n"
	       "                       no planning before traffic\n"
	       "      --cache DIR      with --access-log: instead, fill the result cache\n"
	       "                       DIR/vp-cache.bin by searching the most frequent\n"
	       "                       queries the log kept (vp-search --log-queries)\n"
	       "      --top N          with --cache: that many distinct queries (default 1000)\n"
	       "  -k, --k K            with --cache: neighbours, as vp-search will ask (10)\n"
	       "  -p, --param KEY=VAL  with --cache: a search parameter, as vp-search's\n"
	       "      --cache-l3 URL   with --cache: fill this shared level too\n"
	       "      --lock           also mlock what was brought in and stay in the\n"
	       "                       foreground holding it until SIGINT or SIGTERM\n"
	       "      --evict          the opposite: drop the index's pages from the page\n"
	       "                       cache (posix_fadvise DONTNEED), to reproduce a cold\n"
	       "                       start; pages other processes have mapped stay\n"
	       VP_METRICS_HELP
	       "  -q, --quiet          print nothing but errors\n"
	       "  -h, --help           this help\n"
	       "  -V, --version        print the version\n\n"
	       "Exit status: 0 done, 2 usage, 3 not a valid index, log or plan (or a\n"
	       "plan of another build), 4 I/O error (or the lock was refused:\n"
	       "RLIMIT_MEMLOCK).\n", vp_prog);
}

/* Seconds from "90", "15m", "6h", "1d"; exits 2 on anything else. */
static double parse_duration(const char *s)
{
	char *end;
	double v = strtod(s, &end);
	double mul = !*end ? 1 : !strcmp(end, "s") ? 1 : !strcmp(end, "m") ? 60 :
		     !strcmp(end, "h") ? 3600 : !strcmp(end, "d") ? 86400 : -1;
	if (end == s || mul < 0 || !(v > 0) || v * mul > 1e10)
		vp_usage_error("--half-life: '%s' is not a duration (90, 15m, 6h, 1d)", s);
	return v * mul;
}

/* Minute of the day from "HH:MM"; exits 2 on anything else. */
static int parse_hhmm(const char *s)
{
	int h, m;
	char tail;
	if (sscanf(s, "%d:%d%c", &h, &m, &tail) != 2 || h < 0 || h > 23 || m < 0 || m > 59)
		vp_usage_error("--at: '%s' is not HH:MM", s);
	return h * 60 + m;
}

static void print_plan(const char *path, const char *log, const struct vp_warm_plan *p,
		       const struct vp_warm_opts *o, uint64_t size, const char *budget)
{
	static const char *const kn[] = { "flat segments", "ivf lists", "", "hnsw regions", "",
					  "", "pages of rows" };
	size_t per_kind[VP_WARM_KINDS] = { 0 };
	for (size_t i = 0; i < p->nunits; i++)
		if (p->units[i].kind < VP_WARM_KINDS)
			per_kind[p->units[i].kind]++;
	printf("plan           %s from %s, strategy %s", path, log, vp_warm_strategy_name(o->strategy));
	if (o->strategy == VP_WARM_RECENCY || o->strategy == VP_WARM_ALL) {
		if (o->at_minute >= 0)
			printf(", at %02d:%02d", o->at_minute / 60, o->at_minute % 60);
		else
			printf(", half-life %.0f s", o->half_life);
	}
	printf(", budget %s, grain %llu\n", budget ? budget : "all the log touched",
	       (unsigned long long)o->grain);
	printf("bytes          %llu of %llu (%.1f%%) in %zu ranges\n", (unsigned long long)p->bytes,
	       (unsigned long long)size, size ? 100.0 * (double)p->bytes / (double)size : 0.0,
	       p->nranges);
	printf("always         %llu bytes (header, table, centroids, offsets, upper levels, "
	       "quantizer)\n", (unsigned long long)p->always_bytes);
	for (int k = 0; k < VP_WARM_KINDS; k++)
		if (per_kind[k])
			printf("units          %zu %s planned, of %zu (%zu in the log)\n", per_kind[k],
			       kn[k], p->kind_total[k], p->kind_seen[k]);
	if (!p->nunits)
		printf("units          none planned, of %zu (%zu in the log)\n", p->units_total,
		       p->units_seen);
	printf("log            %llu records, %llu queries, %llu accesses%s\n",
	       (unsigned long long)p->records, (unsigned long long)p->queries,
	       (unsigned long long)p->accesses, p->timed ? ", timed" : ", no times (older log)");
	printf("expected       hit rate %.1f%% of accesses, %.1f%% of queries served whole\n",
	       p->accesses ? 100.0 * (double)p->accesses_covered / (double)p->accesses : 0.0,
	       p->queries ? 100.0 * (double)p->queries_covered / (double)p->queries : 0.0);
	printf("%-14s %12s %12s\n", "range", "offset", "length");
	for (size_t i = 0; i < p->nranges; i++)
		printf("%-14zu %12llu %12llu\n", i, (unsigned long long)p->ranges[i].off,
		       (unsigned long long)p->ranges[i].len);
	printf("%-14s %s\n", "order", "(units, hottest first)");
	for (size_t i = 0; i < p->nunits && i < 20; i++)
		printf("  %s %u, segment %u: %llu bytes, score %.3g\n",
		       p->units[i].kind == VP_ALOG_IVF ? "list" :
		       p->units[i].kind == VP_ALOG_FLAT ? "segment" :
		       p->units[i].kind == VP_ALOG_ROWS ? "page of rows" : "region", p->units[i].item,
		       p->units[i].seg, (unsigned long long)p->units[i].bytes, p->units[i].score);
}

/* --cache: search the most frequent logged queries through the result
 * cache, as vp-search will (same k and parameters, so the same keys). */
static int warm_cache(const char *index, const char *log, const char *dir, const char *l3url,
		      size_t top, size_t k, const char *const *params, int nparams)
{
	struct vp_searcher s;
	struct vp_error err = { 0 };
	struct vp_param_set ps;
	struct vp_cache *cache = NULL;
	struct vp_l3 *l3 = NULL;
	struct vp_search_call call;
	float *q, *dist;
	int64_t *ids;
	size_t n, distinct, logged;
	uint64_t t0 = vp_now_usec();
	const struct vp_cache_stats *cs;

	if (vp_searcher_open(&s, index, 0, &err))
		vp_die_err(&err);
	vp_params_defaults(&ps);
	for (int i = 0; i < nparams; i++)
		if (vp_params_parse(&ps, params[i], (int)s.ix.hdr.type, VP_STAGE_SEARCH, &err))
			vp_usage_error("%s", err.msg);
	if (vp_warm_top_queries(log, s.ix.hdr.dim, top, &q, &n, &distinct, &logged, &err))
		vp_die_err(&err);
	if (!logged)
		vp_die(VP_EXIT_DATA, "%s: no query vectors of dimension %u (log them with "
		       "vp-search --access-log %s --log-queries)", log, s.ix.hdr.dim, log);
	if (vp_cache_open(&cache, dir, k, VP_CACHE_L1_DEFAULT, VP_CACHE_L2_SLOTS_DEFAULT, &err))
		vp_die_err(&err);
	if (l3url && (l3 = vp_cli_l3_open(l3url)))
		vp_cache_set_l3(cache, l3);
	dist = malloc((n ? n : 1) * k * sizeof *dist);
	ids = malloc((n ? n : 1) * k * sizeof *ids);
	if (!dist || !ids)
		vp_die(VP_EXIT_IO, "out of memory");
	call = (struct vp_search_call){ &s, k, &ps, vp_default_threads(), NULL, VP_PLAN_AUTO };
	if (n && vp_cache_search(cache, vp_searcher_cache_seed(&s, k, &ps, VP_PLAN_AUTO, NULL), q, n,
				 s.ix.hdr.dim, vp_search_call_fn, &call, dist, ids, &err))
		vp_die_err(&err);
	cs = vp_cache_stats(cache);
	if (vp_verbose)
		printf("%s: %zu of %zu distinct queries (%zu logged) in the cache, k=%zu: %llu were "
		       "there already, %llu searched (%.2f s)\n", dir, n, distinct, logged, k,
		       (unsigned long long)(cs->l2_hits + cs->l3_hits),
		       (unsigned long long)(n - cs->l1_hits - cs->l2_hits - cs->l3_hits),
		       (double)(vp_now_usec() - t0) / 1e6);
	if (vp_cache_error(cache))
		vp_die(VP_EXIT_IO, "%s/%s: %s", dir, VP_CACHE_FILE, vp_cache_error(cache));
	vp_cache_close(cache);
	vp_cli_l3_close(l3, l3url);
	vp_searcher_close(&s);
	free(q);
	free(dist);
	free(ids);
	vp_close_stdout();
	return 0;
}

static volatile sig_atomic_t stop;
static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static double pct(long res, size_t total)
{
	return total ? 100.0 * (double)res / (double)total : 100.0;
}

static void write_metrics(struct vp_metrics_cli *mc, struct vp_metrics *m, const char *path,
			  const struct vp_index *ix, size_t total, long before, long after,
			  uint64_t bytes, double secs)
{
	char lb[512] = "";
	if (!mc->path)
		return;
	vp_metrics_reset(m);
	vp_metrics_one(m, "vp_warmup_bytes_touched_total", "counter",
		       "Bytes of the index read to bring them into memory.", (double)bytes);
	vp_metrics_one(m, "vp_warmup_seconds", "gauge", "Wall time of the warm-up (or eviction).",
		       secs);
	vp_metrics_one(m, "vp_warmup_index_size_bytes", "gauge", "Size of the index file.",
		       (double)ix->size);
	vp_metrics_family(m, "vp_warmup_resident_ratio", "gauge",
			  "Fraction of the index's pages in the page cache, before and after.");
	vp_metrics_sample(m, "", "when=\"before\"", total ? (double)before / (double)total : 1);
	vp_metrics_sample(m, "", "when=\"after\"", total ? (double)after / (double)total : 1);
	vp_metrics_label(lb, sizeof lb, "index", path);
	vp_metrics_family(m, "vp_warmup_index_info", "gauge", "Always 1: the index warmed.");
	vp_metrics_sample(m, "", lb, 1);
	vp_metrics_process(m, "vp_warmup");
	vp_metrics_cli_write(mc, m, mc->interval <= 0);
}

/* Residency of the file, not of a mapping: opening the index (a huge-page
 * mapping) would read its header and table in first, and a mapping with
 * nothing faulted in costs mincore a lookup a page (vp_file_resident_pages) */
static long file_residency(const char *path, size_t *total)
{
	struct stat st;
	long r = -1;
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	if (!fstat(fd, &st))
		r = vp_file_resident_pages(fd, (uint64_t)st.st_size, total);
	close(fd);
	return r;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "lock", no_argument, NULL, 'L' },
		{ "access-log", required_argument, NULL, 'A' },
		{ "budget", required_argument, NULL, 'B' },
		{ "strategy", required_argument, NULL, 'S' },
		{ "half-life", required_argument, NULL, 'T' },
		{ "grain", required_argument, NULL, 'G' },
		{ "at", required_argument, NULL, 't' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "save-plan", required_argument, NULL, 'W' },
		{ "plan", required_argument, NULL, 'P' },
		{ "cache", required_argument, NULL, 'C' },
		{ "top", required_argument, NULL, 'N' },
		{ "k", required_argument, NULL, 'k' },
		{ "param", required_argument, NULL, 'p' },
		{ "cache-l3", required_argument, NULL, '3' },
		{ "evict", no_argument, NULL, 'E' },
		VP_METRICS_LONGOPTS,
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int lock = 0, evict = 0, dry = 0, c, nparams = 0;
	const char *cachedir = NULL, *l3url = NULL, *params[64];
	size_t top = 1000, k = VP_K_DEFAULT;
	const char *alogpath = NULL, *budget_s = NULL, *grain_s = NULL;
	const char *savepath = NULL, *planpath = NULL;
	int tuned = 0; /* a planning option given */
	struct vp_warm_opts wo;
	struct vp_warm_plan plan;
	struct vp_warm_range full, *ranges = &full;
	size_t nranges = 1;
	const unsigned char *map;
	void *own = NULL;
	struct vp_metrics_cli mc;
	struct vp_metrics met;
	uint64_t touched = 0;
	struct vp_index ix;
	struct vp_blocks blocks = { 0 };
	int huge;
	struct vp_error err = { 0 };
	size_t total;
	long before, after, ps = sysconf(_SC_PAGESIZE);
	int report;
	uint64_t t0;
	volatile unsigned char sink = 0;

	/* the time it reports: its own, from here (the program's start, its
	 * loading, before main, is not in it) */
	t0 = vp_now_usec();
	vp_cli_init(argc, argv);
	vp_metrics_cli_init(&mc);
	vp_metrics_init(&met);
	vp_warm_opts_init(&wo);
	memset(&plan, 0, sizeof plan);
	while ((c = getopt_long(argc, argv, "k:p:qhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'L': lock = 1; break;
		case 'A': alogpath = optarg; break;
		case 'B': budget_s = optarg; break;
		case 'G': grain_s = optarg; break;
		case 'W': savepath = optarg; break;
		case 'P': planpath = optarg; break;
		case 'S':
			tuned = 1;
			if ((wo.strategy = vp_warm_strategy_parse(optarg)) < 0)
				vp_usage_error("--strategy: '%s' is not frequency, recency, correlation "
					       "or all", optarg);
			break;
		case 'T': wo.half_life = parse_duration(optarg); tuned = 1; break;
		case 't': wo.at_minute = parse_hhmm(optarg); tuned = 1; break;
		case 'n': dry = 1; break;
		case 'C': cachedir = optarg; break;
		case 'N': top = (size_t)vp_opt_int("--top", optarg, 1, 100000000); break;
		case 'k': k = (size_t)vp_opt_int("-k", optarg, VP_K_MIN, VP_K_MAX); break;
		case 'p':
			if (nparams == 64)
				vp_usage_error("too many -p options");
			params[nparams++] = optarg;
			break;
		case '3': l3url = optarg; break;
		case 'E': evict = 1; break;
		case VP_METRICS_OPT_FILE: case VP_METRICS_OPT_INTERVAL:
			vp_metrics_cli_option(&mc, c, optarg);
			break;
		case 'q': vp_verbose = 0; break;
		case 'h': usage(); vp_close_stdout(); return 0;
		case 'V': vp_version();
		default: vp_usage_error("bad option");
		}
	}
	if (optind + 1 != argc)
		vp_usage_error("expected one INDEX");
	if (lock && evict)
		vp_usage_error("--lock and --evict are opposites");
	if (planpath && (alogpath || budget_s || dry || grain_s || tuned || savepath || evict))
		vp_usage_error("--plan brings in a saved plan: no --access-log, --budget, "
			       "--grain, --strategy, --half-life, --at, --dry-run, --save-plan "
			       "or --evict");
	if (!alogpath && (budget_s || dry || grain_s || savepath))
		vp_usage_error("--budget, --grain, --dry-run and --save-plan go with --access-log");
	if (savepath && (dry || lock))
		vp_usage_error("--save-plan writes the plan and brings nothing in: no --dry-run "
			       "or --lock");
	if (grain_s && (strchr(grain_s, '%') ||
			vp_warm_budget_parse(grain_s, 0, &wo.grain, &err) ||
			wo.grain < 1 || wo.grain > (1u << 30)))
		vp_usage_error("--grain: '%s' is not a size from 1 byte to 1G (4K, 64K, 1M)", grain_s);
	if (alogpath && evict)
		vp_usage_error("--evict takes no --access-log");
	if (cachedir) {
		if (!alogpath)
			vp_usage_error("--cache needs --access-log (with the queries kept)");
		if (budget_s || dry || lock)
			vp_usage_error("--cache fills the result cache: no --budget, --dry-run or --lock");
		return warm_cache(argv[optind], alogpath, cachedir, l3url, top, k, params, nparams);
	}
	if (l3url || nparams || top != 1000 || k != VP_K_DEFAULT)
		vp_usage_error("--top, -k, -p and --cache-l3 go with --cache");
	/* residency is reported, not needed: with -q and no metrics it is
	 * not measured (a mincore of every page before and after: 3 of the
	 * 16 ms a plan of a 237 MB file took when it was all in memory) */
	report = vp_verbose || mc.path;
	total = 0;
	before = report ? file_residency(argv[optind], &total) : 0;
	/* a planned warm-up reads only its ranges: no 2 MB folios around the
	 * header and table when the index is opened */
	huge = vp_hw_huge_pages();
	if (alogpath || planpath)
		vp_hw_set_huge_pages(0);
	if (vp_index_open(&ix, argv[optind], &err))
		vp_die_err(&err);
	if (evict) {
		int fd = open(argv[optind], O_RDONLY);
		int e;
		if (fd < 0)
			vp_die(VP_EXIT_IO, "%s: %s", argv[optind], strerror(errno));
		/* our own mapping would pin the pages: drop it first; dirty pages
		 * (a file just written) are not dropped: write them out first */
		vp_index_close(&ix);
		fdatasync(fd);
		e = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
		if (e)
			vp_die(VP_EXIT_IO, "%s: posix_fadvise: %s", argv[optind], strerror(e));
		after = report ? file_residency(argv[optind], &total) : 0;
		close(fd);
		if (vp_verbose)
			printf("%s: %zu pages, resident before %.1f%%, after eviction %.1f%%\n",
			       argv[optind], total, pct(before, total), pct(after, total));
		if (mc.path) {
			if (vp_index_open(&ix, argv[optind], &err))
				vp_die_err(&err);
			write_metrics(&mc, &met, argv[optind], &ix, total, before, after, 0,
				      (double)(vp_now_usec() - t0) / 1e6);
			vp_index_close(&ix);
			vp_metrics_free(&met);
		}
		vp_close_stdout();
		return 0;
	}
	full = (struct vp_warm_range){ 0, ix.size };
	if (alogpath) {
		struct vp_searcher sr;
		if (budget_s && vp_warm_budget_parse(budget_s, ix.size, &wo.budget, &err))
			vp_usage_error("%s", err.msg);
		wo.now = (uint64_t)time(NULL);
		/* where things are, without reading the sections a search's
		 * checks would (links, ids): that would warm what the plan leaves */
		if (vp_searcher_open(&sr, argv[optind], VP_OPEN_LAYOUT, &err))
			vp_die_err(&err);
		if (vp_warm_plan(&sr, alogpath, &wo, &plan, &err))
			vp_die_err(&err);
		vp_searcher_close(&sr);
		if (savepath) {
			if (vp_warm_plan_save(&plan, &ix, savepath, &err))
				vp_die_err(&err);
			if (vp_verbose)
				printf("%s: a plan of %.1f MB of %.1f MB (%.1f%%) in %zu ranges, "
				       "from %s: expected hit rate %.1f%% of accesses, %.1f%% of "
				       "queries whole\n", savepath, (double)plan.bytes / 1e6,
				       (double)ix.size / 1e6,
				       100.0 * (double)plan.bytes / (double)ix.size, plan.nranges,
				       alogpath,
				       plan.accesses ? 100.0 * (double)plan.accesses_covered /
						       (double)plan.accesses : 0.0,
				       plan.queries ? 100.0 * (double)plan.queries_covered /
						      (double)plan.queries : 0.0);
			vp_warm_plan_free(&plan);
			vp_index_close(&ix);
			vp_close_stdout();
			return 0;
		}
		if (dry) {
			print_plan(argv[optind], alogpath, &plan, &wo, ix.size, budget_s);
			vp_warm_plan_free(&plan);
			vp_index_close(&ix);
			vp_close_stdout();
			return 0;
		}
		ranges = plan.ranges;
		nranges = plan.nranges;
	} else if (planpath) {
		if (vp_warm_plan_load(&ix, planpath, &plan, &err))
			vp_die_err(&err);
		ranges = plan.ranges;
		nranges = plan.nranges;
	}
	if (!alogpath && !planpath) {
		/* the whole file: through the index's own mapping (huge pages,
		 * readahead), populated 32 MB at a time (progress, metrics).
		 * Measured against reading it as the plans do (below): 0.11-0.19
		 * s against 0.18-0.31 s; against reading it in 2 MB blocks:
		 * 0.11-0.12 s against 0.13-0.16 s, for the same 2 MB mappings
		 * in a search after it (Intel Xeon, virtio disk).  Populating
		 * against asking for it all (WILLNEED) and touching a byte of
		 * every page, as before: 237 MB in 45-49 against 53-67 ms, eight
		 * alternations (AMD EPYC, virtio disk) */
		map = ix.map;
		enum { STEP = 32 << 20 };
		int populate = 1;
		for (uint64_t off = 0; off < ix.size; off += STEP) {
			uint64_t n = ix.size - off < STEP ? ix.size - off : STEP;
#ifdef MADV_POPULATE_READ
			if (populate && madvise((void *)(map + off), n, MADV_POPULATE_READ)) {
				if (errno != EINVAL)
					vp_die(VP_EXIT_IO, "%s: reading at %llu: %s", argv[optind],
					       (unsigned long long)off, strerror(errno));
				populate = 0;
			}
#else
			populate = 0;
#endif
			/* before Linux 5.14: asked for, then a byte of every page
			 * touched, WILLNEED being a hint */
			if (!populate) {
				madvise((void *)(map + off), n, MADV_WILLNEED);
				for (uint64_t o = off; o < off + n; o += (uint64_t)ps)
					sink ^= map[o];
			}
			touched = (off + n + (uint64_t)ps - 1) / (uint64_t)ps;
			if (vp_metrics_cli_due(&mc))
				write_metrics(&mc, &met, argv[optind], &ix, total, before,
					      vp_resident_pages(ix.map, ix.size, &total),
					      touched * (uint64_t)ps, (double)(vp_now_usec() - t0) / 1e6);
			vp_progress("%.0f%%", 100.0 * (double)(off + n) / (double)ix.size);
		}
	} else {
		int wfd = open(argv[optind], O_RDONLY);
		/* the plan's whole 2 MB blocks as 2 MB folios (vp_blocks_open);
		 * not through the index's mapping, opened without huge pages
		 * above: each of its opening reads would have read a block */
		vp_hw_set_huge_pages(huge);
		if (vp_blocks_open(&blocks, &ix))
			blocks.map = NULL;
		enum { CHUNK = 1 << 20 };
		unsigned char *buf = malloc(CHUNK);
		uint64_t done = 0;
		if (wfd < 0)
			vp_die(VP_EXIT_IO, "%s: %s", argv[optind], strerror(errno));
		if (!buf)
			vp_die(VP_EXIT_IO, "out of memory");
		/* the planned ranges, all asked for at once so the disk has them
		 * queued, then read in file order: the hint may drop some, a
		 * read makes it so.  Reads on a random-access descriptor, not
		 * touches of a mapping, so that a page the hint did not bring in
		 * costs its own read and no readahead window around it (the
		 * index's mapping is made for huge pages and readahead: it would
		 * bring in more than planned).  Measured (Linux 6.18, virtio
		 * disk, a 50% plan of 5740 ranges): 0.09 s this way; touching a
		 * random-access mapping after madvise(MADV_WILLNEED), as before,
		 * 0.41-0.94 s, a major fault a range. */
		struct vp_warm_range *pc = malloc((3 * nranges + 1) * sizeof *pc), *bl;
		size_t npc = 0, nbl = 0;
		if (!pc)
			vp_die(VP_EXIT_IO, "out of memory");
		bl = pc + 2 * nranges; /* the block spans, after the pieces */
		/* the 2 MB blocks wholly inside a range (a plan's codes and
		 * links of HNSW, its hot IVF lists; the file's last part block
		 * when the range runs to the end) are read as blocks, each run
		 * of them through readahead but for its end (vp_blocks_stream);
		 * what is left, the pieces, as follows */
		for (size_t r = 0, r1; r < nranges; r = r1) {
			uint64_t off = ranges[r].off, end = off + ranges[r].len;
			/* ranges that meet are one run (a saved plan may have
			 * them; the planner's own runs are merged already) */
			for (r1 = r + 1; r1 < nranges && ranges[r1].off <= end; r1++)
				if (ranges[r1].off + ranges[r1].len > end)
					end = ranges[r1].off + ranges[r1].len;
			uint64_t a = (off + VP_BLOCK - 1) & ~(uint64_t)(VP_BLOCK - 1);
			/* to the file's end: its last part block is one too */
			uint64_t e = end == ix.size ? end : end & ~(uint64_t)(VP_BLOCK - 1);
			if (!blocks.map || a >= e) {
				pc[npc++] = (struct vp_warm_range){ off, end - off };
				continue;
			}
			if (off < a)
				pc[npc++] = (struct vp_warm_range){ off, a - off };
			if (e < end)
				pc[npc++] = (struct vp_warm_range){ e, end - e };
			bl[nbl++] = (struct vp_warm_range){ a, e - a };
		}
		for (size_t r = 0; r < npc; r++)
			posix_fadvise(wfd, (off_t)pc[r].off, (off_t)pc[r].len, POSIX_FADV_WILLNEED);
		posix_fadvise(wfd, 0, 0, POSIX_FADV_RANDOM);
		for (size_t r = 0; r < nbl; r++) {
			vp_blocks_stream(&blocks, bl[r].off, bl[r].len);
			done += bl[r].len;
			touched = done / (uint64_t)ps;
			vp_progress("%.0f%%", 100.0 * (double)done / (double)plan.bytes);
		}
		for (size_t r = 0; r < npc; r++)
			for (uint64_t off = pc[r].off; off < pc[r].off + pc[r].len;) {
				uint64_t left = pc[r].off + pc[r].len - off;
				ssize_t got = pread(wfd, buf, left < CHUNK ? left : CHUNK, (off_t)off);
				if (got < 0 && errno == EINTR)
					continue;
				if (got < 0)
					vp_die(VP_EXIT_IO, "%s: read at %llu: %s", argv[optind],
					       (unsigned long long)off, strerror(errno));
				if (got == 0)
					break; /* the file shrank under us */
				off += (uint64_t)got;
				done += (uint64_t)got;
				touched = (done + (uint64_t)ps - 1) / (uint64_t)ps;
				if (vp_metrics_cli_due(&mc))
					write_metrics(&mc, &met, argv[optind], &ix, total, before,
						      vp_resident_pages(ix.map, ix.size, &total),
						      touched * (uint64_t)ps,
						      (double)(vp_now_usec() - t0) / 1e6);
				vp_progress("%.0f%%", 100.0 * (double)done / (double)plan.bytes);
			}
		free(pc);
		free(buf);
		/* --lock: a plain mapping of our own, random access */
		own = lock ? mmap(NULL, ix.size, PROT_READ, MAP_SHARED, wfd, 0) : NULL;
		close(wfd);
		if (own == MAP_FAILED)
			vp_die(VP_EXIT_IO, "%s: mmap: %s", argv[optind], strerror(errno));
		if (own)
			madvise(own, ix.size, MADV_RANDOM);
		map = own;
	}
	vp_progress_done();
	for (size_t r = 0; lock && r < nranges; r++)
		if (mlock(map + ranges[r].off, ranges[r].len)) {
			struct rlimit rl;
			int e = errno;
			getrlimit(RLIMIT_MEMLOCK, &rl);
			if (e == ENOMEM || e == EPERM)
				vp_die(VP_EXIT_IO, "%s: cannot lock %llu bytes: RLIMIT_MEMLOCK is %s%llu "
				       "bytes (raise it with 'ulimit -l' or run with CAP_IPC_LOCK)",
				       argv[optind], (unsigned long long)(touched * (uint64_t)ps),
				       rl.rlim_cur == RLIM_INFINITY ? "unlimited, " : "",
				       rl.rlim_cur == RLIM_INFINITY ? 0ull : (unsigned long long)rl.rlim_cur);
			vp_die(VP_EXIT_IO, "%s: mlock: %s", argv[optind], strerror(e));
		}
	if (alogpath && vp_verbose)
		printf("%s: brought in %.1f MB of %.1f MB (%.1f%%) in %zu ranges from %s "
		       "(strategy %s): expected hit rate %.1f%% of accesses, %.1f%% of queries "
		       "whole\n", argv[optind], (double)plan.bytes / 1e6, (double)ix.size / 1e6,
		       100.0 * (double)plan.bytes / (double)ix.size, plan.nranges, alogpath,
		       vp_warm_strategy_name(wo.strategy),
		       plan.accesses ? 100.0 * (double)plan.accesses_covered / (double)plan.accesses : 0.0,
		       plan.queries ? 100.0 * (double)plan.queries_covered / (double)plan.queries : 0.0);
	if (planpath && vp_verbose)
		printf("%s: brought in %.1f MB of %.1f MB (%.1f%%) in %zu ranges from the plan "
		       "%s\n", argv[optind], (double)plan.bytes / 1e6, (double)ix.size / 1e6,
		       100.0 * (double)plan.bytes / (double)ix.size, plan.nranges, planpath);
	after = report ? file_residency(argv[optind], &total) : 0;
	if (vp_verbose)
		printf("%s: %zu pages, resident before %.1f%%, after %.1f%% (%.3f s)%s\n",
		       argv[optind], total, pct(before, total), pct(after, total),
		       (double)(vp_now_usec() - t0) / 1e6, lock ? ", locked" : "");
	mc.interval = 0;
	write_metrics(&mc, &met, argv[optind], &ix, total, before, after, touched * (uint64_t)ps,
		      (double)(vp_now_usec() - t0) / 1e6);
	if (lock) {
		fflush(stdout);
		signal(SIGINT, on_signal);
		signal(SIGTERM, on_signal);
		while (!stop)
			pause();
	}
	if (own)
		munmap(own, ix.size);
	vp_blocks_close(&blocks);
	vp_metrics_free(&met);
	vp_warm_plan_free(&plan);
	vp_index_close(&ix);
	vp_close_stdout();
	(void)sink;
	return 0;
}
