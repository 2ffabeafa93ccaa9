/* vp-diag: inspect an index (header, sections, checksums, vector
 * statistics) or the machine (--system); exit 1 when a problem is found. */
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vp_alog.h"
#include "vp_cli.h"
#include "vp_search.h"

static void usage(void)
{
	printf("usage: %s [options] INDEX\n"
	       "       %s --system\n"
	       "Inspect an index: header, sections, checksums, vector statistics.\n"
	       "With --system, describe the machine as vp sees it.\n\n"
	       "      --system         CPU and its microarchitecture, caches, NUMA nodes,\n"
	       "                       SIMD level and kernels in use, memory, affinity,\n"
	       "                       cgroup limits, huge pages, limits, default threads\n"
	       "      --json           with --system: as JSON (schema vp-diag-system/1)\n"
	       "      --access-log FILE  summarise an access log of vp-search\n"
	       "      --no-verify      skip the section checksums (fast)\n"
	       "      --no-stats       skip the vector statistics\n"
	       "  -h, --help           this help\n"
	       "  -V, --version        print the version\n\n"
	       "Exit status: 0 no problem found, 1 a problem found (checksum\n"
	       "mismatch, NaN vectors), 2 usage, 3 not a valid index, 4 I/O error.\n",
	       vp_prog, vp_prog);
}

/* Access-log summary: records, queries, and the most touched lists or
 * regions per kind. */
struct alog_sum {
	uint64_t records, items, maxq, kinds[3];
	uint32_t maxseg;
	uint64_t *count; /* per (kind, item) for items < 65536 */
};

static void alog_add(void *ctx, uint32_t query, uint16_t seg, uint16_t kind,
		     const uint32_t *items, uint32_t n)
{
	struct alog_sum *s = ctx;
	s->records++;
	s->items += n;
	if (query + 1ull > s->maxq)
		s->maxq = query + 1ull;
	if (seg > s->maxseg)
		s->maxseg = seg;
	if (kind < 3)
		s->kinds[kind]++;
	if (!s->count)
		s->count = calloc(3 * 65536, sizeof *s->count);
	for (uint32_t i = 0; i < n && s->count && kind < 3; i++) {
		uint32_t it = kind == VP_ALOG_HNSW ? items[i] / VP_ALOG_REGION : items[i];
		if (it < 65536)
			s->count[kind * 65536 + it]++;
	}
}

static void alog_report(const char *path, struct alog_sum *s, long n)
{
	static const char *const kn[3] = { "flat", "ivf list", "hnsw region" };
	printf("access log     %s\n", path);
	printf("records        %ld (queries up to %llu, segments %u)\n", n,
	       (unsigned long long)s->maxq, s->records ? s->maxseg + 1 : 0);
	for (int k = 0; k < 3; k++) {
		if (!s->kinds[k])
			continue;
		printf("%-14s %llu records\n", kn[k], (unsigned long long)s->kinds[k]);
		if (k == 0 || !s->count)
			continue;
		/* the ten most touched */
		for (int top = 0; top < 10; top++) {
			uint64_t best = 0;
			uint32_t bi = 0;
			for (uint32_t i = 0; i < 65536; i++)
				if (s->count[k * 65536 + i] > best) {
					best = s->count[k * 65536 + i];
					bi = i;
				}
			if (!best)
				break;
			printf("  %s %-8u %llu\n", kn[k], bi, (unsigned long long)best);
			s->count[k * 65536 + bi] = 0;
		}
	}
}

static void jstr(const char *k, const char *v, int comma)
{
	printf("  \"%s\": ", k);
	vp_json_str(v);
	printf("%s\n", comma ? "," : "");
}

static const char *mib(uint64_t b, char *buf, size_t n)
{
	if (!b)
		snprintf(buf, n, "unknown");
	else if (b >= 1u << 20)
		snprintf(buf, n, "%.1f MiB", (double)b / 1048576.0);
	else
		snprintf(buf, n, "%llu KiB", (unsigned long long)(b >> 10));
	return buf;
}

