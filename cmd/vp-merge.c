/* vp-merge: the top-k streams of several shards -> the global top-k. */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "vp_cli.h"
#include "vp_merge.h"
#include "vp_topk.h"

static void usage(void)
{
	printf("usage: %s [options] STREAM...\n"
	       "Merge the results of one query set searched on several shards (each\n"
	       "STREAM a file or - for stdin, as vp-search wrote it with -f tsv or\n"
	       "-f json) into the global top-k, exactly as one index holding every\n"
	       "shard's rows would answer for FLAT.  An id given by two streams is kept\n"
	       "once, at its smaller distance.\n\n"
	       "  -k, --k K            results per query (default: the k of the streams)\n"
	       "  -f, --output-format F  tsv (default), ivecs or json, as vp-search\n"
	       "  -n, --shards N       expect exactly N streams (a shard left out of a\n"
	       "                       glob or a job list is then an error)\n"
	       "  -h, --help           this help\n"
	       "  -V, --version        print the version\n\n"
	       "Exit status: 0 merged, 2 usage, 3 a stream missing, empty, cut short,\n"
	       "out of order or searched with another k, 4 I/O error.\n",
	       vp_prog);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "k", required_argument, NULL, 'k' },
		{ "output-format", required_argument, NULL, 'f' },
		{ "shards", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct vp_error err = { 0 };
	enum vp_outfmt of = VP_OUT_TSV;
	struct vp_rstream *rs;
	size_t ns, k = 0, kmax = 0, cap, live;
	int64_t expect = 0, **ids, *oid;
	float **dist, *od;
	int32_t *ibuf;
	char *tbuf;
	int c, stdin_used = 0, kauto;

	vp_cli_init(argc, argv);
	while ((c = getopt_long(argc, argv, "k:f:n:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'k': k = (size_t)vp_opt_int("-k", optarg, 1, 1000000); break;
		case 'f': of = vp_outfmt_parse(optarg); break;
		case 'n': expect = vp_opt_int("--shards", optarg, 1, 1000000); break;
		case 'h': usage(); vp_close_stdout(); return 0;
		case 'V': vp_version();
		default: vp_usage_error("bad option");
		}
	}
	kauto = k == 0;
	ns = (size_t)(argc - optind);
	if (ns == 0)
		vp_usage_error("no streams to merge");
	if (expect && (size_t)expect != ns)
		vp_die(VP_EXIT_DATA, "--shards %lld: %zu streams given; a shard is missing "
		       "from the merge", (long long)expect, ns);
	if (of == VP_OUT_IVECS)
		vp_refuse_tty_stdout("ivecs");
	rs = calloc(ns, sizeof *rs);
	if (!rs)
		vp_die(VP_EXIT_IO, "out of memory");
	live = 0;
	for (size_t i = 0; i < ns; i++) {
		const char *path = argv[optind + i];
		FILE *f;
		if (!strcmp(path, "-")) {
			if (stdin_used++)
				vp_usage_error("- (stdin) given twice");
			f = stdin;
		} else if (!(f = fopen(path, "r")))
			/* a missing stream is a missing shard: data, not I/O */
			vp_die(errno == ENOENT ? VP_EXIT_DATA : VP_EXIT_IO, "%s: %s%s", path,
			       strerror(errno), errno == ENOENT ? " (a shard missing?)" : "");
		if (vp_rstream_open(&rs[i], f, !strcmp(path, "-") ? "stdin" : path, &err))
			vp_die_err(&err);
		live += !rs[i].ended;
	}
	if (!live)
		vp_die(VP_EXIT_DATA, "every stream is empty: no shard answered (did the "
		       "searches fail?)");
	for (size_t i = 0; i < ns; i++)
		if (rs[i].ended)
			vp_die(VP_EXIT_DATA, "%s: no results, where other streams have some "
			       "(a shard missing, or its search failed?)", rs[i].name);

	/* a group may be longer than k: read up to cap, count the rest */
	cap = k ? k : 4096;
	dist = malloc(ns * sizeof *dist);
	ids = malloc(ns * sizeof *ids);
	if (!dist || !ids)
		vp_die(VP_EXIT_IO, "out of memory");
	for (size_t i = 0; i < ns; i++) {
		dist[i] = malloc(cap * sizeof **dist);
		ids[i] = malloc(cap * sizeof **ids);
		if (!dist[i] || !ids[i])
			vp_die(VP_EXIT_IO, "out of memory");
	}
	od = NULL;
	oid = NULL;
	ibuf = NULL;
	tbuf = NULL;
	for (;;) {
		uint64_t cur = UINT64_MAX, qi;
		const float *ld[ns];
		const int64_t *li[ns];
		size_t ll[ns], nl = 0, got;
		int any = 0;
		for (size_t i = 0; i < ns; i++) {
			int rc = vp_rstream_peek(&rs[i], &qi, &err);
			if (rc < 0)
				vp_die_err(&err);
			if (rc > 0 && qi < cur)
				cur = qi;
			any |= rc > 0;
		}
		if (!any)
			break;
		for (size_t i = 0; i < ns; i++) {
			size_t n;
			int rc = vp_rstream_peek(&rs[i], &qi, &err);
			if (rc <= 0 || qi != cur)
				continue;
			if (vp_rstream_next(&rs[i], &qi, dist[i], ids[i], cap, &n, &err) < 0)
				vp_die_err(&err);
			if (od && kauto && n > k)
				vp_die(VP_EXIT_DATA, "mismatched k: %s gives %zu results for "
				       "query %llu, the streams before it %zu (search every "
				       "shard with the same -k)", rs[i].name, n,
				       (unsigned long long)cur, k);
			if (!k && n > cap)
				vp_die(VP_EXIT_DATA, "%s: %zu results for query %llu: more than "
				       "%zu", rs[i].name, n, (unsigned long long)cur, cap);
			ld[nl] = dist[i];
			li[nl] = ids[i];
			ll[nl++] = n < cap ? n : cap;
		}
		if (!od) {
			/* the output's k: -k, or the most any stream gave for the
			 * first query */
			for (size_t i = 0; i < nl; i++)
				kmax = ll[i] > kmax ? ll[i] : kmax;
			if (!k)
				k = kmax ? kmax : 1;
			od = malloc(k * sizeof *od);
			oid = malloc(k * sizeof *oid);
			ibuf = malloc(k * sizeof *ibuf);
			tbuf = malloc(vp_text_room(k));
			if (!od || !oid || !ibuf || !tbuf)
				vp_die(VP_EXIT_IO, "out of memory");
		}
		got = vp_topk_merge(ld, li, ll, nl, k, od, oid);
		for (size_t r = got; r < k; r++) {
			od[r] = __builtin_inff();
			oid[r] = -1;
		}
		vp_write_results(of, cur, 1, k, od, oid, ibuf, tbuf);
	}
	/* every stream gives as many results a query as the others, unless it
	 * holds fewer rows: a stream searched with another k is an error */
	for (size_t i = 1; i < ns; i++)
		if (rs[i].maxk != rs[0].maxk)
			vp_die(VP_EXIT_DATA, "mismatched k: %s gives up to %zu results a "
			       "query, %s %zu (search every shard with the same -k)",
			       rs[0].name, rs[0].maxk, rs[i].name, rs[i].maxk);
	for (size_t i = 0; i < ns; i++) {
		if (rs[i].f != stdin)
			fclose(rs[i].f);
		vp_rstream_release(&rs[i]);
		free(dist[i]);
		free(ids[i]);
	}
	free(rs), free(dist), free(ids), free(od), free(oid), free(ibuf), free(tbuf);
	vp_close_stdout();
	return 0;
}
