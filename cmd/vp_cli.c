/* vp_cli: the printing half of vp, shared by the programs in cmd/. */
#include "vp_cli.h"
#include "vp_metrics.h"
#include "vp_l3.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vp_config.h"

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
	return vp_hw_default_threads(NULL, 0);
}

void vp_hw_cli_init(struct vp_hw_cli *h)
{
	memset(h, 0, sizeof *h);
	vp_hw_init(&h->hw);
}

static int onoff(const char *opt, const char *s)
{
	if (!strcmp(s, "on"))
		return 1;
	if (!strcmp(s, "off"))
		return 0;
	vp_usage_error("%s: '%s' is not on or off", opt, s);
}

int vp_hw_cli_option(struct vp_hw_cli *h, int c, const char *arg)
{
	struct vp_error err = { 0 };
	switch (c) {
	case VP_HW_OPT_CPUS:
		if ((h->hw.ncpus = vp_cpulist_parse(arg, &h->hw.cpus, &err)) < 0)
			vp_usage_error("--%s", err.msg);
		snprintf(h->cpus, sizeof h->cpus, "%s", arg);
		h->given |= 1;
		return 1;
	case VP_HW_OPT_NUMA:
		if ((h->hw.numa = vp_numa_parse(arg)) < 0)
			vp_usage_error("--numa: '%s' is not local, interleave or off", arg);
		h->given |= 2;
		return 1;
	case VP_HW_OPT_HUGE:
		h->hw.huge_pages = onoff("--huge-pages", arg);
		h->given |= 4;
		return 1;
	case VP_HW_OPT_PREALLOC:
		if (!h->preallocate_ok)
			vp_usage_error("--preallocate is an option of vp-search");
		h->hw.preallocate = 1;
		h->given |= 8;
		return 1;
	}
	return 0;
}

void vp_hw_cli_config(struct vp_hw_cli *h, const struct vp_config *cfg)
{
	struct vp_error err = { 0 };
	if (!(h->given & 1) && cfg->cpus[0]) {
		h->hw.ncpus = vp_cpulist_parse(cfg->cpus, &h->hw.cpus, &err);
		snprintf(h->cpus, sizeof h->cpus, "%s", cfg->cpus);
	}
	if (!(h->given & 2) && cfg->numa)
		h->hw.numa = cfg->numa - 1;
	if (!(h->given & 4) && cfg->huge_pages)
		h->hw.huge_pages = cfg->huge_pages == 2;
	if (!(h->given & 8) && cfg->preallocate)
		h->hw.preallocate = cfg->preallocate == 2;
}

int vp_hw_cli_start(struct vp_hw_cli *h, int threads, int threads_given)
{
	struct vp_error err = { 0 };
	if (!threads_given && h->hw.ncpus > 0)
		threads = h->hw.ncpus;
	if (vp_hw_pin(&h->hw, threads, &err))
		vp_usage_error("%s", err.msg);
	vp_hw_set_huge_pages(h->hw.huge_pages);
	if (vp_hw_numa_apply(&h->hw, NULL, 0, h->numa_note, sizeof h->numa_note, &err))
		vp_usage_error("%s", err.msg);
	return threads;
}

void vp_hw_cli_numa_map(struct vp_hw_cli *h, const void *map, size_t len)
{
	struct vp_error err = { 0 };
	if (h->hw.numa != VP_NUMA_OFF &&
	    vp_hw_numa_apply(&h->hw, (void *)(uintptr_t)map, len, h->numa_note,
			     sizeof h->numa_note, &err))
		vp_warn("%s", err.msg);
}

void vp_hw_cli_report(const struct vp_hw_cli *h, int threads, const char *why,
		      const void *map)
{
	uint64_t anon, file;
	char cpus[512];
	vp_hw_thread_cpus(threads, cpus, sizeof cpus);
	fprintf(stderr, "%s: stats: %d thread%s (%s)%s%s; thread:CPUs %s\n", vp_prog, threads,
		threads == 1 ? "" : "s", why, h->hw.ncpus ? ", pinned to CPUs " : ", not pinned",
		h->hw.ncpus ? h->cpus : "", cpus);
	if (h->hw.numa != VP_NUMA_OFF)
		fprintf(stderr, "%s: stats: numa %s: %s; the index mapping's policy reads back "
			"as %s\n", vp_prog, vp_numa_name(h->hw.numa), h->numa_note,
			map ? vp_hw_numa_policy_at(map) : "-");
	vp_hw_hugepages_granted(&anon, &file);
	fprintf(stderr, "%s: stats: huge pages %s: granted %.1f MB anonymous (pools), "
		"%.1f MB of mapped files (index)\n", vp_prog, h->hw.huge_pages ? "on" : "off",
		(double)anon / 1048576.0, (double)file / 1048576.0);
}

void vp_json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", *s);
		else
			putchar(*s);
	}
	putchar('"');
}