/* The machine as vp sees it: what explains a slow run. */
static int system_report(int json)
{
	struct vp_sysinfo si;
	char a[32], b[32], c[32];
	vp_sysinfo_get(&si);
	if (json) {
		printf("{\n");
		jstr("schema", "vp-diag-system/1", 1);
		jstr("cpu", si.cpu_model, 1);
		jstr("vendor", si.vendor, 1);
		printf("  \"family\": %d,\n  \"model\": %d,\n", si.family, si.model);
		jstr("microarchitecture", si.uarch, 1);
		printf("  \"cores\": %d,\n  \"l1d_bytes\": %llu,\n  \"l2_bytes\": %llu,\n"
		       "  \"l3_bytes\": %llu,\n", si.cores, (unsigned long long)si.l1d,
		       (unsigned long long)si.l2, (unsigned long long)si.l3);
		printf("  \"numa_nodes\": %d,\n  \"numa_node_memory_bytes\": [", si.numa_nodes);
		for (int n = 0, f = 1; n < 8; n++)
			if (si.node_mem[n]) {
				printf("%s%llu", f ? "" : ", ", (unsigned long long)si.node_mem[n]);
				f = 0;
			}
		printf("],\n");
		printf("  \"memory_bytes\": %llu,\n  \"memory_available_bytes\": %llu,\n",
		       (unsigned long long)si.mem_total, (unsigned long long)si.mem_avail);
		jstr("affinity", si.affinity, 1);
		printf("  \"affinity_cpus\": %d,\n  \"cgroup_cpu_quota\": %.3f,\n"
		       "  \"cgroup_memory_limit_bytes\": %llu,\n", si.affinity_cpus, si.cgroup_cpus,
		       (unsigned long long)si.cgroup_mem);
		jstr("cgroup", si.cgroup_where, 1);
		jstr("simd_cpu", si.simd_cpu, 1);
		jstr("kernels", si.simd_used, 1);
		jstr("transparent_huge_pages", si.thp, 1);
		printf("  \"page_size\": %ld,\n  \"max_map_count\": %ld,\n  \"open_files_limit\": %ld,\n",
		       si.page_size, si.max_map_count, si.nofile);
		printf("  \"default_threads\": %d,\n", si.default_threads);
		jstr("default_threads_why", si.threads_why, 0);
		printf("}\n");
		return 0;
	}
	printf("cpu            %s\n", si.cpu_model[0] ? si.cpu_model : "unknown");
	printf("vendor         %s, family %d, model %d: %s\n", si.vendor[0] ? si.vendor : "unknown",
	       si.family, si.model, si.uarch);
	printf("cores          %d\n", si.cores);
	printf("caches         L1d %s, L2 %s, L3 %s (cpu0)\n", mib(si.l1d, a, sizeof a),
	       mib(si.l2, b, sizeof b), mib(si.l3, c, sizeof c));
	printf("numa           %d node%s", si.numa_nodes, si.numa_nodes == 1 ? "" : "s");
	for (int n = 0; n < 8; n++)
		if (si.node_mem[n])
			printf("%s node%d %.1f GiB", n ? "," : ":", n, (double)si.node_mem[n] / 1073741824.0);
	printf("\n");
	printf("simd (cpu)     %s\n", si.simd_cpu);
	printf("kernels        %s%s\n", si.simd_used,
	       strcmp(si.simd_cpu, si.simd_used) ? " (capped by VP_SIMD)" : "");
	printf("memory         %.1f GiB total, %.1f GiB available\n",
	       (double)si.mem_total / 1073741824.0, (double)si.mem_avail / 1073741824.0);
	printf("affinity       %s (%d CPU%s)\n", si.affinity, si.affinity_cpus,
	       si.affinity_cpus == 1 ? "" : "s");
	if (si.cgroup_cpus > 0)
		printf("cgroup cpu     quota %.2f CPUs (%s)\n", si.cgroup_cpus, si.cgroup_where);
	else
		printf("cgroup cpu     no quota (%s)\n", si.cgroup_where);
	if (si.cgroup_mem)
		printf("cgroup memory  limit %.1f MiB\n", (double)si.cgroup_mem / 1048576.0);
	else
		printf("cgroup memory  no limit\n");
	printf("page size      %ld\n", si.page_size);
	printf("huge pages     %s (transparent)\n", si.thp);
	printf("max_map_count  %ld\n", si.max_map_count);
	if (si.nofile < 0)
		printf("open files     unlimited\n");
	else
		printf("open files     %ld\n", si.nofile);
	printf("threads        %d by default: %s\n", si.default_threads, si.threads_why);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "system", no_argument, NULL, 'S' },
		{ "json", no_argument, NULL, 'J' },
		{ "no-verify", no_argument, NULL, 'N' },
		{ "no-stats", no_argument, NULL, 'T' },
		{ "access-log", required_argument, NULL, 'L' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int sys = 0, verify = 1, stats = 1, c, problems = 0, json = 0;
	const char *alog = NULL;
	struct vp_index ix;
	struct vp_error err = { 0 };
	const char *path;
	time_t created;
	char when[64];

	vp_cli_init(argc, argv);
	while ((c = getopt_long(argc, argv, "hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'S': sys = 1; break;
		case 'J': json = 1; break;
		case 'N': verify = 0; break;
		case 'T': stats = 0; break;
		case 'L': alog = optarg; break;
		case 'h': usage(); vp_close_stdout(); return 0;
		case 'V': vp_version();
		default: vp_usage_error("bad option");
		}
	}
	if (alog) {
		struct alog_sum sum = { 0 };
		long n;
		if (optind < argc)
			vp_usage_error("--access-log takes no INDEX");
		n = vp_alog_read(alog, alog_add, &sum, &err);
		if (n < 0)
			vp_die_err(&err);
		alog_report(alog, &sum, n);
		free(sum.count);
		vp_close_stdout();
		return 0;
	}
	if (json && !sys)
		vp_usage_error("--json goes with --system");
	if (sys) {
		if (optind < argc)
			vp_usage_error("--system takes no INDEX");
		system_report(json);
		vp_close_stdout();
		return 0;
	}
	if (optind + 1 != argc)
		vp_usage_error("expected one INDEX");
	path = argv[optind];
	if (vp_index_open(&ix, path, &err))
		vp_die_err(&err);
	created = (time_t)ix.hdr.created;
	{
		/* a creation time gmtime cannot represent is shown as a number */
		struct tm tmv, *tm = gmtime_r(&created, &tmv);
		if (tm)
			strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", tm);
		else
			snprintf(when, sizeof when, "at an unrepresentable time (%lld)",
				 (long long)ix.hdr.created);
	}
	printf("index          %s\n", path);
	printf("format         %u.%u\n", ix.hdr.major, ix.hdr.minor);
	printf("type           %s\n", vp_index_type_name((int)ix.hdr.type));
	printf("metric         %s\n", vp_metric_name((int)ix.hdr.metric));
	printf("vectors        %llu x %u\n", (unsigned long long)ix.hdr.count, ix.hdr.dim);
	printf("file size      %zu bytes (%.1f MB; raw vectors %.1f MB)\n", ix.size,
	       (double)ix.size / 1e6, (double)ix.hdr.count * ix.hdr.dim * 4 / 1e6);
	printf("built          %s in %.3f s, seed %llu\n", when,
	       (double)ix.hdr.build_usec / 1e6, (unsigned long long)ix.hdr.seed);
	{
		/* what opening for search checks per index type (lists against
		 * codebooks, graph levels against counts): a file vp-search
		 * refuses is a problem here too */
		struct vp_searcher sr;
		struct vp_error e2 = { 0 };
		if (vp_searcher_open(&sr, path, 0, &e2)) {
			printf("structure      %s\n", e2.msg);
			problems++;
		} else {
			printf("structure      ok (opens for search)\n");
			vp_searcher_close(&sr);
		}
	}
	{
		struct vp_segment_meta *metas;
		long nseg = vp_index_segments(&ix, &metas, &err);
		if (nseg < 0) {
			printf("segments       unreadable\n");
			vp_warn("%s", err.msg);
			problems++;
		} else {
			printf("segments       %ld\n", nseg);
			for (long g = 0; g < nseg && nseg > 1; g++)
				printf("  segment %-4ld ids %llu..%llu, built in %.3f s\n", g,
				       (unsigned long long)metas[g].id_base,
				       (unsigned long long)(metas[g].id_base + metas[g].count - 1),
				       (double)metas[g].build_usec / 1e6);
			free(metas);
		}
	}
	{
		static const char *const pn[] = { "nlist", "m", "nbits", "M", "efConstruction" };
		static const int pid[] = { VP_P_NLIST, VP_P_PQ_M, VP_P_NBITS, VP_P_HNSW_M, VP_P_EFC };
		int any = 0;
		for (int i = 0; i < 5; i++)
			if (vp_param_defs[pid[i]].types & VP_T(ix.hdr.type)) {
				printf("%s%s=%lld", any ? ", " : "parameters     ", pn[i],
				       (long long)ix.hdr.params[pid[i]]);
				any = 1;
			}
		if (any)
			printf("\n");
	}
	{
		const struct vp_section *cs = vp_index_find(&ix, "config", 0);
		if (cs && cs->length < 65536) {
			const char *t = vp_index_data(&ix, cs);
			printf("config         (as built)\n    ");
			for (uint64_t i = 0; i < cs->length; i++) {
				char ch = t[i];
				if (ch == '\n')
					printf(i + 1 < cs->length ? "\n    " : "\n");
				else if (ch >= 32 && ch < 127)
					putchar(ch);
			}
		}
	}
	printf("sections       %u\n", ix.nsections);
	printf("  %-15s %7s %12s %12s %-16s %s\n", "name", "segment", "offset",
	       "length", "xxh64", verify ? "check" : "");
	for (uint32_t i = 0; i < ix.nsections; i++) {
		const struct vp_section *s = &ix.sections[i];
		const char *check = "";
		if (verify) {
			struct vp_index one = ix;
			one.nsections = 1;
			one.sections = (struct vp_section *)s;
			if (vp_index_verify(&one, &err)) {
				check = "MISMATCH";
				problems++;
			} else
				check = "ok";
		}
		printf("  %-15s %7u %12llu %12llu %016llx %s\n", s->name, s->segment,
		       (unsigned long long)s->offset, (unsigned long long)s->length,
		       (unsigned long long)s->xxh64, check);
	}
	if (stats) {
		/* every segment's vectors (IVF_FLAT and IVF_SQ8 keep only codes) */
		double mn = INFINITY, mx = 0, sum = 0;
		uint64_t nan = 0, zero = 0, seen = 0;
		for (uint32_t si = 0; si < ix.nsections; si++) {
			const struct vp_section *vs = &ix.sections[si];
			const float *x = vp_index_data(&ix, vs);
			uint64_t rows;
			if (strcmp(vs->name, "vectors") || vs->length % ((uint64_t)ix.hdr.dim * 4))
				continue;
			rows = vs->length / ((uint64_t)ix.hdr.dim * 4);
			for (uint64_t i = 0; i < rows; i++, seen++) {
				const float *v = x + i * ix.hdr.dim;
				double s2 = 0;
				int bad = 0;
				for (uint32_t j = 0; j < ix.hdr.dim; j++) {
					if (!isfinite(v[j]))
						bad = 1;
					s2 += (double)v[j] * v[j];
				}
				if (bad) {
					nan++;
					continue;
				}
				s2 = sqrt(s2);
				zero += s2 == 0;
				mn = s2 < mn ? s2 : mn;
				mx = s2 > mx ? s2 : mx;
				sum += s2;
				if ((seen & 4095) == 0)
					vp_progress("statistics %llu/%llu", (unsigned long long)seen,
						    (unsigned long long)ix.hdr.count);
			}
		}
		vp_progress_done();
		if (seen > nan)
			printf("norms          min %.6g, mean %.6g, max %.6g\n", mn,
			       sum / (double)(seen - nan), mx);
		if (seen) {
			printf("zero vectors   %llu\n", (unsigned long long)zero);
			printf("nan vectors    %llu\n", (unsigned long long)nan);
		}
		if (nan)
			problems++;
	}
	if (problems) {
		if (err.msg[0])
			vp_warn("%s", err.msg);
		printf("problems       %d\n", problems);
	} else
		printf("problems       none\n");
	vp_index_close(&ix);
	vp_close_stdout();
	return problems ? VP_EXIT_NEGATIVE : 0;
}
