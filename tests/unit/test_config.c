/* test_config: vp.yaml parsing, every kind of error, and the round trip. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "vp.h"

static int parse(const char *text, struct vp_config *c, struct vp_error *err)
{
	vp_config_init(c);
	return vp_config_parse(c, text, strlen(text), "t.yaml", err);
}

int main(void)
{
	struct vp_config c;
	struct vp_error err = { 0 };
	const char *good =
		"index:\n  type: HNSW\n  metric: cosine\n  M: 24\n  efConstruction: 100\n"
		"  segment_size: 5000\n"
		"search:\n  k: 5\n  ef: 80\n  batch: 100\n  threads: 2\n  cache_dir: /tmp/c\n"
		"hardware:\n  threads: 4\n  cpus: \"0-3\"\n"
		"tune:\n  target_recall: 0.95\n  recall: 0.97\n  qps: 1234.5\n  objective: qps\n";

	CHECK(parse(good, &c, &err) == 0, "valid config: %s", err.msg);
	CHECK(c.type == VP_TYPE_HNSW && c.metric == VP_METRIC_COSINE, "type and metric");
	CHECK(c.params.val[VP_P_HNSW_M] == 24 && c.params.val[VP_P_EFC] == 100 &&
	      c.params.val[VP_P_EF] == 80 && (c.params.set & (1u << VP_P_EF)), "parameters");
	CHECK(c.k == 5 && c.batch == 100 && c.search_threads == 2 && c.threads == 4 &&
	      c.segment_size == 5000 && !strcmp(c.cpus, "0-3") && !strcmp(c.cache_dir, "/tmp/c"),
	      "search and hardware");
	CHECK(c.has_tune && c.target_recall == 0.95 && c.qps == 1234.5, "tune section");

	/* written and read back: the same */
	{
		char *buf = NULL;
		size_t len = 0;
		struct vp_config c2;
		FILE *f = open_memstream(&buf, &len);
		CHECK(vp_config_write(&c, f, &err) == 0, "write");
		fclose(f);
		CHECK(vp_config_parse((vp_config_init(&c2), &c2), buf, len, "w.yaml", &err) == 0,
		      "round trip parses: %s\n%s", err.msg, buf);
		CHECK(c2.type == c.type && c2.params.val[VP_P_EF] == 80 && c2.k == 5 &&
		      c2.threads == 4 && c2.target_recall == 0.95, "round trip values");
		free(buf);
	}

	/* empty file: nothing set */
	CHECK(parse("", &c, &err) == 0 && c.type == 0 && c.k == VP_K_DEFAULT, "empty config");

	/* every kind of error names line and column */
	static const struct { const char *text, *want; } bad[] = {
		{ "index:\n  typo: 3\n", "t.yaml:2:3: unknown key 'typo'" },
		{ "indx:\n  type: FLAT\n", "t.yaml:1:1: unknown section 'indx'" },
		{ "index:\n  type: BTREE\n", "t.yaml:2:9: unknown index type 'BTREE'" },
		{ "index:\n  type: HNSW\n  M: many\n", "t.yaml:3:6: 'M' must be an integer" },
		{ "index:\n  type: HNSW\n  M: 1000\n", "t.yaml:3:6: 'M' is out of range (2..128)" },
		{ "index:\n  type: HNSW\n  nlist: 10\n", "t.yaml:3:10: 'nlist' does not apply to HNSW indexes" },
		{ "index:\n  type: HNSW\nsearch:\n  nprobe: 4\n", "t.yaml:4:11: 'nprobe' does not apply to HNSW" },
		{ "search:\n  ef: 0\n", "t.yaml:2:7: 'ef' is out of range" },
		{ "search:\n  efConstruction: 10\n", "unknown key 'efConstruction'" },
		{ "index:\n  metric: hamming\n", "'metric' must be l2, ip or cosine" },
		{ "search:\n  k: [1, 2]\n", "'k' must be an integer" },
		{ "hardware:\n  gpus: 2\n", "unknown key 'gpus' in section 'hardware'" },
		{ "tune:\n  target_recall: 1.5\n", "'target_recall' is out of range" },
		{ "index: [1, 2]\n", "section 'index' must be a mapping" },
		{ "- a\n- b\n", "t.yaml:1:1: expected a mapping" },
		{ "index:\n  type: FLAT\n bad indent: 1\n", "t.yaml:3:" },
		{ "index: {type: FLAT\n", "t.yaml:" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		int rc = parse(bad[i].text, &c, &err);
		CHECK(rc == VP_E_FORMAT && strstr(err.msg, bad[i].want),
		      "case %zu: rc %d, '%s' lacks '%s'", i, rc, err.msg, bad[i].want);
	}
	CHECK(vp_config_load(&c, "/nonexistent/vp.yaml", &err) == VP_E_IO &&
	      strstr(err.msg, "/nonexistent/vp.yaml"), "missing file");
	return check_done("test_config");
}
