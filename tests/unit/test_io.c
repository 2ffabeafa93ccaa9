/* test_io: vector readers and writers, every malformed-input error. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "vp.h"

static char dir[] = "/tmp/vp_test_io.XXXXXX";

static const char *path(const char *name)
{
	static char p[256];
	snprintf(p, sizeof p, "%s/%s", dir, name);
	return p;
}

static void put(const char *name, const void *data, size_t n)
{
	FILE *f = fopen(path(name), "wb");
	fwrite(data, 1, n, f);
	fclose(f);
}

/* Reads name expecting failure code and a message containing want. */
static void expect_err(const char *name, enum vp_vecfmt fmt, int code, const char *want)
{
	struct vp_error err = { 0 };
	float *x = NULL;
	size_t n;
	uint32_t d;
	int rc = vp_read_all(path(name), fmt, &x, &n, &d, &err);
	CHECK(rc == code, "%s: rc %d, expected %d (%s)", name, rc, code, err.msg);
	CHECK(strstr(err.msg, want) != NULL, "%s: message '%s' lacks '%s'", name, err.msg, want);
	CHECK(strstr(err.msg, name) != NULL, "%s: message '%s' lacks the file name", name, err.msg);
	free(x);
}

int main(void)
{
	struct vp_error err = { 0 };
	float rows[3][4] = { { 1, 2, 3, 4 }, { 5, 6, 7, 8 }, { -1, 0.5f, 0, 9 } };
	float *x;
	int32_t *ids;
	size_t n;
	uint32_t d;
	FILE *f;

	if (!mkdtemp(dir))
		return 2;

	/* round trip fvecs */
	f = fopen(path("a.fvecs"), "wb");
	CHECK(vp_write_fvecs(f, &rows[0][0], 3, 4, &err) == 0, "write fvecs");
	fclose(f);
	CHECK(vp_read_all(path("a.fvecs"), VP_FMT_AUTO, &x, &n, &d, &err) == 0, "read fvecs: %s", err.msg);
	CHECK(n == 3 && d == 4 && !memcmp(x, rows, sizeof rows), "fvecs round trip");
	free(x);

	/* fbin */
	f = fopen(path("a.fbin"), "wb");
	vp_write_fbin_header(f, 3, 4, &err);
	vp_write_raw(f, rows, sizeof rows, &err);
	fclose(f);
	CHECK(vp_read_all(path("a.fbin"), VP_FMT_AUTO, &x, &n, &d, &err) == 0, "read fbin: %s", err.msg);
	CHECK(n == 3 && d == 4 && !memcmp(x, rows, sizeof rows), "fbin round trip");
	free(x);

	/* bvecs and u8bin convert to float */
	{
		unsigned char b[2 * (4 + 3)] = { 3, 0, 0, 0, 1, 2, 255, 3, 0, 0, 0, 0, 7, 9 };
		unsigned char u[8 + 6] = { 2, 0, 0, 0, 3, 0, 0, 0, 1, 2, 255, 0, 7, 9 };
		put("b.bvecs", b, sizeof b);
		CHECK(vp_read_all(path("b.bvecs"), VP_FMT_AUTO, &x, &n, &d, &err) == 0, "bvecs: %s", err.msg);
		CHECK(n == 2 && d == 3 && x[2] == 255.0f && x[5] == 9.0f, "bvecs values");
		free(x);
		put("u.u8bin", u, sizeof u);
		CHECK(vp_read_all(path("u.u8bin"), VP_FMT_AUTO, &x, &n, &d, &err) == 0, "u8bin: %s", err.msg);
		CHECK(n == 2 && d == 3 && x[2] == 255.0f && x[4] == 7.0f, "u8bin values");
		free(x);
	}

	/* ivecs */
	{
		int32_t g[2][2] = { { 5, 7 }, { 1, 2 } };
		f = fopen(path("g.ivecs"), "wb");
		vp_write_ivecs(f, &g[0][0], 2, 2, &err);
		fclose(f);
		CHECK(vp_read_all_ints(path("g.ivecs"), VP_FMT_AUTO, &ids, &n, &d, &err) == 0, "ivecs: %s", err.msg);
		CHECK(n == 2 && d == 2 && ids[1] == 7 && ids[2] == 1, "ivecs values");
		free(ids);
		CHECK(vp_read_all(path("g.ivecs"), VP_FMT_AUTO, &x, &n, &d, &err) == VP_E_FORMAT,
		      "ivecs read as vectors is an error");
	}

	/* malformed inputs */
	{
		unsigned char buf[64];
		int32_t dd;
		float v;
		/* truncated: second record cut short */
		f = fopen(path("t.fvecs"), "wb");
		vp_write_fvecs(f, &rows[0][0], 2, 4, &err);
		fclose(f);
		truncate(path("t.fvecs"), 2 * 20 - 3);
		expect_err("t.fvecs", VP_FMT_AUTO, VP_E_FORMAT, "truncated record at row 1");
		/* inconsistent dimension in row 1 */
		f = fopen(path("m.fvecs"), "wb");
		vp_write_fvecs(f, &rows[0][0], 1, 4, &err);
		vp_write_fvecs(f, &rows[0][0], 1, 3, &err);
		fclose(f);
		expect_err("m.fvecs", VP_FMT_AUTO, VP_E_DIM, "row 1 has dimension 3, expected 4");
		/* zero and absurd dimension */
		dd = 0;
		memcpy(buf, &dd, 4);
		put("z.fvecs", buf, 4);
		expect_err("z.fvecs", VP_FMT_AUTO, VP_E_FORMAT, "invalid dimension 0");
		dd = 1 << 30;
		memcpy(buf, &dd, 4);
		put("h.fvecs", buf, 8);
		expect_err("h.fvecs", VP_FMT_AUTO, VP_E_FORMAT, "invalid dimension");
		/* NaN and infinity */
		dd = 2;
		memcpy(buf, &dd, 4);
		v = 1;
		memcpy(buf + 4, &v, 4);
		v = NAN;
		memcpy(buf + 8, &v, 4);
		put("n.fvecs", buf, 12);
		expect_err("n.fvecs", VP_FMT_AUTO, VP_E_VALUE, "NaN or infinity at row 0, column 1");
		v = INFINITY;
		memcpy(buf + 4, &v, 4);
		put("i.fvecs", buf, 12);
		expect_err("i.fvecs", VP_FMT_AUTO, VP_E_VALUE, "column 0");
		/* fbin whose header disagrees with its size */
		{
			uint32_t h[2] = { 5, 4 };
			memcpy(buf, h, 8);
			memset(buf + 8, 0, 16);
			put("s.fbin", buf, 24);
			expect_err("s.fbin", VP_FMT_AUTO, VP_E_FORMAT, "header says 5 rows");
		}
		/* a stray byte: three bytes, less than a dimension word */
		put("x.fvecs", buf, 3);
		expect_err("x.fvecs", VP_FMT_AUTO, VP_E_FORMAT, "truncated");
	}

	/* empty input: no rows, not an error at this level */
	put("e.fvecs", "", 0);
	CHECK(vp_read_all(path("e.fvecs"), VP_FMT_AUTO, &x, &n, &d, &err) == 0 && n == 0, "empty input");

	/* a stream (stdin through a pipe) in small batches */
	{
		int p[2];
		struct vp_reader r;
		float out[4 * 4];
		long got, total = 0;
		if (pipe(p) == 0) {
			f = fdopen(p[1], "wb");
			vp_write_fvecs(f, &rows[0][0], 3, 4, &err);
			fclose(f);
			dup2(p[0], 0);
			close(p[0]);
			CHECK(vp_reader_open(&r, "-", VP_FMT_AUTO, &err) == 0, "open stdin: %s", err.msg);
			CHECK(r.dim == 4 && r.count == UINT64_MAX, "stream dim known, count unknown");
			while ((got = vp_reader_read(&r, out, 2, &err)) > 0)
				total += got;
			CHECK(got == 0 && total == 3, "stream rows %ld (%s)", total, err.msg);
			CHECK(!strcmp(r.name, "<stdin>"), "stdin name");
			vp_reader_close(&r);
		}
	}

	/* a missing file is an I/O error naming the file */
	CHECK(vp_read_all(path("missing.fvecs"), VP_FMT_AUTO, &x, &n, &d, &err) == VP_E_IO &&
	      strstr(err.msg, "missing.fvecs"), "missing file: %s", err.msg);
	CHECK(vp_vecfmt_parse("u8bin") == VP_FMT_U8BIN && vp_vecfmt_parse("nope") == VP_FMT_AUTO, "format names");

	/* number text: byte for byte what printf writes */
	{
		static const float fixed[] = { 0.0f, -0.0f, 1.0f, -1.0f, 7.5f, 0.1f, 1e-7f,
					       123456789.0f, 999999936.0f, 1e9f, -1e9f, 3e10f,
					       16777217.0f, 1.0f / 3.0f, -2.5e-3f, 65025.0f,
					       INFINITY, -INFINITY, NAN };
		char a[VP_NUM_MAX + 1], b[64];
		int bad = 0;
		uint64_t lcg = 12345;
		for (size_t i = 0; i < sizeof fixed / sizeof *fixed + 200000; i++) {
			float v;
			size_t len;
			if (i < sizeof fixed / sizeof *fixed)
				v = fixed[i];
			else {
				uint32_t u;
				lcg = lcg * 6364136223846793005ull + 1442695040888963407ull;
				u = (uint32_t)(lcg >> 32);
				/* half random bit patterns, half integers of every size */
				if (i % 2)
					memcpy(&v, &u, 4);
				else
					v = (float)(int32_t)(u >> (u % 31));
			}
			len = vp_fmt_g9(a, v);
			a[len] = 0;
			snprintf(b, sizeof b, "%.9g", (double)v);
			if (strcmp(a, b) && bad++ < 5)
				printf("  %%.9g of %a: '%s', not '%s'\n", (double)v, a, b);
		}
		CHECK(bad == 0, "vp_fmt_g9 differs from printf in %d cases", bad);
		bad = 0;
		for (int i = 0; i < 100000; i++) {
			int64_t v = (int64_t)(lcg = lcg * 6364136223846793005ull + 1442695040888963407ull) >> (i % 64);
			size_t len = vp_fmt_i64(a, v);
			a[len] = 0;
			snprintf(b, sizeof b, "%lld", (long long)v);
			bad += strcmp(a, b) != 0;
		}
		a[vp_fmt_i64(a, INT64_MIN)] = 0;
		snprintf(b, sizeof b, "%lld", (long long)INT64_MIN);
		bad += strcmp(a, b) != 0;
		a[vp_fmt_u64(a, UINT64_MAX)] = 0;
		bad += strcmp(a, "18446744073709551615") != 0;
		CHECK(bad == 0, "integer text differs from printf in %d cases", bad);
	}

	{
		char cmd[300];
		snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
		if (system(cmd)) {}
	}
	return check_done("test_io");
}
