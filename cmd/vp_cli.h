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

/* Default thread count: the number of online processors. */
int vp_default_threads(void);

#endif
