/* vp-search: queries (file or stdin) -> top-k ids and distances on stdout. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vp_cli.h"
#include "vp_filter.h"

enum outfmt { OUT_TSV, OUT_IVECS, OUT_JSON };

static void usage(void)
{
	printf("usage: %s -i INDEX [options] [QUERIES|-]\n"
	       "Find the k nearest neighbours of each query (stdin when QUERIES is -\n"
	       "or missing).  Queries are read, searched and written a batch at a\n"
	       "time, so a stream of any length works in a pipeline.\n\n"
	       "  -i, --index INDEX    index file (required)\n"
	       "  -k, --k K            neighbours per query (default %d)\n"
	       "  -p, --param KEY=VAL  search parameter (none for FLAT)\n"
	       "  -j, --threads N      search threads (default: all processors)\n"
	       "  -f, --output-format F  tsv (default), ivecs or json\n"
	       "  -F, --format F       query format: fvecs, bvecs, fbin, u8bin\n"
	       "                       (default: from the file name; fvecs for stdin)\n"
	       "  -b, --batch N        queries per batch (default %d)\n"
	       "  -c, --config FILE    take k, search parameters, batch and threads from a\n"
	       "                       vp.yaml (options override it)\n"
	       "      --filter EXPR    only rows that pass EXPR: label == 3, label != 3,\n"
	       "                       label in {1,4,7}, id >= 1000 && id < 5000, with\n"
	       "                       &&, ||, ! and parentheses\n"
	       "      --plan NAME      force a plan: index, prefilter, ivf-wide\n"
	       "      --explain[=analyze]  print the candidate plans and the choice\n"
	       "                       instead of results (analyze: also run and time it)\n"
	       "      --verify         check every section checksum before searching\n"
	       "  -h, --help           this help\n"
	       "  -V, --version        print the version\n\n"
	       "Output: tsv rows 'query<TAB>rank<TAB>id<TAB>distance' (query and rank\n"
	       "from 0); ivecs: k ids per query (-1 past the index size); json: one\n"
	       "object per line {\"query\":N,\"ids\":[...],\"distances\":[...]}.\n"
	       "Exit status: 0 done, 2 usage, 3 bad data or index, 4 I/O error.\n",
	       vp_prog, VP_K_DEFAULT, VP_BATCH_DEFAULT);
}

static void write_results(enum outfmt of, uint64_t q0, size_t nq, size_t k,
			  const float *dist, const int64_t *ids, int32_t *ibuf)
{
	struct vp_error err = { 0 };
	for (size_t i = 0; i < nq; i++) {
		const float *d = dist + i * k;
		const int64_t *id = ids + i * k;
		if (of == OUT_TSV) {
			for (size_t r = 0; r < k && id[r] >= 0; r++)
				printf("%llu\t%zu\t%lld\t%.9g\n",
				       (unsigned long long)(q0 + i), r,
				       (long long)id[r], d[r]);
		} else if (of == OUT_JSON) {
			printf("{\"query\":%llu,\"ids\":[", (unsigned long long)(q0 + i));
			for (size_t r = 0; r < k && id[r] >= 0; r++)
				printf("%s%lld", r ? "," : "", (long long)id[r]);
			printf("],\"distances\":[");
			for (size_t r = 0; r < k && id[r] >= 0; r++)
				printf("%s%.9g", r ? "," : "", d[r]);
			printf("]}\n");
		} else {
			for (size_t r = 0; r < k; r++)
				ibuf[r] = (int32_t)id[r];
			if (vp_write_ivecs(stdout, ibuf, 1, (uint32_t)k, &err))
				vp_die(VP_EXIT_IO, "write error on standard output: %s",
				       strerror(errno));
		}
	}
	if (ferror(stdout))
		vp_die(VP_EXIT_IO, "write error on standard output: %s", strerror(errno));
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "index", required_argument, NULL, 'i' },
		{ "k", required_argument, NULL, 'k' },
		{ "param", required_argument, NULL, 'p' },
		{ "threads", required_argument, NULL, 'j' },
		{ "output-format", required_argument, NULL, 'f' },
		{ "format", required_argument, NULL, 'F' },
		{ "batch", required_argument, NULL, 'b' },
		{ "verify", no_argument, NULL, 'v' },
		{ "config", required_argument, NULL, 'c' },
		{ "filter", required_argument, NULL, 'X' },
		{ "plan", required_argument, NULL, 'P' },
		{ "explain", optional_argument, NULL, 'E' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *index = NULL, *in = "-", *params[64];
	int nparams = 0, threads = vp_default_threads(), verify = 0, c;
	size_t k = VP_K_DEFAULT, batch = VP_BATCH_DEFAULT;
	enum outfmt of = OUT_TSV;
	enum vp_vecfmt fmt = VP_FMT_AUTO;
	struct vp_param_set ps;
	struct vp_searcher s;
	struct vp_reader r;
	struct vp_error err = { 0 };
	float *q, *dist;
	int64_t *ids;
	int32_t *ibuf;
	uint64_t done = 0;
	const char *cfgpath = NULL;
	int k_given = 0, threads_given = 0, batch_given = 0;
	const char *fexpr = NULL;
	int plan = VP_PLAN_AUTO, explain = 0;
	struct vp_filter filter;
	uint64_t search_ns = 0;

	vp_cli_init(argc, argv);
	while ((c = getopt_long(argc, argv, "i:k:p:j:f:F:b:c:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'i': index = optarg; break;
		case 'k': k = (size_t)vp_opt_int("-k", optarg, VP_K_MIN, VP_K_MAX); k_given = 1; break;
		case 'c': cfgpath = optarg; break;
		case 'X': fexpr = optarg; break;
		case 'P':
			if ((plan = vp_plan_parse(optarg)) <= 0)
				vp_usage_error("--plan: '%s' is not index, prefilter or ivf-wide", optarg);
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
		case 'f':
			if (!strcmp(optarg, "tsv")) of = OUT_TSV;
			else if (!strcmp(optarg, "ivecs")) of = OUT_IVECS;
			else if (!strcmp(optarg, "json")) of = OUT_JSON;
			else vp_usage_error("--output-format: '%s' is not tsv, ivecs or json", optarg);
			break;
		case 'F':
			fmt = vp_vecfmt_parse(optarg);
			if (!fmt || fmt == VP_FMT_IVECS || fmt == VP_FMT_IBIN)
				vp_usage_error("--format: '%s' is not fvecs, bvecs, fbin or u8bin", optarg);
			break;
		case 'b':
			batch = (size_t)vp_opt_int("--batch", optarg, VP_BATCH_MIN, VP_BATCH_MAX);
			batch_given = 1;
			break;
		case 'v': verify = 1; break;
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
	if (of == OUT_IVECS && !explain)
		vp_refuse_tty_stdout("ivecs");
	if (fexpr && vp_filter_parse(&filter, fexpr, &err))
		vp_usage_error("%s", err.msg);
	if ((explain || plan != VP_PLAN_AUTO) && !fexpr)
		vp_usage_error("--explain and --plan need --filter");

	if (vp_searcher_open(&s, index, verify, &err))
		vp_die_err(&err);
	vp_params_defaults(&ps);
	if (cfgpath) {
		struct vp_config cfg;
		int type = (int)s.ix.hdr.type;
		vp_config_init(&cfg);
		if (vp_config_load(&cfg, cfgpath, &err))
			vp_die_err(&err);
		if (cfg.type && cfg.type != type)
			vp_usage_error("%s describes a %s index, %s is %s", cfgpath,
				       vp_index_type_name(cfg.type), index,
				       vp_index_type_name(type));
		if (!k_given)
			k = (size_t)cfg.k;
		if (!batch_given)
			batch = (size_t)cfg.batch;
		if (!threads_given && (cfg.search_threads || cfg.threads))
			threads = (int)(cfg.search_threads ? cfg.search_threads : cfg.threads);
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
	if (explain) {
		struct vp_plan_est est[VP_PLAN_COUNT];
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
		printf("%-10s %-9s %14s %10s\n", "plan", "available", "est_us/query", "exp_recall");
		for (int p = 1; p < VP_PLAN_COUNT; p++) {
			if (!est[p].available) {
				printf("%-10s %-9s %14s %10s\n", est[p].name, "no", "-", "-");
				continue;
			}
			printf("%-10s %-9s %14.1f %10.2f%s", est[p].name, "yes", est[p].cost_us,
			       est[p].recall, p == chosen ? "  <- chosen" : "");
			if (p == VP_PLAN_WIDE)
				printf("  (nprobe=%lld)", (long long)est[p].nprobe);
			printf("\n");
		}
		plan = chosen;
		if (explain == 1) {
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

	q = malloc(batch * (r.dim ? r.dim : 1) * sizeof *q);
	dist = malloc(batch * k * sizeof *dist);
	ids = malloc(batch * k * sizeof *ids);
	ibuf = malloc(k * sizeof *ibuf);
	if (!q || !dist || !ids || !ibuf)
		vp_die(VP_EXIT_IO, "out of memory");
	for (;;) {
		long got = vp_reader_read(&r, q, batch, &err);
		if (got < 0)
			vp_die_err(&err);
		if (got == 0)
			break;
		{
			uint64_t t0 = vp_now_nsec();
			if (vp_searcher_search_filtered(&s, q, (size_t)got, k, &ps, threads,
							fexpr ? &filter : NULL, plan, dist,
							ids, &err))
				vp_die(err.code == VP_E_ARG ? VP_EXIT_USAGE : vp_exit_code(err.code),
				       "%s", err.msg);
			search_ns += vp_now_nsec() - t0;
		}
		if (explain != 2)
			write_results(of, done, (size_t)got, k, dist, ids, ibuf);
		done += (uint64_t)got;
		vp_progress("%llu queries", (unsigned long long)done);
	}
	vp_progress_done();
	if (explain == 2)
		printf("analyze      %llu queries, %.1f us/query measured (plan %s, %d thread%s)\n",
		       (unsigned long long)done, done ? (double)search_ns / 1e3 / (double)done : 0,
		       plan == VP_PLAN_INDEX ? "index" : plan == VP_PLAN_PREFILTER ? "prefilter" : "ivf-wide",
		       threads, threads == 1 ? "" : "s");
	if (fexpr)
		vp_filter_release(&filter);
	vp_reader_close(&r);
	vp_searcher_close(&s);
	free(q);
	free(dist);
	free(ids);
	free(ibuf);
	vp_close_stdout();
	return 0;
}
