/* test_rules: the diagnosis rule table, each rule at its threshold, the
 * grouping of symptoms under root causes, the evidence reader, and the
 * Prometheus writer (escaping, cumulative buckets, atomic files). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>

#include "check.h"
#include "vp.h"

static struct vp_evidence ev;

static void healthy(void)
{
	memset(&ev, 0, sizeof ev);
	ev.have_run = 1;
	snprintf(ev.mode, sizeof ev.mode, "throughput");
	snprintf(ev.simd_used, sizeof ev.simd_used, "avx2");
	snprintf(ev.simd_cpu, sizeof ev.simd_cpu, "avx2");
	ev.threads = 2;
	ev.cpus_allowed = 2;
	ev.k = 10;
	ev.nq = 10000;
	ev.wall_s = 1;
	ev.nruns = 1;
	ev.runs[0].recall = 0.97;
	ev.runs[0].qps = 1000;
	ev.residency_known = 1;
	ev.residency_before = ev.residency_after = 1;
	ev.mem_total = 16ull << 30;
	ev.ix.type = VP_TYPE_IVF_FLAT;
	ev.ix.count = 60000;
	ev.ix.dim = 784;
	ev.ix.size_bytes = 190000000;
	ev.ix.nseg = 1;
	ev.ix.seg_min = ev.ix.seg_max = 60000;
	ev.ix.nlist = 256;
	ev.ix.list_mean = 60000.0 / 256;
	ev.ix.list_max = 800;
}

/* The rule ids that fire, in order, joined by spaces. */
static const char *fired(void)
{
	static char buf[512];
	struct vp_finding f[32];
	size_t n = vp_rules_run(&ev, f, 32);
	buf[0] = 0;
	for (size_t i = 0; i < n; i++) {
		strcat(buf, i ? " " : "");
		strcat(buf, f[i].rule->id);
	}
	return buf;
}

