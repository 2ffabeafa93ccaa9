/* vp-gen: seeded synthetic vectors (Gaussian clusters) on stdout or a file. */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "vp_cli.h"

static void usage(void)
{
	printf("usage: %s -n COUNT -d DIM [options] [-o FILE]\n"
	       "Write COUNT seeded synthetic vectors (Gaussian clusters).\n\n"
	       "  -n, --count N        vectors to write (required)\n"
	       "  -d, --dim D          dimension, 1..%u (required)\n"
	       "  -c, --clusters C     Gaussian clusters (default 16; 0: one Gaussian)\n"
	       "      --spread S       cluster standard deviation relative to the\n"
	       "                       centres' (default 0.1)\n"
	       "  -s, --seed S         random seed (default %d)\n"
	       "      --first I        start at row I of the stream (default 0): with a\n"
	       "                       different seed or --first, disjoint query sets\n"
	       "      --integer        integer values 0..15 (exact distances)\n"
	       "  -f, --format F       fvecs (default) or fbin\n"
	       "  -o, --output FILE    write to FILE instead of stdout\n"
	       "  -h, --help           this help\n"
	       "  -V, --version        print the version\n",
	       vp_prog, VP_DIM_MAX, VP_SEED_DEFAULT);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "count", required_argument, NULL, 'n' },
		{ "dim", required_argument, NULL, 'd' },
		{ "clusters", required_argument, NULL, 'c' },
		{ "spread", required_argument, NULL, 'S' },
		{ "seed", required_argument, NULL, 's' },
		{ "first", required_argument, NULL, 'F' },
		{ "integer", no_argument, NULL, 'I' },
		{ "format", required_argument, NULL, 'f' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct vp_gen g = { 0, 16, 0.1f, 0, VP_SEED_DEFAULT };
	int64_t n = -1, first = 0;
	enum vp_vecfmt fmt = VP_FMT_FVECS;
	const char *out = NULL;
	struct vp_error err = { 0 };
	float *buf;
	int c;

	vp_cli_init(argc, argv);
	while ((c = getopt_long(argc, argv, "n:d:c:s:f:o:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'n': n = vp_opt_int("--count", optarg, 0, UINT32_MAX); break;
		case 'd': g.dim = (uint32_t)vp_opt_int("--dim", optarg, 1, VP_DIM_MAX); break;
		case 'c': g.clusters = (uint32_t)vp_opt_int("--clusters", optarg, 0, 1000000); break;
		case 'S': g.spread = (float)vp_opt_double("--spread", optarg, 1e-6, 1e6); break;
		case 's': g.seed = (uint64_t)vp_opt_int("--seed", optarg, 0, INT64_MAX); break;
		case 'F': first = vp_opt_int("--first", optarg, 0, INT64_MAX); break;
		case 'I': g.integer = 1; break;
		case 'f':
			fmt = vp_vecfmt_parse(optarg);
			if (fmt != VP_FMT_FVECS && fmt != VP_FMT_FBIN)
				vp_usage_error("--format: '%s' is not fvecs or fbin", optarg);
			break;
		case 'o': out = optarg; break;
		case 'h': usage(); vp_close_stdout(); return 0;
		case 'V': vp_version();
		default: vp_usage_error("bad option");
		}
	}
	if (optind < argc)
		vp_usage_error("unexpected argument '%s'", argv[optind]);
	if (n < 0 || g.dim == 0)
		vp_usage_error("-n COUNT and -d DIM are required");
	if (out && strcmp(out, "-")) {
		if (!freopen(out, "wb", stdout))
			vp_die(VP_EXIT_IO, "%s: %s", out, strerror(errno));
	} else
		vp_refuse_tty_stdout("vectors");
	if (fmt == VP_FMT_FBIN && vp_write_fbin_header(stdout, (uint32_t)n, g.dim, &err))
		vp_die_err(&err);
	buf = malloc(sizeof(float) * g.dim * 1024);
	if (!buf)
		vp_die(VP_EXIT_IO, "out of memory");
	for (int64_t i = 0; i < n; i += 1024) {
		size_t m = n - i < 1024 ? (size_t)(n - i) : 1024;
		int rc = vp_gen_rows(&g, (uint64_t)(first + i), m, buf);
		if (rc)
			vp_die(VP_EXIT_IO, "out of memory");
		rc = fmt == VP_FMT_FBIN ? vp_write_raw(stdout, buf, m * g.dim * 4, &err)
					: vp_write_fvecs(stdout, buf, m, g.dim, &err);
		if (rc) {
			if (errno == EPIPE)
				return VP_EXIT_IO;
			vp_die_err(&err);
		}
		vp_progress("%lld of %lld vectors", (long long)(i + (int64_t)m), (long long)n);
	}
	vp_progress_done();
	free(buf);
	vp_close_stdout();
	return 0;
}
