/* vp-build: vectors (file or stdin) -> an index file, written atomically. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "vp_cli.h"
#include "vp_edit.h"
#include "vp_metrics.h"
#include "vp_search.h"
#include "vp_warm.h"

static void usage(void)
{
	printf("usage: %s [options] -o INDEX [INPUT|-]\n"
	       "       %s --delete IDS -o INDEX\n"
	       "       %s --upsert VECTORS --ids IDS -o INDEX\n"
	       "       %s --compact [--retrain] INDEX\n"
	       "       %s --relayout LOG INDEX\n"
	       "Build an index from fvecs, bvecs, fbin or u8bin vectors, or a dataset\n"
	       "of an HDF5 file as FILE.hdf5:DATASET (stdin when INPUT is - or\n"
	       "missing); or change one.  The index is written to a temporary file and\n"
	       "renamed over INDEX, so readers never see a partial index.\n\n"
	       "  -o, --output INDEX   index file to write (required)\n"
	       "  -t, --type TYPE      FLAT (default, exact), IVF_FLAT, IVF_SQ8, IVF_PQ\n"
	       "                       or HNSW\n"
	       "  -m, --metric M       l2 (default), ip or cosine\n"
	       "  -p, --param KEY=VAL  build parameter: nlist (IVF_*), m (IVF_PQ),\n"
	       "                       M, efConstruction (HNSW)\n"
	       "      --segment-size N split the input into segments of N vectors\n"
	       "      --append         add INPUT to INDEX as new segments, with the\n"
	       "                       index's type, metric and parameters\n"
	       "      --ids FILE       each vector's external id (text, one a line, or\n"
	       "                       ivecs); default: the row number, or after --append\n"
	       "                       the next ids the index has not used\n"
	       "      --delete IDS     delete these ids from INDEX (text, ivecs or -)\n"
	       "      --upsert VECTORS replace or add VECTORS under the ids of --ids\n"
	       "      --compact        rewrite INDEX with its live rows only\n"
	       "      --retrain        with --compact: IVF gets new centroids\n"
	       "      --relayout LOG   rewrite HNSW or IVF INDEX with what its access log\n"
	       "                       (vp-search --access-log) read first, so that a\n"
	       "                       planned vp-warmup reads a few long ranges\n"
	       "      --shard I/N      build only shard I (0..N-1) of the input; results\n"
	       "                       keep the global ids\n"
	       "      --shard-by B     range (default: contiguous ids) or hash\n"
	       "  -j, --threads N      build threads (default: the CPUs this process may\n"
	       "                       use: its affinity mask and cgroup CPU quota)\n"
	       VP_HW_HELP
	       "  -F, --format F       input format: fvecs, bvecs, fbin, u8bin, hdf5\n"
	       "                       (default: from the file name; fvecs for stdin)\n"
	       "  -l, --labels FILE    one integer attribute per vector, for filtered\n"
	       "                       search: text (one per line) or ivecs of dimension 1\n"
	       "  -c, --config FILE    take type, metric, build parameters, segment size\n"
	       "                       and threads from a vp.yaml (options override it)\n"
	       "  -s, --seed S         random seed recorded in the index (default %d)\n"
	       "  -q, --quiet          no progress line\n"
	       VP_METRICS_HELP
	       "  -h, --help           this help\n"
	       "  -V, --version        print the version\n\n"
	       "Exit status: 0 built, 2 usage, 3 bad input data (an id to delete that\n"
	       "is not in the index), 4 I/O error.\n",
	       vp_prog, vp_prog, vp_prog, vp_prog, vp_prog, VP_SEED_DEFAULT);
}

/* The temporary file to remove if a signal ends the build. */
static volatile sig_atomic_t have_tmp;
static char tmp_path[4096];

