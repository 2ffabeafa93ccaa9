/*
 * vp_cli: what every vp program shares and only programs do: printing
 * errors and progress, exit codes, option-value parsing, the checked close
 * of stdout.
 *
 * Exit codes (every tool, every man page): 0 success, 1 a negative answer
 * (a problem found, a regression), 2 usage, 3 bad data or format, 4 I/O.
 */
#ifndef VP_CLI_H
#define VP_CLI_H

#include <stdint.h>
#include <stdio.h>

#include "vp.h"
#include "vp_hw.h"

#define VP_EXIT_OK 0
#define VP_EXIT_NEGATIVE 1
#define VP_EXIT_USAGE 2
#define VP_EXIT_DATA 3
#define VP_EXIT_IO 4

extern const char *vp_prog;
extern int vp_verbose; /* 0 quiet, 1 normal, 2 verbose */

/* Sets vp_prog from argv[0]. */
void vp_cli_init(int argc, char **argv);

/* Prints "PROG: message" to stderr and exits with code. */
void vp_die(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));

/* Prints the library's message and exits with the code its class maps to. */
void vp_die_err(const struct vp_error *err) __attribute__((noreturn));

/* Prints "PROG: message" to stderr. */
void vp_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Misuse: "PROG: message" and a hint to --help on stderr, exit 2. */
void vp_usage_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

/* Parses an option's integer value in [min, max] or exits 2 naming opt. */
int64_t vp_opt_int(const char *opt, const char *s, int64_t min, int64_t max);

/* Parses an option's number in [min, max] or exits 2 naming opt. */
double vp_opt_double(const char *opt, const char *s, double min, double max);

/* Prints "PROG (vp) VERSION" and exits 0. */
void vp_version(void) __attribute__((noreturn));

/* Exits 2 when stdout is a terminal: binary output would garble it. */
void vp_refuse_tty_stdout(const char *what);

/* A progress line on stderr, redrawn in place, only when stderr is a
 * terminal and not quiet; rate-limited to a few updates a second. */
void vp_progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Ends the progress line (erases it). */
void vp_progress_done(void);

/* Flushes and closes stdout; a write error (full disk, closed pipe) is an
 * I/O error, exit 4, never silence.  Call at the end of every program. */
void vp_close_stdout(void);

/* Writes s to stdout as a JSON string, quoted and escaped. */
void vp_json_str(const char *s);

/* Default thread count: the CPUs of the affinity mask, fewer under a
 * cgroup CPU quota (vp_hw_default_threads). */
int vp_default_threads(void);

/* The hardware options of vp-build, vp-search, vp-bench and vp-tune:
 * --cpus LIST, --numa MODE, --huge-pages on|off, --preallocate; and the
 * hardware section of a vp.yaml under them (options win). */
#define VP_HW_OPT_CPUS 0x1001
#define VP_HW_OPT_NUMA 0x1002
#define VP_HW_OPT_HUGE 0x1003
#define VP_HW_OPT_PREALLOC 0x1004
#define VP_HW_LONGOPTS                                                   \
	{ "cpus", required_argument, NULL, VP_HW_OPT_CPUS },             \
	{ "numa", required_argument, NULL, VP_HW_OPT_NUMA },             \
	{ "huge-pages", required_argument, NULL, VP_HW_OPT_HUGE },       \
	{ "preallocate", no_argument, NULL, VP_HW_OPT_PREALLOC }
#define VP_HW_HELP                                                                   \
	"      --cpus LIST        run on these CPUs (taskset syntax: 0-3,8), one\n"     \
	"                         thread pinned to each (default threads: as many)\n"  \
	"      --numa MODE        local, interleave or off (default): where memory\n" \
	"                         is placed on a machine with several NUMA nodes\n"    \
	"      --huge-pages on|off  transparent huge pages for the index mapping and\n" \
	"                         pools (default on)\n"

struct vp_config;
struct vp_hw_cli {
	struct vp_hw hw;
	unsigned given;         /* bits: 1 cpus, 2 numa, 4 huge pages, 8 preallocate */
	char cpus[128];
	char numa_note[160];    /* what vp_hw_cli_numa did */
	int preallocate_ok;     /* the program has pools to preallocate */
};

