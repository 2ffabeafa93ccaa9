/* test_index: the container: round trip, atomic replace, every validation. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "check.h"
#include "vp.h"

static char dir[] = "/tmp/vp_test_index.XXXXXX";
static char target[256];

static int write_index(const char *p, const char *payload)
{
	struct vp_index_writer w;
	struct vp_index_header h = { 0 };
	struct vp_error err = { 0 };
	static float vec[8 * 4];
	struct vp_section_src s[2] = {
		{ "vectors", 0, 4096, vec, sizeof vec },
		{ "extra", 1, 64, payload, strlen(payload) },
	};
	h.dim = 4;
	h.count = 8;
	h.type = VP_TYPE_FLAT;
	h.params[0] = 123;
	if (vp_index_writer_open(&w, p, &err))
		return -1;
	return vp_index_writer_commit(&w, &h, s, 2, &err);
}

static unsigned char *slurp(const char *p, size_t *n)
{
	FILE *f = fopen(p, "rb");
	unsigned char *b;
	struct stat st;
	stat(p, &st);
	*n = (size_t)st.st_size;
	b = malloc(*n);
	if (fread(b, 1, *n, f) != *n) {}
	fclose(f);
	return b;
}

static void spit(const char *p, const void *b, size_t n)
{
	FILE *f = fopen(p, "wb");
	fwrite(b, 1, n, f);
	fclose(f);
}

/* Rewrites the header checksum so a test reaches the check behind it. */
static void reseal(unsigned char *b)
{
	uint64_t x = XXH64(b, 248, 0);
	memcpy(b + 248, &x, 8);
}

static void expect_open(const char *name, const unsigned char *b, size_t n,
			int code, const char *want)
{
	char p[300];
	struct vp_index ix;
	struct vp_error err = { 0 };
	int rc;
	snprintf(p, sizeof p, "%s/%s", dir, name);
	spit(p, b, n);
	rc = vp_index_open(&ix, p, &err);
	CHECK(rc == code, "%s: rc %d, expected %d (%s)", name, rc, code, err.msg);
	CHECK(strstr(err.msg, want) != NULL, "%s: '%s' lacks '%s'", name, err.msg, want);
	CHECK(strstr(err.msg, name) != NULL, "%s: '%s' lacks the file name", name, err.msg);
	if (!rc)
		vp_index_close(&ix);
}

