/* test_misc: parameters, statistics, JSON, the generator, error codes, a file's residency. */
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "check.h"
#include "vp.h"

int main(void)
{
	struct vp_error err = { 0 };
	struct vp_param_set ps;
	int64_t v;

	/* parameters: table-driven cases */
	static const struct { const char *kv; int type, stage, rc; } pcases[] = {
		{ "ef=100", VP_TYPE_HNSW, VP_STAGE_SEARCH, 0 },
		{ "ef=0", VP_TYPE_HNSW, VP_STAGE_SEARCH, VP_E_ARG },
		{ "ef=100", VP_TYPE_FLAT, VP_STAGE_SEARCH, VP_E_ARG },
		{ "ef=100", VP_TYPE_HNSW, VP_STAGE_BUILD, VP_E_ARG },
		{ "nlist=1k", VP_TYPE_IVF_FLAT, VP_STAGE_BUILD, 0 },
		{ "nlist=abc", VP_TYPE_IVF_FLAT, VP_STAGE_BUILD, VP_E_ARG },
		{ "bogus=1", VP_TYPE_FLAT, VP_STAGE_BUILD, VP_E_ARG },
		{ "nprobe", VP_TYPE_IVF_FLAT, VP_STAGE_SEARCH, VP_E_ARG },
	};
	for (size_t i = 0; i < sizeof pcases / sizeof *pcases; i++) {
		vp_params_defaults(&ps);
		CHECK(vp_params_parse(&ps, pcases[i].kv, pcases[i].type, pcases[i].stage, &err) == pcases[i].rc,
		      "param '%s' (%s)", pcases[i].kv, err.msg);
	}
	vp_params_defaults(&ps);
	vp_params_parse(&ps, "nlist=1k", VP_TYPE_IVF_FLAT, VP_STAGE_BUILD, &err);
	CHECK(ps.val[VP_P_NLIST] == 1000 && (ps.set & (1u << VP_P_NLIST)), "nlist value and set bit");
	CHECK(ps.val[VP_P_EF] == vp_param_defs[VP_P_EF].def, "unset value is the default");
	CHECK(vp_parse_int("12", 0, 100, &v) == 0 && v == 12, "parse int");
	CHECK(vp_parse_int("12x", 0, 100, &v) == VP_E_ARG && vp_parse_int("101", 0, 100, &v) == VP_E_ARG &&
	      vp_parse_int("", 0, 100, &v) == VP_E_ARG, "parse int rejects");

	/* percentiles and recall */
	{
		double s[] = { 1, 2, 3, 4, 5 };
		int64_t ids[] = { 1, 2, 3, 9, 8, 7 };
		int32_t gt[] = { 3, 2, 1, 0, 7, 8, 6, 0 };
		CHECK(vp_percentile(s, 5, 50) == 3 && vp_percentile(s, 5, 0) == 1 &&
		      vp_percentile(s, 5, 100) == 5 && fabs(vp_percentile(s, 5, 90) - 4.6) < 1e-9,
		      "percentiles");
		CHECK(fabs(vp_recall(ids, 2, 3, gt, 4) - 5.0 / 6) < 1e-9, "recall %f", vp_recall(ids, 2, 3, gt, 4));
	}
	{
		struct vp_hist h = { { 0 } };
		vp_hist_add(&h, 0.5);
		vp_hist_add(&h, 1000);
		CHECK(h.count[0] == 1 && vp_hist_edge(0) == 0, "histogram low bucket");
		int b = (int)floor(log2(1000.0) * VP_HIST_SUB) + 1;
		CHECK(h.count[b] == 1 && vp_hist_edge(b) <= 1000 && vp_hist_edge(b + 1) > 1000, "histogram bucket edges");
	}

	/* JSON */
	{
		const char *ok = "{\"runs\": [{\"param\": \"ef=1\\u00e9\", \"qps\": 12.5e1, \"x\": [true, null]}]}";
		struct vp_json *j;
		CHECK(vp_json_parse(ok, strlen(ok), "t.json", &j, &err) == 0, "json parse: %s", err.msg);
		const struct vp_json *r = vp_json_get(j, "runs");
		CHECK(r && r->type == VP_JSON_ARRAY && r->n == 1, "json array");
		CHECK(!strcmp(vp_json_get(&r->items[0], "param")->str, "ef=1\xc3\xa9"), "json string escape");
		CHECK(vp_json_get(&r->items[0], "qps")->num == 125, "json number");
		vp_json_free(j);
		static const char *bad[] = { "{", "[1,]", "{\"a\" 1}", "\"abc", "{} x", "[01x]", "" };
		for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
			j = NULL;
			CHECK(vp_json_parse(bad[i], strlen(bad[i]), "b.json", &j, &err) == VP_E_FORMAT &&
			      strstr(err.msg, "b.json:1:"), "json rejects '%s' (%s)", bad[i], err.msg);
			vp_json_free(j);
		}
		char deep[200];
		memset(deep, '[', sizeof deep);
		CHECK(vp_json_parse(deep, sizeof deep, "d.json", &j, &err) == VP_E_FORMAT, "json depth limit");
	}

	/* generator: deterministic, and row i independent of the batch cut */
	{
		struct vp_gen g = { 16, 4, 0.1f, 0, 99 };
		float a[10 * 16], b[10 * 16];
		vp_gen_rows(&g, 0, 10, a);
		vp_gen_rows(&g, 3, 7, b);
		CHECK(!memcmp(a + 3 * 16, b, 7 * 16 * sizeof(float)), "rows independent of batching");
		g.seed = 100;
		vp_gen_rows(&g, 0, 10, b);
		CHECK(memcmp(a, b, sizeof a), "seed changes the data");
		g.integer = 1;
		vp_gen_rows(&g, 0, 10, b);
		int ok = 1;
		for (int i = 0; i < 160; i++)
			ok &= b[i] == floorf(b[i]) && b[i] >= 0 && b[i] <= 15;
		CHECK(ok, "integer mode in 0..15");
	}

	/* error plumbing */
	CHECK(vp_exit_code(VP_E_ARG) == 2 && vp_exit_code(VP_E_CORRUPT) == 3 &&
	      vp_exit_code(VP_E_IO) == 4 && vp_exit_code(0) == 0, "exit code classes");
	CHECK(vp_seterr(&err, VP_E_DIM, "x %d", 5) == VP_E_DIM && !strcmp(err.msg, "x 5"), "seterr");
	/* residency of a file: the page cache's count (cachestat) agrees
	 * with mincore of a mapping, after a write (all of it) and after
	 * dropping part of it (a file system that keeps pages after
	 * DONTNEED, tmpfs, still has both agree) */
	{
		char path[] = "/tmp/test_misc.XXXXXX";
		int fd = mkstemp(path);
		size_t n = 300 * 4096 + 123, tf = 0, tm = 0;
		unsigned char *buf = calloc(1, n);
		CHECK(fd >= 0 && buf, "temp file");
		if (fd >= 0 && buf) {
			CHECK(write(fd, buf, n) == (ssize_t)n, "write");
			fdatasync(fd);
			posix_fadvise(fd, 4096 * 100, 4096 * 50, POSIX_FADV_DONTNEED);
			long rf = vp_file_resident_pages(fd, n, &tf);
			void *m = mmap(NULL, n, PROT_READ, MAP_SHARED, fd, 0);
			long rm = m == MAP_FAILED ? -2 : vp_resident_pages(m, n, &tm);
			CHECK(tf == 301 && tm == 301, "pages %zu %zu", tf, tm);
			CHECK(rf == rm && rf >= 251 && rf <= 301, "resident %ld (cachestat) %ld (mincore)", rf, rm);
			if (m != MAP_FAILED)
				munmap(m, n);
			CHECK(vp_file_resident_pages(fd, 0, &tf) == 0 && tf == 0, "empty range");
			close(fd);
			unlink(path);
		}
		free(buf);
	}
	return check_done("test_misc");
}