void vp_hw_cli_init(struct vp_hw_cli *h);
/* Takes option c (one of VP_HW_OPT_*) or returns 0 when it is not one. */
int vp_hw_cli_option(struct vp_hw_cli *h, int c, const char *arg);
/* The config's hardware keys, where no option gave them. */
void vp_hw_cli_config(struct vp_hw_cli *h, const struct vp_config *cfg);
/* The thread count (given; else as many as the CPUs listed; else the
 * default), then pins and sets huge pages and the process's NUMA policy;
 * exits 2 when the CPUs cannot be used.  Returns the thread count. */
int vp_hw_cli_start(struct vp_hw_cli *h, int threads, int threads_given);
/* --stats lines on stderr: threads and why, CPUs, NUMA (with the policy
 * read back from the index mapping at map), huge pages granted. */
void vp_hw_cli_report(const struct vp_hw_cli *h, int threads, const char *why,
		      const void *map);
/* mbinds an index mapping under the NUMA mode (after vp_hw_cli_start). */
void vp_hw_cli_numa_map(struct vp_hw_cli *h, const void *map, size_t len);

/* --metrics FILE and --metrics-interval SECONDS (vp-search, vp-bench,
 * vp-build, vp-warmup): the Prometheus text file, rewritten atomically
 * every interval during a long run and once at the end. */
struct vp_metrics;
#define VP_METRICS_OPT_FILE 0x1010
#define VP_METRICS_OPT_INTERVAL 0x1011
#define VP_METRICS_LONGOPTS                                                  \
	{ "metrics", required_argument, NULL, VP_METRICS_OPT_FILE },         \
	{ "metrics-interval", required_argument, NULL, VP_METRICS_OPT_INTERVAL }
#define VP_METRICS_HELP                                                              \
	"      --metrics FILE     write metrics in Prometheus text format to FILE\n"   \
	"                         (atomically: node_exporter's textfile collector)\n"  \
	"      --metrics-interval SECONDS  also rewrite FILE this often during the run\n"
struct vp_metrics_cli {
	const char *path;
	double interval;     /* seconds; 0: at the end only */
	uint64_t last_usec;
	int warned;
};
void vp_metrics_cli_init(struct vp_metrics_cli *mc);
/* Takes option c (one of VP_METRICS_OPT_*) or returns 0. */
int vp_metrics_cli_option(struct vp_metrics_cli *mc, int c, const char *arg);
/* 1 when an interval rewrite is due now. */
int vp_metrics_cli_due(struct vp_metrics_cli *mc);
/* Writes m to the file.  final: a failure exits 4; otherwise (a rewrite
 * during the run) it warns once and the run goes on. */
void vp_metrics_cli_write(struct vp_metrics_cli *mc, const struct vp_metrics *m, int final);

/* --cache-l3 URL: opens the shared result-cache level; when it cannot be
 * reached, one warning and NULL (the search goes on with L1 and L2).  A bad
 * URL is a usage error. */
struct vp_l3;
struct vp_l3 *vp_cli_l3_open(const char *url);
/* Warns once if it went down during the run, then closes it. */
void vp_cli_l3_close(struct vp_l3 *l3, const char *url);

/* Search results on stdout, as vp-search and vp-merge write them: tsv rows
 * "query rank id distance", ivecs of k ids (-1 padded), or json lines. */
enum vp_outfmt { VP_OUT_TSV, VP_OUT_IVECS, VP_OUT_JSON };
/* Parses "tsv", "ivecs", "json" (an -f option); dies with a usage error
 * otherwise. */
enum vp_outfmt vp_outfmt_parse(const char *s);
/* Bytes of tbuf that one query's text needs. */
size_t vp_text_room(size_t k);
/* Writes nq queries (numbered from q0) of k results; ibuf holds k ints,
 * tbuf vp_text_room(k) bytes.  Dies with exit 4 on a write error. */
void vp_write_results(enum vp_outfmt of, uint64_t q0, size_t nq, size_t k,
		      const float *dist, const int64_t *ids, int32_t *ibuf,
		      char *tbuf);

#endif
