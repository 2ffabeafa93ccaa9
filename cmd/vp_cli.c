/* vp_cli: the printing half of vp, shared by the programs in cmd/. */
#include "vp_cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *vp_prog = "vp";
int vp_verbose = 1;

void vp_cli_init(int argc, char **argv)
{
	const char *s;
	(void)argc;
	if (argv && argv[0]) {
		s = strrchr(argv[0], '/');
		vp_prog = s ? s + 1 : argv[0];
	}
}

static void vmsg(const char *fmt, va_list ap)
{
	vp_progress_done();
	fprintf(stderr, "%s: ", vp_prog);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void vp_die(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmsg(fmt, ap);
	va_end(ap);
	exit(code);
}

void vp_die_err(const struct vp_error *err)
{
	vp_die(vp_exit_code(err->code ? err->code : VP_E_IO), "%s",
	       err->msg[0] ? err->msg : vp_strerror(err->code));
}

void vp_warn(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmsg(fmt, ap);
	va_end(ap);
}

void vp_usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmsg(fmt, ap);
	va_end(ap);
	fprintf(stderr, "Try '%s --help' for more information.\n", vp_prog);
	exit(VP_EXIT_USAGE);
}

int64_t vp_opt_int(const char *opt, const char *s, int64_t min, int64_t max)
{
	int64_t v;
	if (vp_parse_int(s, min, max, &v))
		vp_usage_error("%s: '%s' is not an integer in %lld..%lld", opt,
			       s, (long long)min, (long long)max);
	return v;
}

double vp_opt_double(const char *opt, const char *s, double min, double max)
{
	char *end;
	double v;
	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= min && v <= max))
		vp_usage_error("%s: '%s' is not a number in %g..%g", opt, s, min,
			       max);
	return v;
}

void vp_version(void)
{
	printf("%s (vp) %s\n", vp_prog, VP_VERSION);
	vp_close_stdout();
	exit(0);
}

void vp_refuse_tty_stdout(const char *what)
{
	if (isatty(STDOUT_FILENO))
		vp_usage_error("refusing to write %s to a terminal; redirect "
			       "stdout or use -o", what);
}

static int progress_shown;

void vp_progress(const char *fmt, ...)
{
	static uint64_t last;
	uint64_t now;
	va_list ap;
	if (vp_verbose < 1 || !isatty(STDERR_FILENO))
		return;
	now = vp_now_usec();
	if (progress_shown && now - last < 200000)
		return;
	last = now;
	fprintf(stderr, "\r\033[K%s: ", vp_prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fflush(stderr);
	progress_shown = 1;
}

void vp_progress_done(void)
{
	if (progress_shown) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
		progress_shown = 0;
	}
}

void vp_close_stdout(void)
{
	int bad = ferror(stdout);
	if (fclose(stdout) || bad) {
		/* a reader that went away is not our failure to report loudly */
		if (errno == EPIPE)
			exit(VP_EXIT_IO);
		vp_die(VP_EXIT_IO, "write error on standard output: %s",
		       strerror(errno ? errno : EIO));
	}
}

int vp_default_threads(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (int)n : 1;
}