static void on_signal(int sig)
{
	if (have_tmp)
		unlink(tmp_path);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Opens the temporary file of INDEX, for the signal handler to remove. */
static void writer_start(struct vp_index_writer *w, const char *out)
{
	struct vp_error err = { 0 };
	if (vp_index_writer_open(w, out, &err))
		vp_die_err(&err);
	snprintf(tmp_path, sizeof tmp_path, "%s", w->tmp_path);
	have_tmp = 1;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
}

/* After the library wrote (rc 0: renamed into place) or failed: a failed
 * write leaves no temporary file behind. */
static void writer_end(struct vp_index_writer *w, int rc, const struct vp_error *err)
{
	if (rc) {
		vp_index_writer_abort(w);
		have_tmp = 0;
		vp_die_err(err);
	}
	have_tmp = 0;
}

/* Reads labels: ivecs of dimension 1, or text with one integer a line. */
static int32_t *read_labels(const char *path, size_t *n)
{
	struct vp_error err = { 0 };
	const char *dot = strrchr(path, '.');
	if (dot && (!strcmp(dot, ".ivecs") || !strcmp(dot, ".ibin"))) {
		int32_t *v;
		uint32_t d;
		if (vp_read_all_ints(path, VP_FMT_AUTO, &v, n, &d, &err))
			vp_die_err(&err);
		if (*n && d != 1)
			vp_die(VP_EXIT_DATA, "%s: labels must have dimension 1, not %u", path, d);
		return v;
	}
	FILE *f = fopen(path, "r");
	char line[256];
	size_t cap = 1024, lineno = 0;
	int32_t *v = malloc(cap * sizeof *v);
	if (!f)
		vp_die(VP_EXIT_IO, "%s: %s", path, strerror(errno));
	*n = 0;
	while (fgets(line, sizeof line, f)) {
		char *end;
		long long x;
		lineno++;
		line[strcspn(line, "\r\n")] = 0;
		errno = 0;
		x = strtoll(line, &end, 10);
		while (*end == ' ' || *end == '\t')
			end++;
		if (end == line || *end || errno || x < INT32_MIN || x > INT32_MAX)
			vp_die(VP_EXIT_DATA, "%s:%zu: '%s' is not a 32-bit integer", path,
			       lineno, line);
		if (*n == cap && !(v = realloc(v, (cap *= 2) * sizeof *v)))
			vp_die(VP_EXIT_IO, "out of memory");
		v[(*n)++] = (int32_t)x;
	}
	if (ferror(f))
		vp_die(VP_EXIT_IO, "%s: read error", path);
	fclose(f);
	return v;
}

/* Reads ids: ivecs or ibin (every value), else text, whitespace-separated
 * (stdin for -). */
static int64_t *read_ids(const char *path, size_t *n)
{
	struct vp_error err = { 0 };
	const char *dot = strrchr(path, '.');
	size_t cap = 1024, lineno = 1;
	int64_t *v;
	FILE *f;
	int ch;
	if (dot && (!strcmp(dot, ".ivecs") || !strcmp(dot, ".ibin"))) {
		int32_t *iv;
		uint32_t d;
		size_t rows;
		if (vp_read_all_ints(path, VP_FMT_AUTO, &iv, &rows, &d, &err))
			vp_die_err(&err);
		*n = rows * d;
		if (!(v = malloc((*n ? *n : 1) * sizeof *v)))
			vp_die(VP_EXIT_IO, "out of memory");
		for (size_t i = 0; i < *n; i++)
			v[i] = iv[i];
		free(iv);
		return v;
	}
	f = strcmp(path, "-") ? fopen(path, "r") : stdin;
	if (!f)
		vp_die(VP_EXIT_IO, "%s: %s", path, strerror(errno));
	if (!(v = malloc(cap * sizeof *v)))
		vp_die(VP_EXIT_IO, "out of memory");
	*n = 0;
	for (;;) {
		char tok[32];
		size_t len = 0;
		long long x;
		char *end;
		while ((ch = getc(f)) == ' ' || ch == '\t' || ch == '\n' || ch == '\r')
			lineno += ch == '\n';
		if (ch == EOF)
			break;
		while (ch != EOF && ch != ' ' && ch != '\t' && ch != '\n' && ch != '\r') {
			if (len < sizeof tok - 1)
				tok[len++] = (char)ch;
			ch = getc(f);
		}
		tok[len] = 0;
		errno = 0;
		x = strtoll(tok, &end, 10);
		if (*end || errno || x < 0)
			vp_die(VP_EXIT_DATA, "%s:%zu: '%s' is not an id (an integer from 0)",
			       strcmp(path, "-") ? path : "stdin", lineno, tok);
		if (*n == cap && !(v = realloc(v, (cap *= 2) * sizeof *v)))
			vp_die(VP_EXIT_IO, "out of memory");
		v[(*n)++] = x;
		lineno += ch == '\n';
	}
	if (ferror(f))
		vp_die(VP_EXIT_IO, "%s: read error", path);
	if (f != stdin)
		fclose(f);
	return v;
}

/* --metrics: the build as it goes */
static struct {
	struct vp_metrics_cli mc;
	struct vp_metrics m;
	const char *out;
	int type, metric, append;
	size_t done, total;
	uint64_t t0, read_usec;
} bm;

static void build_metrics(int final, uint64_t size)
{
	struct vp_metrics *m = &bm.m;
	char lb[512] = "";
	double secs = (double)(vp_now_usec() - bm.t0) / 1e6;

	vp_metrics_reset(m);
	vp_metrics_one(m, "vp_build_vectors_total", "counter", "Vectors inserted so far.",
		       (double)bm.done);
	vp_metrics_one(m, "vp_build_input_vectors", "gauge", "Vectors read to insert.",
		       (double)bm.total);
	vp_metrics_one(m, "vp_build_read_seconds", "gauge", "Wall time reading the input.",
		       (double)bm.read_usec / 1e6);
	vp_metrics_one(m, "vp_build_seconds", "gauge",
		       "Wall time building, from the end of the input.", secs);
	vp_metrics_one(m, "vp_build_vectors_per_second", "gauge", "Vectors inserted per second.",
		       secs > 0 ? (double)bm.done / secs : 0);
	if (final) {
		vp_metrics_one(m, "vp_build_index_size_bytes", "gauge", "Size of the index written.",
			       (double)size);
		vp_metrics_one(m, "vp_build_last_success_timestamp_seconds", "gauge",
			       "When this build finished (Unix time): alert when it grows old.",
			       (double)time(NULL));
	}
	vp_metrics_label(lb, sizeof lb, "index", bm.out);
	vp_metrics_label(lb, sizeof lb, "type", vp_index_type_name(bm.type));
	vp_metrics_label(lb, sizeof lb, "metric", vp_metric_name(bm.metric));
	vp_metrics_label(lb, sizeof lb, "mode", bm.append ? "append" : "build");
	vp_metrics_family(m, "vp_build_index_info", "gauge", "Always 1: the index being built.");
	vp_metrics_sample(m, "", lb, 1);
	vp_metrics_process(m, "vp_build");
	vp_metrics_cli_write(&bm.mc, m, final);
}

static void build_progress(void *ctx, size_t done, size_t total)
{
	(void)ctx;
	vp_progress("building: %zu of %zu vectors inserted", done, total);
	bm.done = done;
	if (vp_metrics_cli_due(&bm.mc))
		build_metrics(0, 0);
}

/* --delete, --compact and --relayout: a change to INDEX written like a
 * build. */
static int edit_main(const char *out, const char *delpath, const char *relpath, int retrain,
		     const struct vp_build_opts *o, int nparams)
{
	const char *what = delpath ? "delete" : relpath ? "relayout" : "compact";
	struct vp_heat *heat = NULL;
	struct vp_error err = { 0 };
	struct vp_searcher s;
	struct vp_index_writer w;
	int64_t *ids = NULL;
	size_t nids = 0, done = 0;
	uint64_t before, t0;
	int rc;

	if (nparams)
		vp_usage_error("--%s keeps the index's build parameters; no -p", what);
	if (vp_searcher_open(&s, out, 0, &err))
		vp_die_err(&err);
	if (delpath) {
		ids = read_ids(delpath, &nids);
		if (nids == 0)
			vp_die(VP_EXIT_DATA, "%s: no ids to delete", delpath);
	}
	if (relpath) {
		/* the heat of every row and list, from the log */
		struct vp_warm_opts wo;
		uint64_t nacc = 0;
		vp_warm_opts_init(&wo);
		wo.now = (uint64_t)time(NULL);
		if (vp_edit_can_relayout(&s, &err) || vp_warm_heat(&s, relpath, &wo, &heat, &nacc, &err))
			vp_die_err(&err);
		if (!nacc)
			vp_die(VP_EXIT_DATA, "%s: names no rows or lists of %s (a log of "
			       "vp-search --access-log on this index)", relpath, out);
	}
	before = vp_edit_nlive(&s);
	writer_start(&w, out);
	t0 = vp_now_usec();
	if (delpath)
		rc = vp_edit_delete(&w, &s, ids, nids, &done, &err);
	else if (relpath) {
		vp_progress("laying out %s by %s", out, relpath);
		rc = vp_edit_relayout(&w, &s, heat, o->threads, &err);
		vp_progress_done();
	} else {
		vp_progress("compacting %s: %llu live rows", out, (unsigned long long)before);
		rc = vp_edit_compact(&w, &s, o, retrain, &err);
		vp_progress_done();
	}
	writer_end(&w, rc, &err);
	if (vp_verbose && isatty(STDERR_FILENO)) {
		double secs = (double)(vp_now_usec() - t0) / 1e6;
		if (delpath)
			vp_warn("%s: %zu ids deleted, %llu live rows left (%.3f s)", out, done,
				(unsigned long long)(before - done), secs);
		else if (relpath)
			vp_warn("%s: %llu rows laid out by heat (%.3f s)", out,
				(unsigned long long)s.ix.hdr.count, secs);
		else
			vp_warn("%s: compacted to %llu live rows of %llu (%.3f s)", out,
				(unsigned long long)before,
				(unsigned long long)s.ix.hdr.count, secs);
	}
	vp_warm_heat_free(&s, heat);
	vp_searcher_close(&s);
	free(ids);
	vp_close_stdout();
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "type", required_argument, NULL, 't' },
		{ "metric", required_argument, NULL, 'm' },
		{ "param", required_argument, NULL, 'p' },
		{ "threads", required_argument, NULL, 'j' },
		VP_HW_LONGOPTS,
		{ "format", required_argument, NULL, 'F' },
		{ "seed", required_argument, NULL, 's' },
		{ "config", required_argument, NULL, 'c' },
		{ "labels", required_argument, NULL, 'l' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "segment-size", required_argument, NULL, 'S' },
		{ "append", no_argument, NULL, 'A' },
		{ "ids", required_argument, NULL, 'I' },
		{ "delete", required_argument, NULL, 'D' },
		{ "upsert", required_argument, NULL, 'U' },
		{ "compact", no_argument, NULL, 'C' },
		{ "relayout", required_argument, NULL, 'L' },
		{ "retrain", no_argument, NULL, 'R' },
		{ "shard", required_argument, NULL, 'H' },
		{ "shard-by", required_argument, NULL, 'B' },
		VP_METRICS_LONGOPTS,
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct vp_build_opts o;
	struct vp_error err = { 0 };
	struct vp_index_writer w;
	struct vp_reader r;
	const char *out = NULL, *in = "-", *params[64];
	enum vp_vecfmt fmt = VP_FMT_AUTO;
	int nparams = 0, c, rc, append = 0, type_given = 0, metric_given = 0;
	int threads_given = 0, segsize_given = 0;
	const char *cfgpath = NULL, *labpath = NULL;
	int32_t *labels = NULL;
	size_t nlabels = 0;
	struct vp_config cfg;
	struct vp_hw_cli hwc;
	char *cfgtext = NULL;
	size_t cfglen = 0;
	struct vp_searcher olds;
	const struct vp_index *oldp = NULL;
	const char *idspath = NULL, *delpath = NULL, *upspath = NULL, *relpath = NULL;
	int compact = 0, retrain = 0, shard_hash = 0, shard_given = 0;
	unsigned shard_i = 0, shard_n = 1;
	int64_t *ids = NULL;
	size_t nids = 0, edited = 0;
	float *data = NULL;
	size_t n = 0, cap = 0;

	vp_cli_init(argc, argv);
	vp_metrics_cli_init(&bm.mc);
	vp_metrics_init(&bm.m);
	bm.t0 = vp_now_usec();
	vp_build_opts_init(&o);
	o.threads = vp_default_threads();
	vp_hw_cli_init(&hwc);
	while ((c = getopt_long(argc, argv, "o:t:m:p:j:F:s:c:l:qhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'o': out = optarg; break;
		case 't':
			type_given = 1;
			if ((o.type = vp_index_type_parse(optarg)) < 0)
				vp_usage_error("--type: unknown index type '%s' (FLAT, "
					       "IVF_FLAT, IVF_SQ8, IVF_PQ, HNSW, SCANN)", optarg);
			break;
		case 'm':
			metric_given = 1;
			if ((o.metric = vp_metric_parse(optarg)) < 0)
				vp_usage_error("--metric: '%s' is not l2, ip or cosine", optarg);
			break;
		case 'p':
			if (nparams == 64)
				vp_usage_error("too many -p options");
			params[nparams++] = optarg;
			break;
		case 'j':
			o.threads = (int)vp_opt_int("--threads", optarg, VP_THREADS_MIN, VP_THREADS_MAX);
			threads_given = 1;
			break;
		case 'c': cfgpath = optarg; break;
		case 'l': labpath = optarg; break;
		case 'F':
			fmt = vp_vecfmt_parse(optarg);
			if (!fmt || fmt == VP_FMT_IVECS || fmt == VP_FMT_IBIN)
				vp_usage_error("--format: '%s' is not fvecs, bvecs, fbin, u8bin or hdf5", optarg);
			break;
		case 's': o.seed = (uint64_t)vp_opt_int("--seed", optarg, 0, INT64_MAX); break;
		case 'q': vp_verbose = 0; break;
		case 'S':
			o.segment_size = (uint64_t)vp_opt_int("--segment-size", optarg, 1, VP_SEGMENT_SIZE_MAX);
			segsize_given = 1;
			break;
		case 'A': append = 1; break;
		case 'I': idspath = optarg; break;
		case 'D': delpath = optarg; break;
		case 'U': upspath = optarg; append = 1; break;
		case 'C': compact = 1; break;
		case 'L': relpath = optarg; break;
		case 'R': retrain = 1; break;
		case 'H': {
			char *end;
			unsigned long a = strtoul(optarg, &end, 10), b;
			if (end == optarg || *end != '/' || optarg[0] == '-')
				vp_usage_error("--shard: '%s' is not I/N", optarg);
			b = strtoul(end + 1, &end, 10);
			if (*end || b < 1 || b > 65536 || a >= b)
				vp_usage_error("--shard: '%s' is not I/N with 0 <= I < N <= 65536",
					       optarg);
			shard_i = (unsigned)a;
			shard_n = (unsigned)b;
			shard_given = 1;
			break;
		}
		case 'B':
			if (!strcmp(optarg, "hash"))
				shard_hash = 1;
			else if (strcmp(optarg, "range"))
				vp_usage_error("--shard-by: '%s' is not range or hash", optarg);
			break;
		case VP_METRICS_OPT_FILE: case VP_METRICS_OPT_INTERVAL:
			vp_metrics_cli_option(&bm.mc, c, optarg);
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
	if ((delpath != NULL) + compact + (upspath != NULL) + (relpath != NULL) > 1)
		vp_usage_error("--delete, --upsert, --compact and --relayout are separate "
			       "changes: one at a time");
	if ((delpath || compact || relpath) && !out && optind > 1 && strcmp(in, "-")) {
		/* "vp-build --compact INDEX" */
		out = in;
		in = NULL;
	} else if ((delpath || compact || relpath) && strcmp(in, "-"))
		vp_usage_error("--%s changes INDEX and reads no vectors: unexpected '%s'",
			       delpath ? "delete" : relpath ? "relayout" : "compact", in);
	if (upspath) {
		if (strcmp(in, "-"))
			vp_usage_error("--upsert reads VECTORS: unexpected argument '%s'", in);
		in = upspath;
		if (!idspath)
			vp_usage_error("--upsert needs --ids: the ids the vectors replace");
	}
	if (retrain && !compact)
		vp_usage_error("--retrain goes with --compact");
	if (shard_given && (append || delpath || compact || relpath))
		vp_usage_error("--shard builds a new index; not with --append, --upsert, "
			       "--delete, --compact or --relayout");
	if (append && relpath)
		vp_usage_error("--append adds rows; --relayout orders those INDEX has: one at a time");
	if (idspath && (delpath || compact || relpath))
		vp_usage_error("--ids names the ids of new vectors; --delete takes its own list");
	if (!out)
		vp_usage_error("-o INDEX is required");
	if (cfgpath) {
		/* the file fills in what the command line did not say */
		vp_config_init(&cfg);
		if (vp_config_load(&cfg, cfgpath, &err))
			vp_die_err(&err);
		if (!type_given && cfg.type)
			o.type = cfg.type;
		if (!metric_given && cfg.metric >= 0)
			o.metric = cfg.metric;
		if (!threads_given && cfg.threads) {
			o.threads = (int)cfg.threads;
			threads_given = 1;
		}
		vp_hw_cli_config(&hwc, &cfg);
		if (!segsize_given && cfg.has_segment_size)
			o.segment_size = cfg.segment_size;
		for (int i = 0; i < VP_P_COUNT; i++)
			if ((cfg.params.set & (1u << i)) &&
			    vp_param_defs[i].stage == VP_STAGE_BUILD &&
			    vp_params_set(&o.params, vp_param_defs[i].name, cfg.params.val[i],
					  o.type, VP_STAGE_BUILD, &err))
				vp_die(VP_EXIT_DATA, "%s: %s", cfgpath, err.msg);
	}
	o.threads = vp_hw_cli_start(&hwc, o.threads, threads_given);
	if (delpath || compact || relpath)
		return edit_main(out, delpath, relpath, retrain, &o, nparams);
	if (append) {
		/* the index decides type, metric and parameters; opened with
		 * the per-type checks of a search, so that nothing is ever
		 * appended to an index vp-search would refuse */
		if (nparams)
			vp_usage_error("--append takes the build parameters from the index; no -p");
		if (vp_searcher_open(&olds, out, 0, &err))
			vp_die_err(&err);
		oldp = &olds.ix;
		if (type_given && (uint32_t)o.type != oldp->hdr.type)
			vp_usage_error("--append: %s is a %s index, not %s", out,
				       vp_index_type_name((int)oldp->hdr.type),
				       vp_index_type_name(o.type));
		if (metric_given && (uint32_t)o.metric != oldp->hdr.metric)
			vp_usage_error("--append: %s uses metric %s, not %s", out,
				       vp_metric_name((int)oldp->hdr.metric),
				       vp_metric_name(o.metric));
	}
	for (int i = 0; i < nparams; i++)
		if (vp_params_parse(&o.params, params[i], o.type, VP_STAGE_BUILD, &err))
			vp_usage_error("%s", err.msg);

	/* Read first: a bad input must never touch the target. */
	if ((rc = vp_reader_open(&r, in, fmt, &err)))
		vp_die_err(&err);
	for (;;) {
		long got;
		if (n + 1024 > cap) {
			size_t ncap = cap ? cap * 2 : (r.count != UINT64_MAX && r.count ? r.count + 1024 : 65536);
			float *nd = realloc(data, ncap * r.dim * sizeof *nd);
			if (!nd)
				vp_die(VP_EXIT_IO, "%s: out of memory after %zu vectors", r.name, n);
			data = nd;
			cap = ncap;
		}
		got = vp_reader_read(&r, data + n * r.dim, cap - n, &err);
		if (got < 0)
			vp_die_err(&err);
		if (got == 0)
			break;
		n += (size_t)got;
		vp_progress("read %zu vectors", n);
	}
	vp_progress_done();
	if (n == 0)
		vp_die(VP_EXIT_DATA, "%s: no vectors to index", r.name);
	if (labpath) {
		labels = read_labels(labpath, &nlabels);
		if (nlabels != n)
			vp_die(VP_EXIT_DATA, "%s: %zu labels for %zu vectors", labpath,
			       nlabels, n);
		o.labels = labels;
	}
	if (append && r.dim != oldp->hdr.dim)
		vp_die(VP_EXIT_DATA, "%s: vectors have dimension %u, index %s has %u",
		       r.name, r.dim, out, oldp->hdr.dim);
	if (idspath) {
		ids = read_ids(idspath, &nids);
		if (nids != n)
			vp_die(VP_EXIT_DATA, "%s: %zu ids for %zu vectors", idspath, nids, n);
		if (vp_edit_check_ids(ids, n, idspath, &err))
			vp_die_err(&err);
		o.ids = ids;
	}
	if (shard_given) {
		/* keep the rows of this shard, under their global ids */
		size_t m = 0, total = n;
		if (!ids) {
			if (!(ids = malloc(n * sizeof *ids)))
				vp_die(VP_EXIT_IO, "out of memory");
			for (size_t i = 0; i < n; i++)
				ids[i] = (int64_t)i;
		}
		for (size_t i = 0; i < n; i++)
			/* ranges of rows (the ids when none are given); a
			 * hash of the id, whatever the ids are */
			if (vp_shard_has(shard_hash ? ids[i] : (int64_t)i, total, shard_i,
					 shard_n, shard_hash)) {
				if (m != i) {
					memcpy(data + m * r.dim, data + i * r.dim, r.dim * sizeof *data);
					if (labels)
						labels[m] = labels[i];
				}
				ids[m++] = ids[i];
			}
		if (m == 0)
			vp_die(VP_EXIT_DATA, "%s: shard %u/%u has no rows of the %zu read",
			       r.name, shard_i, shard_n, total);
		n = m;
		o.ids = ids;
	}

	writer_start(&w, out);
	vp_progress("building %s index of %zu vectors", vp_index_type_name(o.type), n);
	o.progress = build_progress;
	bm.out = out;
	bm.type = o.type;
	bm.metric = o.metric;
	bm.append = append;
	bm.total = n;
	bm.read_usec = vp_now_usec() - bm.t0;
	bm.t0 = vp_now_usec();
	{
		/* record how the index was built, as vp.yaml text */
		struct vp_config rec;
		FILE *mf = open_memstream(&cfgtext, &cfglen);
		/* the file's search and tune sections are kept as they were;
		 * the index section is what was actually built */
		if (cfgpath)
			rec = cfg;
		else
			vp_config_init(&rec);
		rec.type = o.type;
		rec.metric = o.metric;
		rec.threads = o.threads;
		rec.has_segment_size = o.segment_size != 0;
		rec.segment_size = o.segment_size;
		for (int i = 0; i < VP_P_COUNT; i++)
			if (vp_param_defs[i].stage == VP_STAGE_BUILD) {
				rec.params.set &= ~(1u << i);
				if (vp_param_defs[i].types & VP_T(o.type)) {
					rec.params.val[i] = o.params.val[i];
					rec.params.set |= 1u << i;
				}
			}
		if (mf) {
			vp_config_write(&rec, mf, &err);
			fclose(mf);
			o.config_text = cfgtext;
		}
	}
	if (append) {
		rc = vp_edit_append(&w, &olds, data, n, r.dim, &o, upspath != NULL, &edited, &err);
		vp_searcher_close(&olds);
	} else
		rc = vp_build_index(&w, data, n, r.dim, &o, &err);
	vp_progress_done();
	writer_end(&w, rc, &err);
	if (bm.mc.path) {
		struct stat st;
		bm.done = n;
		bm.mc.interval = 0;
		build_metrics(1, stat(out, &st) ? 0 : (uint64_t)st.st_size);
	}
	if (vp_verbose >= 2)
		vp_warn("wrote %s: %zu vectors of dimension %u", out, n, r.dim);
	if (upspath && vp_verbose && isatty(STDERR_FILENO))
		vp_warn("%s: %zu rows replaced, %zu added", out, edited, n - edited);
	vp_reader_close(&r);
	free(ids);
	free(data);
	free(cfgtext);
	free(labels);
	vp_close_stdout();
	return 0;
}
