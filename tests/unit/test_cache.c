/* test_cache: L1 LRU, L2 slots at the CLOCK hand, the hash index, damaged
 * slots and headers, and batches through vp_cache_search: a hit is always
 * right. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "vp.h"

#define K 5

/* Keys whose index window (key % 4 with 16 slots) is i % 4 and whose
 * fingerprint differs: four keys a window, none pushed out. */
static uint64_t key_of(uint64_t i)
{
	return (i << 40) + i;
}

static void results_of(uint64_t i, float *d, int64_t *ids)
{
	for (int j = 0; j < K; j++) {
		d[j] = (float)(i * 10 + (uint64_t)j);
		ids[j] = (int64_t)(i * 100 + (uint64_t)j);
	}
}

static void put(struct vp_cache *c, uint64_t i)
{
	float d[K];
	int64_t ids[K];
	results_of(i, d, ids);
	vp_cache_put(c, key_of(i), d, ids);
}

/* 0 miss, 1/2 a right hit, -1 a wrong one */
static int get(struct vp_cache *c, uint64_t i)
{
	float d[K], want_d[K];
	int64_t ids[K], want_i[K];
	int h;
	vp_cache_begin(c);
	h = vp_cache_get(c, key_of(i), d, ids);
	vp_cache_end(c);
	results_of(i, want_d, want_i);
	if (h && (memcmp(d, want_d, sizeof d) || memcmp(ids, want_i, sizeof ids)))
		return -1;
	return h;
}

static int calls;

/* A stand-in search: results from the query's first value. */
static int fake_search(void *ctx, const float *q, size_t nq, float *dist,
		       int64_t *ids, struct vp_error *err)
{
	size_t dim = *(size_t *)ctx;
	(void)err;
	calls++;
	for (size_t i = 0; i < nq; i++)
		results_of((uint64_t)q[i * dim], dist + i * K, ids + i * K);
	return 0;
}