int main(void)
{
	struct vp_error err = { 0 };

	/* the table: ids unique, every field there, causes name rules */
	for (size_t i = 0; i < vp_nrules; i++) {
		const struct vp_rule *r = &vp_rules[i];
		CHECK(r->id && r->reads && r->threshold && r->why && r->check, "rule %zu complete", i);
		CHECK(r->severity >= VP_SEV_INFO && r->severity <= VP_SEV_CRITICAL, "%s severity", r->id);
		for (size_t j = 0; j < i; j++)
			CHECK(strcmp(r->id, vp_rules[j].id), "%s unique", r->id);
		if (r->cause) {
			int found = 0;
			for (size_t j = 0; j < vp_nrules; j++)
				found |= !strcmp(vp_rules[j].id, r->cause);
			CHECK(found, "%s: cause %s is a rule", r->id, r->cause);
		}
	}
	{
		static const char *const want[] = {
			"index-not-resident", "simd-capped", "threads-oversubscribed",
			"recall-below-target", "segments-fragmented", "ivf-imbalanced",
			"memory-pressure", "cache-ineffective", "cpu-quota",
		};
		for (size_t w = 0; w < sizeof want / sizeof *want; w++) {
			int found = 0;
			for (size_t j = 0; j < vp_nrules; j++)
				found |= !strcmp(vp_rules[j].id, want[w]);
			CHECK(found, "the issue's rule %s exists", want[w]);
		}
	}

	/* healthy: nothing fires */
	healthy();
	CHECK(!strcmp(fired(), ""), "healthy run: '%s'", fired());

	/* each rule on either side of its threshold */
	healthy();
	ev.residency_before = 0.5;
	ev.residency_after = 0.5 + VP_RULE_RESIDENT_GREW;
	CHECK(!strcmp(fired(), "index-not-resident"), "cold: %s", fired());
	ev.residency_after = 0.5 + VP_RULE_RESIDENT_GREW / 2;
	CHECK(!strcmp(fired(), ""), "residency did not grow: %s", fired());
	ev.residency_before = VP_RULE_RESIDENT_MIN;
	ev.residency_after = 1;
	CHECK(!strcmp(fired(), ""), "resident enough before: %s", fired());
	ev.majflt = (uint64_t)(VP_RULE_MAJFLT_PER_Q * (double)ev.nq);
	CHECK(!strcmp(fired(), "index-not-resident"), "0.1 faults a query: %s", fired());
	ev.majflt--;
	CHECK(!strcmp(fired(), ""), "under 0.1 a query: %s", fired());
	ev.nq = 10;
	ev.majflt = VP_RULE_MAJFLT_MIN - 1;
	CHECK(!strcmp(fired(), ""), "7 faults over 10 queries: %s", fired());
	ev.majflt = VP_RULE_MAJFLT_MIN;
	CHECK(!strcmp(fired(), "index-not-resident"), "8 over 10: %s", fired());

	healthy();
	snprintf(ev.simd_used, sizeof ev.simd_used, "portable");
	CHECK(!strcmp(fired(), "simd-capped"), "portable on avx2: %s", fired());
	snprintf(ev.simd_cpu, sizeof ev.simd_cpu, "portable");
	CHECK(!strcmp(fired(), ""), "portable on portable: %s", fired());

	healthy();
	ev.threads = 3;
	CHECK(!strcmp(fired(), "threads-oversubscribed"), "3 on 2: %s", fired());
	snprintf(ev.mode, sizeof ev.mode, "latency");
	CHECK(!strcmp(fired(), ""), "latency mode uses one thread: %s", fired());

	healthy();
	ev.cgroup_cpus = 1.5;
	CHECK(!strcmp(fired(), ""), "2 threads, quota 1.5: %s", fired());
	ev.cgroup_cpus = 1.0;
	CHECK(!strcmp(fired(), "cpu-quota"), "2 threads, quota 1: %s", fired());
	ev.threads = 4;
	/* the quota is the root: oversubscription is listed under it */
	CHECK(!strcmp(fired(), "cpu-quota threads-oversubscribed"), "quota first: %s", fired());

	healthy();
	ev.target_recall = 0.97;
	CHECK(!strcmp(fired(), ""), "recall at target: %s", fired());
	ev.target_recall = 0.9701;
	CHECK(!strcmp(fired(), "recall-below-target"), "below: %s", fired());
	{
		struct vp_finding f[4];
		snprintf(ev.curve_key, sizeof ev.curve_key, "nprobe");
		ev.curve_value = 24;
		ev.curve_recall = 0.976;
		vp_rules_run(&ev, f, 4);
		CHECK(strstr(f[0].action, "-p nprobe=24"), "measured setting: %s", f[0].action);
	}

	healthy();
	ev.ix.nseg = VP_RULE_SEGMENTS_MAX + 1;
	ev.ix.seg_min = 1000;
	ev.ix.seg_max = 10000;
	CHECK(!strcmp(fired(), "segments-fragmented"), "9 segments: %s", fired());
	ev.ix.nseg = VP_RULE_SEGMENTS_MAX;
	CHECK(!strcmp(fired(), ""), "8 segments: %s", fired());
	ev.ix.nseg = 20;
	ev.ix.seg_min = 2500;
	CHECK(!strcmp(fired(), ""), "even segments: %s", fired());

	healthy();
	ev.ix.nlist = 60000 / 38;
	ev.ix.list_mean = 38;
	ev.ix.list_max = 100;
	CHECK(!strcmp(fired(), "ivf-imbalanced"), "38 a list: %s", fired());
	healthy();
	ev.ix.list_max = (uint64_t)(ev.ix.list_mean * VP_RULE_LIST_SKEW) + 1;
	CHECK(!strcmp(fired(), "ivf-imbalanced"), "skewed: %s", fired());
	{
		struct vp_finding f[4];
		vp_rules_run(&ev, f, 4);
		CHECK(strstr(f[0].action, "nlist=256"), "about sqrt(n): %s", f[0].action);
	}
	healthy();
	ev.ix.lists_empty = 13;
	CHECK(!strcmp(fired(), "ivf-imbalanced"), "13 of 256 empty: %s", fired());

	healthy();
	ev.cgroup_mem = (uint64_t)(ev.ix.size_bytes / VP_RULE_MEM_FRACTION) + 1000;
	CHECK(!strcmp(fired(), ""), "fits: %s", fired());
	ev.cgroup_mem = ev.ix.size_bytes;
	CHECK(!strcmp(fired(), "memory-pressure"), "limit = size: %s", fired());
	/* faults are then a symptom of it, listed after it */
	ev.majflt = 5000;
	ev.residency_before = 0.3;
	ev.residency_after = 0.8;
	CHECK(!strcmp(fired(), "memory-pressure index-not-resident"), "grouped: %s", fired());
	{
		struct vp_finding f[4];
		size_t n = vp_rules_run(&ev, f, 4);
		CHECK(n == 2 && f[1].root == f[0].rule, "symptom's root");
		CHECK(strstr(f[0].action, "IVF_SQ8"), "compressed type named: %s", f[0].action);
		CHECK(vp_rules_worst(f, n) == VP_SEV_CRITICAL, "worst");
	}

	healthy();
	ev.cache_used = 1;
	ev.cache_lookups = VP_RULE_CACHE_MIN_LOOKUPS;
	ev.cache_hit_rate = 0.01;
	CHECK(!strcmp(fired(), "cache-ineffective"), "no repeats: %s", fired());
	ev.cache_hit_rate = VP_RULE_CACHE_MIN_HIT;
	CHECK(!strcmp(fired(), ""), "5%% hits: %s", fired());
	ev.cache_hit_rate = 0;
	ev.cache_lookups = VP_RULE_CACHE_MIN_LOOKUPS - 1;
	CHECK(!strcmp(fired(), ""), "too few lookups: %s", fired());

	/* index health */
	healthy();
	ev.ix.type = VP_TYPE_HNSW;
	ev.ix.nlist = 0;
	ev.ix.degree_cap = 32;
	ev.ix.degree_mean = 14;
	ev.ix.unreachable = 100;
	{
		struct vp_finding f[4];
		size_t n = vp_rules_run(&ev, f, 4);
		CHECK(n == 1 && !strcmp(f[0].rule->id, "hnsw-unreachable") &&
		      f[0].severity == VP_SEV_INFO, "a few unreachable: info");
		ev.ix.unreachable = 1000;
		n = vp_rules_run(&ev, f, 4);
		CHECK(n == 1 && f[0].severity == VP_SEV_WARNING, "over 1%%: warning");
	}
	ev.ix.unreachable = 0;
	ev.ix.degree_zero = 3;
	CHECK(!strcmp(fired(), "hnsw-degree"), "isolated nodes: %s", fired());
	healthy();
	ev.ix.rows_checked = 1000;
	ev.ix.dup_rows = 11;
	CHECK(!strcmp(fired(), "duplicate-vectors"), "duplicates: %s", fired());
	ev.ix.dup_rows = 10;
	CHECK(!strcmp(fired(), ""), "1%% duplicates: %s", fired());
	/* deleted rows: compact past 10% */
	healthy();
	ev.ix.deleted = ev.ix.count / 10;
	CHECK(!strcmp(fired(), ""), "10%% deleted: %s", fired());
	ev.ix.deleted = ev.ix.count / 10 + 1;
	CHECK(!strcmp(fired(), "deleted-rows"), "deleted: %s", fired());
	{
		struct vp_finding f[4];
		size_t n = vp_rules_run(&ev, f, 4);
		CHECK(n == 1 && strstr(f[0].action, "vp-build --compact") != NULL, "compact: %s",
		      n ? f[0].action : "");
	}
	/* an IVF index whose lists deletes emptied: retrain on the live rows */
	healthy();
	ev.ix.type = VP_TYPE_IVF_FLAT;
	ev.ix.nlist = 100;
	ev.ix.list_mean = 100;
	ev.ix.list_max = 900;
	ev.ix.count = 10000;
	ev.ix.deleted = 500;
	{
		struct vp_finding f[4];
		size_t n = vp_rules_run(&ev, f, 4);
		CHECK(n == 1 && !strcmp(f[0].rule->id, "ivf-imbalanced") &&
		      strstr(f[0].action, "--compact --retrain") != NULL, "retrain: %s",
		      n ? f[0].action : "");
		ev.ix.type = VP_TYPE_IVF_SQ8;
		n = vp_rules_run(&ev, f, 4);
		CHECK(n == 1 && strstr(f[0].action, "nlist=") != NULL, "sq8 rebuilds: %s",
		      n ? f[0].action : "");
	}

	/* severity first, then gain */
	healthy();
	snprintf(ev.simd_used, sizeof ev.simd_used, "portable"); /* gain 3 */
	ev.cache_used = 1;                                       /* gain 1.05 */
	ev.cache_lookups = 5000;
	ev.ix.rows_checked = 100;                                /* info */
	ev.ix.dup_rows = 50;
	CHECK(!strcmp(fired(), "simd-capped cache-ineffective duplicate-vectors"), "order: %s",
	      fired());

	/* the evidence reader */
	{
		static const char run[] =
			"{\"schema\": \"vp-bench/2\", \"index\": {\"path\": \"x.vpi\", \"type\": \"HNSW\","
			" \"count\": 1000, \"dim\": 8, \"size_bytes\": 4096, \"params\": {\"M\": 16},"
			" \"health\": {\"unreachable\": 3, \"degree_cap\": 32, \"degree_mean\": 10},"
			" \"segments\": [{\"count\": 600}, {\"count\": 400}]},"
			" \"queries\": 50, \"queries_path\": \"q.fvecs\", \"gt_path\": \"gt.ivecs\","
			" \"k\": 10, \"mode\": \"throughput\", \"threads\": 4, \"sweep\": \"ef\","
			" \"system\": {\"simd\": \"avx2\", \"simd_cpu\": \"avx512\", \"cpus_allowed\": 1,"
			"  \"cgroup\": {\"cpus\": 0.5, \"memory_bytes\": 1000},"
			"  \"rusage\": {\"major_faults\": 7, \"involuntary_switches\": 99},"
			"  \"residency\": {\"before\": 0.25, \"after\": 0.75}},"
			" \"runs\": [{\"param\": \"ef=8\", \"recall\": 0.5, \"qps\": 10, \"seconds\": 5,"
			"  \"latency_us\": {\"p50\": 10, \"p99\": 90}}],"
			" \"cache\": {\"lookups\": 50, \"hit_rate\": 0.5}}";
		memset(&ev, 0, sizeof ev);
		CHECK(vp_evidence_from_json(&ev, run, sizeof run - 1, "run.json", &err) == 0, "%s",
		      err.msg);
		CHECK(ev.ix.type == VP_TYPE_HNSW && ev.ix.count == 1000 && ev.ix.nseg == 2 &&
		      ev.ix.seg_min == 400 && ev.ix.seg_max == 600 && ev.ix.params[VP_P_HNSW_M] == 16,
		      "index read");
		CHECK(ev.ix.unreachable == 3 && ev.ix.degree_cap == 32, "health read");
		CHECK(!strcmp(ev.mode, "throughput") && ev.threads == 4 && ev.cpus_allowed == 1 &&
		      ev.k == 10 && ev.nq == 50 && !strcmp(ev.sweep_key, "ef"), "run read");
		CHECK(fabs(ev.cgroup_cpus - 0.5) < 1e-9 && ev.cgroup_mem == 1000, "cgroup read");
		CHECK(ev.majflt == 7 && ev.nivcsw == 99 && ev.residency_known &&
		      fabs(ev.residency_before - 0.25) < 1e-9, "rusage and residency read");
		CHECK(ev.nruns == 1 && ev.runs[0].has_lat && fabs(ev.runs[0].p99_us - 90) < 1e-9 &&
		      fabs(ev.wall_s - 5) < 1e-9, "runs read");
		CHECK(ev.cache_used && ev.cache_lookups == 50, "cache read");
		CHECK(!strcmp(ev.queries_path, "q.fvecs") && !strcmp(ev.index_path, "x.vpi"), "paths");
		memset(&ev, 0, sizeof ev);
		CHECK(vp_evidence_from_json(&ev, "{\"runs\": []}", 12, "r.json", &err) == VP_E_FORMAT &&
		      strstr(err.msg, "r.json: not a vp-bench"), "no schema: %s", err.msg);
		CHECK(vp_evidence_from_json(&ev, "[1,", 3, "r.json", &err) == VP_E_FORMAT, "bad json");
		memset(&ev, 0, sizeof ev);
		static const char v1[] = "{\"schema\": \"vp-bench/1\", \"runs\": "
					 "[{\"recall\": \"x\", \"qps\": -5}]}";
		CHECK(vp_evidence_from_json(&ev, v1, sizeof v1 - 1, "r.json", &err) == 0 &&
		      ev.nruns == 1 && ev.runs[0].recall == 0, "v1, wrong types read as absent");
		/* counts far outside int's range (fuzz_json found the UB) */
		static const char huge[] = "{\"schema\": \"vp-bench/2\", \"runs\": [], \"threads\": 1.5e35,"
					   " \"mode\": \"throughput\", \"index\": {\"params\": {\"M\": 2e46}},"
					   " \"system\": {\"cpus_allowed\": 1e300,"
					   " \"cgroup\": {\"cpus\": 1e40}}}";
		memset(&ev, 0, sizeof ev);
		CHECK(vp_evidence_from_json(&ev, huge, sizeof huge - 1, "r.json", &err) == 0 &&
		      ev.threads == 1000000 && ev.cpus_allowed == 1000000 && ev.cgroup_cpus == 1e6 &&
		      ev.ix.params[VP_P_HNSW_M] == 0, /* out of range: absent, as count() reads it */
		      "huge counts bounded");
		(void)fired();
	}

	/* the Prometheus writer */
	{
		struct vp_metrics m;
		struct vp_hist h;
		char lb[64] = "";
		char dir[] = "/tmp/vpmetrics.XXXXXX", path[128];
		FILE *f;
		char text[4096];
		size_t n;
		DIR *d;
		struct dirent *de;
		int others = 0;

		vp_metrics_label(lb, sizeof lb, "index", "a\"b\\c\nd");
		CHECK(!strcmp(lb, "index=\"a\\\"b\\\\c\\nd\""), "label escaped: %s", lb);
		vp_metrics_label(lb, sizeof lb, "k", "v");
		CHECK(!strcmp(lb, "index=\"a\\\"b\\\\c\\nd\",k=\"v\""), "labels joined: %s", lb);
		memset(&h, 0, sizeof h);
		vp_hist_add(&h, 3);     /* [2, 4) us */
		vp_hist_add(&h, 3.5);
		vp_hist_add(&h, 100);   /* [64, 128) us */
		vp_metrics_init(&m);
		vp_metrics_hist_us(&m, "t_seconds", "help.", NULL, &h, 106.5);
		CHECK(m.buf && strstr(m.buf, "# TYPE t_seconds histogram\n"), "type line");
		CHECK(m.buf && strstr(m.buf, "t_seconds_bucket{le=\"1e-06\"} 0\n") == NULL &&
		      strstr(m.buf, "t_seconds_bucket{le=\"4e-06\"} 2\n") &&
		      strstr(m.buf, "le=\"2e-06\"} 0\n") && strstr(m.buf, "le=\"8e-06\"} 2\n") &&
		      strstr(m.buf, "t_seconds_bucket{le=\"6.4e-05\"} 2\n") &&
		      strstr(m.buf, "t_seconds_bucket{le=\"0.000128\"} 3\n") &&
		      strstr(m.buf, "t_seconds_bucket{le=\"+Inf\"} 3\n") &&
		      strstr(m.buf, "t_seconds_sum 0.0001065\n") && strstr(m.buf, "t_seconds_count 3\n"),
		      "cumulative buckets: %s", m.buf ? m.buf : "");
		vp_metrics_one(&m, "x_total", "counter", "x.", 1e20);
		vp_metrics_one(&m, "y", "gauge", "y.", NAN);
		CHECK(strstr(m.buf, "x_total 1e+20\n") && strstr(m.buf, "y NaN\n"), "values: %s", m.buf);

		CHECK(mkdtemp(dir) != NULL, "temp dir");
		snprintf(path, sizeof path, "%s/vp.prom", dir);
		CHECK(vp_metrics_write(&m, path, &err) == 0, "write: %s", err.msg);
		CHECK(vp_metrics_write(&m, path, &err) == 0, "rewrite: %s", err.msg);
		f = fopen(path, "r");
		n = f ? fread(text, 1, sizeof text - 1, f) : 0;
		text[n] = 0;
		if (f)
			fclose(f);
		CHECK(n == m.len && !memcmp(text, m.buf, n), "file holds what was written");
		if ((d = opendir(dir))) {
			while ((de = readdir(d)))
				others += de->d_name[0] != '.' ? strcmp(de->d_name, "vp.prom") != 0 :
					  (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."));
			closedir(d);
		}
		CHECK(others == 0, "no temporary file left");
		unlink(path);
		rmdir(dir);
		snprintf(path, sizeof path, "%s/vp.prom", dir);
		CHECK(vp_metrics_write(&m, path, &err) == VP_E_IO && strstr(err.msg, path),
		      "missing directory: %s", err.msg);
		vp_metrics_free(&m);
	}
	return check_done("test_rules");
}