void vp_metrics_cli_init(struct vp_metrics_cli *mc)
{
	memset(mc, 0, sizeof *mc);
}

int vp_metrics_cli_option(struct vp_metrics_cli *mc, int c, const char *arg)
{
	if (c == VP_METRICS_OPT_FILE) {
		if (!*arg)
			vp_usage_error("--metrics: empty file name");
		mc->path = arg;
	} else if (c == VP_METRICS_OPT_INTERVAL) {
		mc->interval = vp_opt_double("--metrics-interval", arg, 0.1, 86400);
	} else
		return 0;
	return 1;
}

int vp_metrics_cli_due(struct vp_metrics_cli *mc)
{
	uint64_t now;
	if (!mc->path || mc->interval <= 0)
		return 0;
	now = vp_now_usec();
	if (mc->last_usec && (double)(now - mc->last_usec) < mc->interval * 1e6)
		return 0;
	mc->last_usec = now;
	return 1;
}

void vp_metrics_cli_write(struct vp_metrics_cli *mc, const struct vp_metrics *m, int final)
{
	struct vp_error err = { 0 };
	if (!mc->path || !vp_metrics_write(m, mc->path, &err))
		return;
	if (final)
		vp_die_err(&err);
	if (!mc->warned)
		vp_warn("%s; going on without it", err.msg);
	mc->warned = 1;
}

struct vp_l3 *vp_cli_l3_open(const char *url)
{
	struct vp_l3 *l3 = NULL;
	struct vp_error err = { 0 };
	int rc = vp_l3_open(&l3, url, VP_L3_TIMEOUT_MS, VP_L3_TTL_S, &err);
	if (rc == VP_E_ARG)
		vp_usage_error("%s", err.msg);
	if (rc)
		vp_warn("%s; going on without the L3 cache", err.msg);
	return l3;
}

void vp_cli_l3_close(struct vp_l3 *l3, const char *url)
{
	if (l3 && vp_l3_stats(l3)->down)
		vp_warn("%s: %s; the L3 cache was skipped from then on", url, vp_l3_stats(l3)->why);
	vp_l3_close(l3);
}

enum vp_outfmt vp_outfmt_parse(const char *s)
{
	if (!strcmp(s, "tsv"))
		return VP_OUT_TSV;
	if (!strcmp(s, "ivecs"))
		return VP_OUT_IVECS;
	if (!strcmp(s, "json"))
		return VP_OUT_JSON;
	vp_usage_error("--output-format: '%s' is not tsv, ivecs or json", s);
}

/* Room for one query's text: k rows of four numbers and their separators. */
size_t vp_text_room(size_t k)
{
	return k * (4 * (VP_NUM_MAX + 1)) + 64;
}

void vp_write_results(enum vp_outfmt of, uint64_t q0, size_t nq, size_t k,
		      const float *dist, const int64_t *ids, int32_t *ibuf,
		      char *tbuf)
{
	struct vp_error err = { 0 };
	for (size_t i = 0; i < nq; i++) {
		const float *d = dist + i * k;
		const int64_t *id = ids + i * k;
		char *t = tbuf;
		if (of == VP_OUT_TSV) {
			/* formatted here, not by printf: a tenth of the time */
			for (size_t r = 0; r < k && id[r] >= 0; r++) {
				t += vp_fmt_u64(t, q0 + i);
				*t++ = '\t';
				t += vp_fmt_u64(t, r);
				*t++ = '\t';
				t += vp_fmt_i64(t, id[r]);
				*t++ = '\t';
				t += vp_fmt_g9(t, d[r]);
				*t++ = '\n';
			}
		} else if (of == VP_OUT_JSON) {
			memcpy(t, "{\"query\":", 9);
			t += 9;
			t += vp_fmt_u64(t, q0 + i);
			memcpy(t, ",\"ids\":[", 8);
			t += 8;
			for (size_t r = 0; r < k && id[r] >= 0; r++) {
				if (r)
					*t++ = ',';
				t += vp_fmt_i64(t, id[r]);
			}
			memcpy(t, "],\"distances\":[", 15);
			t += 15;
			for (size_t r = 0; r < k && id[r] >= 0; r++) {
				if (r)
					*t++ = ',';
				t += vp_fmt_g9(t, d[r]);
			}
			memcpy(t, "]}\n", 3);
			t += 3;
		} else {
			for (size_t r = 0; r < k; r++)
				ibuf[r] = (int32_t)id[r];
			if (vp_write_ivecs(stdout, ibuf, 1, (uint32_t)k, &err))
				vp_die(VP_EXIT_IO, "write error on standard output: %s",
				       strerror(errno));
		}
		if (t > tbuf && fwrite(tbuf, 1, (size_t)(t - tbuf), stdout) != (size_t)(t - tbuf))
			break;
	}
	if (ferror(stdout))
		vp_die(VP_EXIT_IO, "write error on standard output: %s", strerror(errno));
}