int main(void)
{
	char dir[] = "/tmp/vp_test_cache.XXXXXX", path[200];
	struct vp_cache *c, *c2;
	struct vp_error err = { 0 };
	int wrong = 0, hits = 0;

	if (!mkdtemp(dir))
		return 2;
	snprintf(path, sizeof path, "%s/%s", dir, VP_CACHE_FILE);

	/* 4 entries in memory, 16 slots on disk: both must evict */
	CHECK(vp_cache_open(&c, dir, K, 4, 16, &err) == 0, "open: %s", err.msg);
	CHECK(vp_cache_stats(c)->l2_rebuilds == 1, "a new file is formatted");
	for (uint64_t i = 1; i <= 200; i++) {
		put(c, i);
		if (i % 7 == 0) /* batches of several, and of one */
			CHECK(vp_cache_flush(c, &err) == 0, "flush: %s", err.msg);
	}
	CHECK(vp_cache_flush(c, &err) == 0, "flush: %s", err.msg);
	/* a second process's view: only L2 */
	CHECK(vp_cache_open(&c2, dir, K, 4, 16, &err) == 0, "reopen: %s", err.msg);
	CHECK(vp_cache_stats(c2)->l2_rebuilds == 0, "a good file is kept");
	for (uint64_t i = 1; i <= 200; i++) {
		int h = get(c2, i);
		wrong += h < 0;
		hits += h > 0;
		if (i > 184)
			CHECK(h == 2, "key %llu of the newest 16 is in the file", (unsigned long long)i);
	}
	CHECK(wrong == 0, "%d wrong values in hits", wrong);
	CHECK(hits == 16, "L2 holds its 16 slots (%d hits)", hits);
	/* L1: the last 4 are in memory, the one before them is not */
	CHECK(get(c, 200) == 1, "L1 hit, newest");
	CHECK(get(c, 196) == 2, "evicted from L1, found in L2");

	/* CLOCK: every slot was just read, so a sweep clears the flags and
	 * the next one writes; then a slot read since the hand passed
	 * survives the sweep after */
	for (uint64_t i = 201; i <= 216; i++)
		put(c, i);
	CHECK(vp_cache_flush(c, &err) == 0, "flush: %s", err.msg);
	vp_cache_close(c2);
	CHECK(vp_cache_open(&c2, dir, K, 1, 16, &err) == 0, "reopen: %s", err.msg);
	CHECK(get(c2, 185) == 0 && get(c2, 216) == 2, "all referenced: replaced after a sweep");
	CHECK(get(c2, 201) == 2, "a hit sets the reference flag");
	for (uint64_t i = 217; i <= 226; i++)
		put(c, i);
	CHECK(vp_cache_flush(c, &err) == 0, "flush: %s", err.msg);
	vp_cache_close(c2);
	CHECK(vp_cache_open(&c2, dir, K, 1, 16, &err) == 0, "reopen: %s", err.msg);
	CHECK(get(c2, 201) == 2, "the referenced slot got its second chance");
	CHECK(get(c2, 202) == 0, "the next one did not");
	CHECK(get(c2, 211) == 0 && get(c2, 212) == 2, "slots past the run are untouched");
	CHECK(get(c2, 226) == 2, "the new ones are in");

	/* a damaged slot misses; it never answers wrong */
	{
		int fd = open(path, O_RDWR);
		char junk[64];
		memset(junk, 0x5a, sizeof junk);
		/* the first table's slots start after the header page and the
		 * index pages; damage all of them */
		for (off_t off = 4096; off < 4096 * 2 + 16 * 100; off += 50)
			CHECK(pwrite(fd, junk, 8, off + 4096) == 8, "damage");
		close(fd);
		vp_cache_close(c2);
		CHECK(vp_cache_open(&c2, dir, K, 1, 16, &err) == 0, "reopen: %s", err.msg);
		wrong = 0;
		for (uint64_t i = 1; i <= 226; i++)
			wrong += get(c2, i) < 0;
		CHECK(wrong == 0, "%d wrong answers from a damaged file", wrong);
		vp_cache_close(c2);
	}
	vp_cache_close(c);

	/* batches: repeats inside one searched once, the rest answered */
	{
		size_t dim = 3, n;
		float q[6 * 3] = { 1, 0, 0, 2, 0, 0, 1, 0, 0, 3, 0, 0, 2, 0, 0, 1, 0, 0 };
		float d[6 * K];
		int64_t ids[6 * K];
		const size_t *rows;
		char cmd[300];
		snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
		if (system(cmd)) {}
		CHECK(vp_cache_open(&c, dir, K, 100, 16, &err) == 0, "open: %s", err.msg);
		CHECK(vp_cache_search(c, 7, q, 6, dim, fake_search, &dim, d, ids, &err) == 0, "search");
		rows = vp_cache_searched(c, &n);
		CHECK(calls == 1 && n == 3 && rows[0] == 0 && rows[1] == 1 && rows[2] == 3,
		      "three distinct queries searched in one call (%d calls, %zu)", calls, n);
		CHECK(ids[2 * K] == 100 && ids[4 * K] == 200 && ids[5 * K + 4] == 104 &&
		      d[3 * K + 1] == 31.0f, "every row answered");
		CHECK(vp_cache_stats(c)->l1_hits == 3 && vp_cache_stats(c)->lookups == 6,
		      "repeats count as memory hits");
		CHECK(vp_cache_search(c, 7, q, 6, dim, fake_search, &dim, d, ids, &err) == 0 &&
		      calls == 1 && vp_cache_searched(c, &n) && n == 0, "all hits: no search");
		CHECK(vp_cache_search(c, 8, q, 6, dim, fake_search, &dim, d, ids, &err) == 0 &&
		      calls == 2, "another seed is another key");
		vp_cache_close(c);
		/* the file remembers its lookups and hits */
		CHECK(vp_cache_open(&c, dir, K, 100, 16, &err) == 0, "open: %s", err.msg);
		CHECK(vp_cache_stats(c)->file_lookups == 18 && vp_cache_stats(c)->file_hits == 12,
		      "lifetime counters %llu %llu",
		      (unsigned long long)vp_cache_stats(c)->file_lookups,
		      (unsigned long long)vp_cache_stats(c)->file_hits);
		CHECK(vp_cache_search(c, 8, q, 6, dim, fake_search, &dim, d, ids, &err) == 0 &&
		      calls == 2 && vp_cache_stats(c)->l2_hits == 3, "another process: from the file");
		vp_cache_close(c);
		/* a damaged header: rebuilt */
		{
			int fd = open(path, O_RDWR);
			CHECK(pwrite(fd, "X", 1, 2) == 1, "damage");
			close(fd);
		}
		CHECK(vp_cache_open(&c, dir, K, 100, 16, &err) == 0, "open: %s", err.msg);
		CHECK(vp_cache_stats(c)->l2_rebuilds == 1, "damaged header: rebuilt");
		CHECK(vp_cache_search(c, 8, q, 6, dim, fake_search, &dim, d, ids, &err) == 0 &&
		      calls == 3, "nothing trusted from before");
		vp_cache_close(c);
		/* k over 100: memory only, still right */
		CHECK(vp_cache_open(&c, dir, 101, 100, 16, &err) == 0, "open k=101: %s", err.msg);
		vp_cache_close(c);
		if (system(cmd)) {}
	}
	return check_done("test_cache");
}
