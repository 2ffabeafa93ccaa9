/* test_cache: L1 LRU and L2 slots under eviction: a hit is always right. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "vp.h"

int main(void)
{
	char dir[] = "/tmp/vp_test_cache.XXXXXX";
	struct vp_cache *c, *c2;
	struct vp_error err = { 0 };
	float d[5], got_d[5];
	int64_t ids[5], got_i[5];
	int wrong = 0, hits = 0;

	if (!mkdtemp(dir))
		return 2;
	/* 4 entries in memory, 16 slots on disk: both must evict */
	CHECK(vp_cache_open(&c, dir, 4, 16, &err) == 0, "open: %s", err.msg);
	for (uint64_t key = 1; key <= 200; key++) {
		for (int j = 0; j < 5; j++) {
			d[j] = (float)(key * 10 + (uint64_t)j);
			ids[j] = (int64_t)(key * 100 + (uint64_t)j);
		}
		vp_cache_begin(c, 1);
		vp_cache_put(c, key, 5, d, ids);
		vp_cache_end(c);
	}
	/* a second process view: only L2 */
	CHECK(vp_cache_open(&c2, dir, 4, 16, &err) == 0, "reopen: %s", err.msg);
	for (uint64_t key = 1; key <= 200; key++) {
		int h;
		vp_cache_begin(c2, 0);
		h = vp_cache_get(c2, key, 5, got_d, got_i);
		vp_cache_end(c2);
		if (h) {
			hits++;
			for (int j = 0; j < 5; j++)
				wrong += got_d[j] != (float)(key * 10 + (uint64_t)j) ||
					 got_i[j] != (int64_t)(key * 100 + (uint64_t)j);
		}
	}
	CHECK(wrong == 0, "%d wrong values in hits", wrong);
	CHECK(hits > 0 && hits <= 16, "L2 holds at most its 16 slots (%d hits)", hits);
	/* L1: the last 4 are in memory, the first is not */
	vp_cache_begin(c, 0);
	CHECK(vp_cache_get(c, 200, 5, got_d, got_i) == 1 && got_i[0] == 20000, "L1 hit, newest");
	CHECK(vp_cache_get(c, 1, 5, got_d, got_i) != 1, "L1 evicted the oldest");
	CHECK(vp_cache_get(c, 200, 4, got_d, got_i) == 0, "another k is another entry");
	vp_cache_end(c);
	CHECK(vp_cache_stats(c)->inserts == 200, "inserts counted");
	vp_cache_close(c);
	vp_cache_close(c2);
	{
		char cmd[300];
		snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
		if (system(cmd)) {}
	}
	return check_done("test_cache");
}
