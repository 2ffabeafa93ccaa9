/* vp-tune: pick an index type and parameters for a recall target from the
 * user's data; print the reasoning and a Pareto table, write a vp.yaml. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "vp_cli.h"
#include "vp_family.h"

static void usage(void)
{
	printf("usage: %s BASE --target-recall R [options] -o vp.yaml\n"
	       "Choose the index type and parameters that meet a recall target on\n"
	       "BASE, by building and measuring candidates on a sample; write the\n"
	       "recommendation as a vp.yaml for vp-build -c and vp-search -c.\n\n"
	       "  -r, --target-recall R  recall@k to reach, 0..1 (required)\n"
	       "  -o, --output FILE      the vp.yaml to write (required)\n"
	       "  -q, --queries FILE     real queries to tune with: pass them when you have\n"
	       "                         them (default: held out from BASE, with an allowance)\n"
	       "  -k, --k K              neighbours per query (default %d)\n"
	       "  -m, --metric M         l2 (default), ip or cosine\n"
	       "      --objective O      qps (default), memory or build-time\n"
	       "      --memory-budget SIZE  largest index at full size (e.g. 2G)\n"
	       "      --time-budget SECONDS  wall time for the whole run, the check on the\n"
	       "                         full base included\n"
	       "      --no-full-check    skip building the best candidates on the full base\n"
	       "                         (faster; recall at full size is then likely lower)\n"
	       "      --method M         grid, random or bayes (default)\n"
	       "      --types LIST       index types to try (default: all)\n"
	       "      --sample N         base vectors to evaluate on (default: from the\n"
	       "                         time budget, all without one)\n"
	       "      --nq N             queries to evaluate with (default 1000; held out\n"
	       "                         of a small base, a twentieth of it)\n"
	       "  -j, --threads N        build threads (default: the CPUs this process may\n"
	       "                         use: its affinity mask and cgroup CPU quota)\n"
	       VP_HW_HELP
	       "  -s, --seed S           random seed (default %d)\n"
	       "  -F, --format F         BASE format (default: from the file name)\n"
	       "  -h, --help             this help\n"
	       "  -V, --version          print the version\n\n"
	       "Exit status: 0 a recommendation was written, 1 no candidate met the\n"
	       "target within the budgets, 2 usage, 3 bad data, 4 I/O error.\n",
	       vp_prog, VP_K_DEFAULT, VP_SEED_DEFAULT);
}

static double parse_size(const char *s)
{
	char *end;
	double v;
	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || v < 0)
		vp_usage_error("--memory-budget: '%s' is not a size", s);
	switch (*end) {
	case 'k': case 'K': v *= 1024; end++; break;
	case 'm': case 'M': v *= 1048576; end++; break;
	case 'g': case 'G': v *= 1073741824.0; end++; break;
	case 't': case 'T': v *= 1099511627776.0; end++; break;
	}
	if (*end == 'i')
		end++;
	if (*end == 'B' || *end == 'b')
		end++;
	if (*end)
		vp_usage_error("--memory-budget: '%s' is not a size (like 512M or 2G)", s);
	return v;
}

/* A candidate's build parameters and search setting, from its family's
 * row: "M=16 efConstruction=200" and "ef=24". */
static void describe(const struct vp_tune_cand *c, char *b, size_t n, char *sp, size_t sn)
{
	const struct vp_family *fam = vp_family_of(c->type);
	int w = 0;
	snprintf(b, n, "-");
	if (fam->p1)
		w = snprintf(b, n, "%s=%lld", fam->p1, (long long)c->p1);
	if (fam->p2 && w >= 0 && (size_t)w < n)
		w += snprintf(b + w, n - (size_t)w, " %s=%lld", fam->p2, (long long)c->p2);
	if (fam->p3 && w >= 0 && (size_t)w < n) {
		char v[32];
		snprintf(b + w, n - (size_t)w, " %s=%s", fam->p3,
			 vp_param_str(vp_param_lookup(fam->p3), c->p3, v, sizeof v));
	}
	snprintf(sp, sn, "-");
	if (fam->sweep_param >= 0)
		w = snprintf(sp, sn, "%s=%lld", vp_param_defs[fam->sweep_param].name,
			     (long long)c->sparam);
	if (fam->refine_k && w >= 0 && (size_t)w < sn)
		snprintf(sp + w, sn - (size_t)w, " %s=%lld", vp_param_defs[fam->refine_param].name,
			 (long long)c->refine);
}

static void on_reason(void *ctx, const char *line)
{
	(void)ctx;
	printf("# %s\n", line);
}

