/* The L2 result-cache file: open (which validates or rebuilds it), look
 * keys up, store and flush.  The input is the file's bytes; the keys looked
 * up come from the same bytes, so the fuzzer can aim them at slots. */
#include "fuzz.h"
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <fcntl.h>

#include "vp_cache.h"

static char dir[64];

static void cleanup(void)
{
	char p[128];
	snprintf(p, sizeof p, "%s/%s", dir, VP_CACHE_FILE);
	unlink(p);
	rmdir(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
	struct vp_cache *c = NULL;
	struct vp_error err = { 0 };
	char path[128];
	float dist[VP_CACHE_KMAX];
	int64_t ids[VP_CACHE_KMAX];
	size_t k = n ? 1 + data[0] % 20 : 10;     /* both slot tables */
	int fd;

	if (!dir[0]) {
		snprintf(dir, sizeof dir, "/dev/shm/vpfuzz-cache.%d", (int)getpid());
		atexit(cleanup);
	}
	mkdir(dir, 0700);
	snprintf(path, sizeof path, "%s/%s", dir, VP_CACHE_FILE);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return 0;
	if (n && write(fd, data, n) != (ssize_t)n) {
		close(fd);
		return 0;
	}
	close(fd);
	if (vp_cache_open(&c, dir, k, 64, VP_CACHE_L2_SLOTS_MIN, &err))
		return 0;
	vp_cache_begin(c);
	for (size_t off = 0; off + 8 <= n && off < 4096; off += 8) {
		uint64_t key;
		memcpy(&key, data + off, 8);
		(void)vp_cache_get(c, key, dist, ids);
	}
	vp_cache_end(c);
	for (size_t i = 0; i < k; i++) {
		dist[i] = (float)i;
		ids[i] = (int64_t)i;
	}
	vp_cache_put(c, 0x9e3779b97f4a7c15ull ^ n, dist, ids);
	(void)vp_cache_flush(c, &err);
	vp_cache_close(c);
	return 0;
}
