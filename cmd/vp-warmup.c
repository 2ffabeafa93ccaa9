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
#include <unistd.h>

#include "vp_cli.h"
#include "vp_metrics.h"

static void usage(void)
{
	printf("usage: %s [options] INDEX\n"
	       "Bring the whole index into the page cache (madvise WILLNEED, then a\n"
	       "read of every page) and report page-cache residency before and after.\n\n"
	       "      --lock           also mlock the index and stay in the foreground\n"
	       "                       holding it until SIGINT or SIGTERM\n"
	       "      --evict          the opposite: drop the index's pages from the page\n"
	       "                       cache (posix_fadvise DONTNEED), to reproduce a cold\n"
	       "                       start; pages other processes have mapped stay\n"
	       VP_METRICS_HELP
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

/* Residency through a plain mapping that touches nothing: opening the
 * index (a huge-page mapping) would read its header and table in first. */
static long file_residency(const char *path, size_t *total)
{
	struct stat st;
	long r = -1;
	int fd = open(path, O_RDONLY);
	void *m;
	if (fd < 0)
		return -1;
	if (!fstat(fd, &st) && st.st_size > 0) {
		m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
		if (m != MAP_FAILED) {
			r = vp_resident_pages(m, (size_t)st.st_size, total);
			munmap(m, (size_t)st.st_size);
		}
	}
	close(fd);
	return r;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "lock", no_argument, NULL, 'L' },
		{ "evict", no_argument, NULL, 'E' },
		VP_METRICS_LONGOPTS,
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int lock = 0, evict = 0, c;
	struct vp_metrics_cli mc;
	struct vp_metrics met;
	uint64_t touched = 0;
	struct vp_index ix;
	struct vp_error err = { 0 };
	size_t total;
	long before, after, ps = sysconf(_SC_PAGESIZE);
	volatile unsigned char sink = 0;
	uint64_t t0;

	vp_cli_init(argc, argv);
	vp_metrics_cli_init(&mc);
	vp_metrics_init(&met);
	while ((c = getopt_long(argc, argv, "qhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'L': lock = 1; break;
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
	before = file_residency(argv[optind], &total);
	if (vp_index_open(&ix, argv[optind], &err))
		vp_die_err(&err);
	t0 = vp_now_usec();
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
		after = file_residency(argv[optind], &total);
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
		}
		vp_close_stdout();
		return 0;
	}
	madvise((void *)ix.map, ix.size, MADV_WILLNEED);
	/* WILLNEED is only a hint: reading a byte of every page makes it so */
	for (size_t off = 0; off < ix.size; off += (size_t)ps) {
		sink ^= ix.map[off];
		touched++;
		if ((touched & 4095) == 0 && vp_metrics_cli_due(&mc))
			write_metrics(&mc, &met, argv[optind], &ix, total, before,
				      vp_resident_pages(ix.map, ix.size, &total), touched * (uint64_t)ps,
				      (double)(vp_now_usec() - t0) / 1e6);
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
	vp_index_close(&ix);
	vp_close_stdout();
	(void)sink;
	return 0;
}
