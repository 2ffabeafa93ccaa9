/* vp-warmup: bring an index into the page cache before traffic. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "vp_cli.h"

static void usage(void)
{
	printf("usage: %s [options] INDEX\n"
	       "Bring the whole index into the page cache (madvise WILLNEED, then a\n"
	       "read of every page) and report page-cache residency before and after.\n\n"
	       "      --lock           also mlock the index and stay in the foreground\n"
	       "                       holding it until SIGINT or SIGTERM\n"
	       "  -q, --quiet          print nothing but errors\n"
	       "  -h, --help           this help\n"
	       "  -V, --version        print the version\n\n"
	       "Exit status: 0 done, 2 usage, 3 not a valid index, 4 I/O error (or the\n"
	       "lock was refused: RLIMIT_MEMLOCK).\n", vp_prog);
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

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "lock", no_argument, NULL, 'L' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int lock = 0, c;
	struct vp_index ix;
	struct vp_error err = { 0 };
	size_t total;
	long before, after, ps = sysconf(_SC_PAGESIZE);
	volatile unsigned char sink = 0;
	uint64_t t0;

	vp_cli_init(argc, argv);
	while ((c = getopt_long(argc, argv, "qhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'L': lock = 1; break;
		case 'q': vp_verbose = 0; break;
		case 'h': usage(); vp_close_stdout(); return 0;
		case 'V': vp_version();
		default: vp_usage_error("bad option");
		}
	}
	if (optind + 1 != argc)
		vp_usage_error("expected one INDEX");
	if (vp_index_open(&ix, argv[optind], &err))
		vp_die_err(&err);
	before = vp_resident_pages(ix.map, ix.size, &total);
	t0 = vp_now_usec();
	madvise((void *)ix.map, ix.size, MADV_WILLNEED);
	/* WILLNEED is only a hint: reading a byte of every page makes it so */
	for (size_t off = 0; off < ix.size; off += (size_t)ps) {
		sink ^= ix.map[off];
		if ((off & ((64u << 20) - 1)) == 0)
			vp_progress("%.0f%%", 100.0 * (double)off / (double)ix.size);
	}
	vp_progress_done();
	if (lock && mlock(ix.map, ix.size)) {
		struct rlimit rl;
		int e = errno;
		getrlimit(RLIMIT_MEMLOCK, &rl);
		if (e == ENOMEM || e == EPERM)
			vp_die(VP_EXIT_IO, "%s: cannot lock %zu bytes: RLIMIT_MEMLOCK is %s%llu "
			       "bytes (raise it with 'ulimit -l' or run with CAP_IPC_LOCK)",
			       argv[optind], ix.size, rl.rlim_cur == RLIM_INFINITY ? "unlimited, " : "",
			       rl.rlim_cur == RLIM_INFINITY ? 0ull : (unsigned long long)rl.rlim_cur);
		vp_die(VP_EXIT_IO, "%s: mlock: %s", argv[optind], strerror(e));
	}
	after = vp_resident_pages(ix.map, ix.size, &total);
	if (vp_verbose)
		printf("%s: %zu pages, resident before %.1f%%, after %.1f%% (%.2f s)%s\n",
		       argv[optind], total, pct(before, total), pct(after, total),
		       (double)(vp_now_usec() - t0) / 1e6, lock ? ", locked" : "");
	if (lock) {
		fflush(stdout);
		signal(SIGINT, on_signal);
		signal(SIGTERM, on_signal);
		while (!stop)
			pause();
	}
	vp_index_close(&ix);
	vp_close_stdout();
	(void)sink;
	return 0;
}