static void on_report(void *ctx, const struct vp_tune_cand *c, int n, double best)
{
	char b[96], sp[64];
	(void)ctx;
	describe(c, b, sizeof b, sp, sizeof sp);
	if (vp_verbose)
		vp_warn("[%d] %s %s: recall %.4f at %s, %.0f qps, %.1f MB, build %.1f s%s%s",
			n, vp_index_type_name(c->type), b, c->recall, sp, c->qps, c->memory / 1e6,
			c->build_s, c->feasible ? "" : " (misses the target)",
			isnan(best) ? "" : "");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "target-recall", required_argument, NULL, 'r' },
		{ "output", required_argument, NULL, 'o' },
		{ "queries", required_argument, NULL, 'q' },
		{ "k", required_argument, NULL, 'k' },
		{ "metric", required_argument, NULL, 'm' },
		{ "objective", required_argument, NULL, 'O' },
		{ "memory-budget", required_argument, NULL, 'B' },
		{ "time-budget", required_argument, NULL, 'T' },
		{ "method", required_argument, NULL, 'M' },
		{ "types", required_argument, NULL, 'Y' },
		{ "sample", required_argument, NULL, 'S' },
		{ "nq", required_argument, NULL, 'N' },
		{ "threads", required_argument, NULL, 'j' },
		VP_HW_LONGOPTS,
		{ "seed", required_argument, NULL, 's' },
		{ "format", required_argument, NULL, 'F' },
		{ "quiet", no_argument, NULL, 'Q' },
		{ "no-full-check", no_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct vp_tune_opts o;
	struct vp_hw_cli hwc;
	int threads_given = 0;
	struct vp_tune_result *res;
	struct vp_datastats st;
	struct vp_error err = { 0 };
	const char *out = NULL, *qpath = NULL, *base;
	enum vp_vecfmt fmt = VP_FMT_AUTO;
	float *x, *q = NULL;
	size_t n, nq = 0;
	uint32_t d, qd;
	int c, have_target = 0;
	static const char *const obj_names[] = { "qps", "memory", "build-time" };

	vp_cli_init(argc, argv);
	memset(&o, 0, sizeof o);
	o.start_usec = vp_now_usec(); /* the budget covers reading and analysis too */
	o.k = VP_K_DEFAULT;
	o.method = VP_TUNE_BAYES;
	o.types = VP_T(1) | VP_T(2) | VP_T(3) | VP_T(4) | VP_T(5) | VP_T(6);
	o.threads = vp_default_threads();
	vp_hw_cli_init(&hwc);
	o.seed = VP_SEED_DEFAULT;
	o.metric = VP_METRIC_L2;
	o.tmpdir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	while ((c = getopt_long(argc, argv, "r:o:q:k:m:j:s:F:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'r': o.target_recall = vp_opt_double("--target-recall", optarg, 0, 1); have_target = 1; break;
		case 'o': out = optarg; break;
		case 'q': qpath = optarg; break;
		case 'k': o.k = (size_t)vp_opt_int("-k", optarg, VP_K_MIN, 1000); break;
		case 'm':
			if ((o.metric = vp_metric_parse(optarg)) < 0)
				vp_usage_error("--metric: '%s' is not l2, ip or cosine", optarg);
			break;
		case 'O':
			if (!strcmp(optarg, "qps")) o.objective = VP_OBJ_QPS;
			else if (!strcmp(optarg, "memory")) o.objective = VP_OBJ_MEMORY;
			else if (!strcmp(optarg, "build-time")) o.objective = VP_OBJ_BUILD;
			else vp_usage_error("--objective: '%s' is not qps, memory or build-time", optarg);
			break;
		case 'B': o.memory_budget = parse_size(optarg); break;
		case 'T': o.time_budget = vp_opt_double("--time-budget", optarg, 1, 1e7); break;
		case 'M':
			if (!strcmp(optarg, "grid")) o.method = VP_TUNE_GRID;
			else if (!strcmp(optarg, "random")) o.method = VP_TUNE_RANDOM;
			else if (!strcmp(optarg, "bayes")) o.method = VP_TUNE_BAYES;
			else vp_usage_error("--method: '%s' is not grid, random or bayes", optarg);
			break;
		case 'Y': {
			char *list = strdup(optarg), *tok, *save;
			o.types = 0;
			for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
				int t = vp_index_type_parse(tok);
				if (t < 0)
					vp_usage_error("--types: unknown index type '%s'", tok);
				o.types |= VP_T(t);
			}
			free(list);
			if (!o.types)
				vp_usage_error("--types: no types in '%s'", optarg);
			break;
		}
		case 'S': o.sample = (size_t)vp_opt_int("--sample", optarg, 100, INT64_MAX); break;
		case 'N': o.nqueries = (size_t)vp_opt_int("--nq", optarg, 1, 1000000); break;
		case 'j':
			o.threads = (int)vp_opt_int("--threads", optarg, VP_THREADS_MIN, VP_THREADS_MAX);
			threads_given = 1;
			break;
		case VP_HW_OPT_CPUS: case VP_HW_OPT_NUMA: case VP_HW_OPT_HUGE: case VP_HW_OPT_PREALLOC:
			vp_hw_cli_option(&hwc, c, optarg);
			break;
		case 's': o.seed = (uint64_t)vp_opt_int("--seed", optarg, 0, INT64_MAX); break;
		case 'F':
			fmt = vp_vecfmt_parse(optarg);
			if (!fmt || fmt == VP_FMT_IVECS || fmt == VP_FMT_IBIN)
				vp_usage_error("--format: '%s' is not fvecs, bvecs, fbin, u8bin or hdf5", optarg);
			break;
		case 'Q': vp_verbose = 0; break;
		case 'C': o.no_full_check = 1; break;
		case 'h': usage(); vp_close_stdout(); return 0;
		case 'V': vp_version();
		default: vp_usage_error("bad option");
		}
	}
	if (optind + 1 != argc)
		vp_usage_error("expected one BASE");
	if (!have_target || !out)
		vp_usage_error("--target-recall and -o are required");
	base = argv[optind];
	o.threads = vp_hw_cli_start(&hwc, o.threads, threads_given);
	if (vp_read_all(base, fmt, &x, &n, &d, &err))
		vp_die_err(&err);
	if (n < 100)
		vp_die(VP_EXIT_DATA, "%s: %zu vectors; vp-tune needs at least 100", base, n);
	if (qpath) {
		if (vp_read_all(qpath, VP_FMT_AUTO, &q, &nq, &qd, &err))
			vp_die_err(&err);
		if (qd != d)
			vp_die(VP_EXIT_DATA, "%s: queries have dimension %u, %s has %u", qpath,
			       qd, base, d);
		if (nq == 0)
			vp_die(VP_EXIT_DATA, "%s: no queries", qpath);
	}
	vp_progress("analysing %zu vectors", n);
	if (vp_tune_analyze(x, n, d, o.seed, &st, &err))
		vp_die_err(&err);
	vp_progress_done();
	printf("# data %s: %zu vectors of dimension %u\n", base, n, d);
	printf("#   norms min %.4g, mean %.4g, max %.4g%s\n", st.norm_min, st.norm_mean,
	       st.norm_max, st.unit_norm ? " (unit vectors)" : "");
	printf("#   zeros %.1f%%, duplicate rows %zu, intrinsic dimension %.1f, "
	       "16-means explain %.0f%% of the variance\n", 100 * st.zero_fraction,
	       st.duplicates, st.intrinsic_dim, 100 * st.explained16);
	printf("# target: recall@%zu >= %.4g, objective %s%s%s, method %s\n", o.k,
	       o.target_recall, obj_names[o.objective],
	       o.memory_budget > 0 ? ", memory budget set" : "",
	       o.time_budget > 0 ? ", time budget set" : "",
	       o.method == VP_TUNE_GRID ? "grid" : o.method == VP_TUNE_RANDOM ? "random" : "bayes");
	o.reason = on_reason;
	o.report = on_report;
	fflush(stdout);
	res = malloc(sizeof *res);
	if (!res)
		vp_die(VP_EXIT_IO, "out of memory");
	if (vp_tune_run(x, n, d, q, nq, &st, &o, res, &err))
		vp_die_err(&err);

	/* the table: every evaluated configuration at its chosen search
	 * parameter, * marking the Pareto front of recall, QPS and memory */
	printf("%-5s %-9s %-34s %-24s %8s %-13s %-6s %-5s %10s %10s %9s %s\n", "eval", "type",
	       "build", "search", "recall", "interval_90%", "on", "meets", "qps", "memory_MB",
	       "build_s", "pareto");
	for (int i = 1; i <= res->nevaluated; i++)
		for (int j = 0; j < res->ncand; j++) {
			const struct vp_tune_cand *a = &res->cand[j];
			char b[96], sp[64], iv[48];
			int dominated = 0;
			if (a->order != i)
				continue;
			for (int t = 0; t < res->ncand; t++) {
				const struct vp_tune_cand *z = &res->cand[t];
				if (t == j || !z->evaluated)
					continue;
				if (z->recall >= a->recall && z->qps >= a->qps && z->memory <= a->memory &&
				    (z->recall > a->recall || z->qps > a->qps || z->memory < a->memory))
					dominated = 1;
			}
			describe(a, b, sizeof b, sp, sizeof sp);
			snprintf(iv, sizeof iv, "%.4f-%.4f", a->recall_lo, a->recall_hi);
			printf("%-5d %-9s %-34s %-24s %8.4f %-13s %-6s %-5s %10.0f %10.1f %9.1f %s%s\n", i,
			       vp_index_type_name(a->type), b, sp, a->recall, iv, a->full ? "full" : "sample",
			       a->feasible ? "yes" : "no", a->qps, a->memory / 1e6, a->build_s,
			       dominated ? "" : "*",
			       j == res->best ? "  <- recommended" : "");
		}
	if (res->best < 0) {
		vp_close_stdout();
		vp_die(VP_EXIT_NEGATIVE, "no configuration reached recall@%zu >= %.4g%s "
		       "after %d evaluations (%.0f s); try a lower target, more time, more "
		       "types or a larger memory budget", o.k, o.target_recall,
		       o.memory_budget > 0 ? " within the memory budget" : "",
		       res->nevaluated, res->seconds);
	}
	{
		const struct vp_tune_cand *b = &res->cand[res->best];
		struct vp_config cfg;
		char tmp[4096];
		time_t now = time(NULL);
		FILE *f;
		vp_config_init(&cfg);
		cfg.type = b->type;
		cfg.metric = o.metric;
		cfg.k = (int64_t)o.k;
		cfg.threads = o.threads;
		if (hwc.hw.ncpus)
			snprintf(cfg.cpus, sizeof cfg.cpus, "%s", hwc.cpus);
		{
			/* the parameters the family's row names */
			const struct vp_family *fam = vp_family_of(b->type);
			if (fam->p1)
				vp_params_set(&cfg.params, fam->p1, b->p1, b->type, VP_STAGE_BUILD, &err);
			if (fam->p2)
				vp_params_set(&cfg.params, fam->p2, b->p2, b->type, VP_STAGE_BUILD, &err);
			if (fam->p3)
				vp_params_set(&cfg.params, fam->p3, b->p3, b->type, VP_STAGE_BUILD, &err);
			if (fam->sweep_param >= 0)
				vp_params_set(&cfg.params, vp_param_defs[fam->sweep_param].name,
					      b->sparam, b->type, VP_STAGE_SEARCH, &err);
			if (fam->refine_k)
				vp_params_set(&cfg.params, vp_param_defs[fam->refine_param].name,
					      b->refine, b->type, VP_STAGE_SEARCH, &err);
		}
		cfg.has_tune = 1;
		cfg.target_recall = o.target_recall;
		cfg.tune_k = (int64_t)o.k;
		snprintf(cfg.objective, sizeof cfg.objective, "%s", obj_names[o.objective]);
		cfg.recall = b->recall;
		cfg.recall_low = b->recall_lo;
		cfg.recall_high = b->recall_hi;
		cfg.recall_needed = res->need;
		snprintf(cfg.evaluated_on, sizeof cfg.evaluated_on, "%s", b->full ? "full" : "sample");
		snprintf(cfg.queries, sizeof cfg.queries, "%s", qpath ? "given" : "held-out");
		cfg.qps = b->qps;
		cfg.memory_bytes = (int64_t)b->memory;
		cfg.build_seconds = b->build_s;
		strftime(cfg.date, sizeof cfg.date, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
		cfg.data_count = (int64_t)n;
		cfg.data_dim = d;
		snprintf(cfg.fingerprint, sizeof cfg.fingerprint, "%016llx",
			 (unsigned long long)st.fingerprint);
		cfg.intrinsic_dim = st.intrinsic_dim;
		cfg.explained16 = st.explained16;
		cfg.sparsity = st.zero_fraction;
		cfg.duplicates = (int64_t)st.duplicates;
		/* written beside the target and renamed: never a half file */
		snprintf(tmp, sizeof tmp, "%s.tmp.%ld", out, (long)getpid());
		f = fopen(tmp, "w");
		if (!f)
			vp_die(VP_EXIT_IO, "%s: %s", tmp, strerror(errno));
		fprintf(f, "# vp.yaml written by vp-tune %s for %s (%zu x %u)\n", VP_VERSION,
			base, n, d);
		if (vp_config_write(&cfg, f, &err) || fclose(f) || rename(tmp, out)) {
			unlink(tmp);
			vp_die(VP_EXIT_IO, "%s: cannot write: %s", out, strerror(errno));
		}
		printf("# predicted recall@%zu on unseen queries: %.4f (90%% interval %.4f-%.4f), "
		       "measured %s with %zu %s queries\n", o.k, b->recall, b->recall_lo,
		       b->recall_hi, b->full ? "on the full base" : "on a sample only (not "
		       "checked at full size: expect less)", res->nq, qpath ? "given" : "held-out");
		printf("# recommended: %s, written to %s (%d evaluations, %d on the full base, "
		       "%.0f s)\n", vp_index_type_name(b->type), out, res->nevaluated, res->nfull,
		       (double)(vp_now_usec() - o.start_usec) / 1e6);
	}
	free(res);
	free(x);
	free(q);
	vp_close_stdout();
	return 0;
}