int main(void)
{
	struct vp_index ix;
	struct vp_error err = { 0 };
	unsigned char *orig, *b;
	size_t n;

	if (!mkdtemp(dir))
		return 2;
	snprintf(target, sizeof target, "%s/a.vpi", dir);
	CHECK(write_index(target, "hello") == 0, "write");
	CHECK(vp_index_open(&ix, target, &err) == 0, "open: %s", err.msg);
	CHECK(ix.hdr.dim == 4 && ix.hdr.count == 8 && ix.hdr.params[0] == 123 &&
	      ix.hdr.major == VP_INDEX_MAJOR, "header fields");
	CHECK(ix.nsections == 2 && vp_index_find(&ix, "extra", 1) &&
	      !vp_index_find(&ix, "extra", 0), "sections by name and segment");
	CHECK(vp_index_find(&ix, "vectors", 0)->offset % 4096 == 0, "vectors page-aligned");
	CHECK(vp_index_find(&ix, "extra", 1)->offset % 64 == 0, "sections 64-byte aligned");
	CHECK(!memcmp(vp_index_data(&ix, vp_index_find(&ix, "extra", 1)), "hello", 5), "section bytes");
	CHECK(vp_index_verify(&ix, &err) == 0, "verify clean");
	{
		const void *p;
		CHECK(vp_index_need(&ix, "vectors", 0, 8 * 16, &p, &err) == 0, "need right size");
		CHECK(vp_index_need(&ix, "vectors", 0, 8 * 15, &p, &err) == VP_E_CORRUPT, "need wrong size");
		CHECK(vp_index_need(&ix, "nope", 0, 1, &p, &err) == VP_E_CORRUPT && strstr(err.msg, "missing"),
		      "need missing section");
	}

	/* atomic replace: a reader's mapping keeps the old contents */
	CHECK(write_index(target, "world") == 0, "rewrite");
	CHECK(!memcmp(vp_index_data(&ix, vp_index_find(&ix, "extra", 1)), "hello", 5),
	      "old mapping unchanged by the rebuild");
	vp_index_close(&ix);
	CHECK(vp_index_open(&ix, target, &err) == 0 &&
	      !memcmp(vp_index_data(&ix, vp_index_find(&ix, "extra", 1)), "world", 5), "new contents");
	vp_index_close(&ix);

	/* an aborted writer leaves neither target nor temporary file */
	{
		struct vp_index_writer w;
		char p[300], tmp[300];
		snprintf(p, sizeof p, "%s/never.vpi", dir);
		CHECK(vp_index_writer_open(&w, p, &err) == 0, "writer open");
		snprintf(tmp, sizeof tmp, "%s", w.tmp_path);
		CHECK(access(tmp, F_OK) == 0, "temporary file exists while writing");
		vp_index_writer_abort(&w);
		CHECK(access(tmp, F_OK) != 0 && access(p, F_OK) != 0, "abort cleans up");
		snprintf(p, sizeof p, "%s/no/such/dir/x.vpi", dir);
		CHECK(vp_index_writer_open(&w, p, &err) == VP_E_IO, "unwritable directory");
	}

	/* corruptions */
	orig = slurp(target, &n);
	b = malloc(n);
	memcpy(b, orig, n);
	memcpy(b, "NOTANIDX", 8);
	expect_open("magic.vpi", b, n, VP_E_FORMAT, "not a vp index");
	expect_open("short.vpi", orig, 100, VP_E_FORMAT, "too small");
	memcpy(b, orig, n);
	b[8] = 2;
	expect_open("major.vpi", b, n, VP_E_VERSION, "version 2.0");
	memcpy(b, orig, n);
	b[20] ^= 1;
	expect_open("hdrsum.vpi", b, n, VP_E_CORRUPT, "header checksum");
	expect_open("trunc.vpi", orig, n - 1, VP_E_CORRUPT, "truncated");
	memcpy(b, orig, n);
	b[200] = 1;
	reseal(b);
	expect_open("reserved.vpi", b, n, VP_E_CORRUPT, "reserved");
	memcpy(b, orig, n);
	b[16] = 9;
	reseal(b);
	expect_open("metric.vpi", b, n, VP_E_CORRUPT, "unknown metric");
	memcpy(b, orig, n);
	b[256 + 24] = 0xff; /* first section's length, table checksum now off */
	expect_open("table.vpi", b, n, VP_E_CORRUPT, "table checksum");
	{
		/* a section past the end of the file, with both checksums redone */
		uint64_t x, big = (uint64_t)1 << 40;
		memcpy(b, orig, n);
		memcpy(b + 256 + 24, &big, 8);
		x = XXH64(b + 256, 2 * 64, 0);
		memcpy(b + 176, &x, 8);
		reseal(b);
		expect_open("bounds.vpi", b, n, VP_E_CORRUPT, "out of bounds");
	}
	/* a flipped payload byte opens (cheap check) but fails verify */
	memcpy(b, orig, n);
	b[n - 1] ^= 0x55;
	{
		char p[300];
		snprintf(p, sizeof p, "%s/payload.vpi", dir);
		spit(p, b, n);
		CHECK(vp_index_open(&ix, p, &err) == 0, "payload flip opens");
		CHECK(vp_index_verify(&ix, &err) == VP_E_CORRUPT && strstr(err.msg, "'extra'"),
		      "verify names the section: %s", err.msg);
		vp_index_close(&ix);
	}
	CHECK(vp_index_type_parse("hnsw") == VP_TYPE_HNSW && vp_index_type_parse("x") == -1, "type names");
	free(orig);
	free(b);
	{
		char cmd[300];
		snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
		if (system(cmd)) {}
	}
	return check_done("test_index");
}
