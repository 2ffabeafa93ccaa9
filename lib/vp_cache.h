/*
 * vp_cache: a result cache for repeated queries.
 *
 * Keys are xxHash64 of (the index's header checksum, the query's bytes, k,
 * the search parameters, the filter and plan), so a rebuilt index, which
 * has a new header checksum, can never be answered from old entries.
 *
 * Two levels: L1, an in-memory LRU for one run; L2, a file of fixed size
 * in a directory, mapped and shared by every process that uses it.  L2 is
 * a table of fixed slots (k up to VP_CACHE_KMAX), CLOCK eviction, each slot
 * and the header guarded by xxHash64; readers take a shared flock, writers
 * an exclusive one.  A damaged file is detected and rebuilt, never trusted.
 */
#ifndef VP_CACHE_H
#define VP_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "vp_err.h"

#define VP_CACHE_KMAX 100          /* results above this k are not kept in L2 */
#define VP_CACHE_L1_DEFAULT 65536  /* entries */
#define VP_CACHE_L2_SLOTS_DEFAULT 65536
#define VP_CACHE_FILE "vp-cache.bin"

struct vp_cache_stats {
	uint64_t lookups, l1_hits, l2_hits, inserts, l2_rebuilds;
};

struct vp_cache;

/* Opens (or creates, or rebuilds when damaged) DIR/vp-cache.bin with
 * l2_slots slots, and an L1 of l1_entries.  Returns 0 or VP_E_IO. */
int vp_cache_open(struct vp_cache **c, const char *dir, size_t l1_entries,
		  size_t l2_slots, struct vp_error *err);

/* Takes the L2 file's lock: shared around lookups, exclusive around
 * stores (one lock per batch, not per query).  vp_cache_end releases it. */
void vp_cache_begin(struct vp_cache *c, int exclusive);
void vp_cache_end(struct vp_cache *c);

/* Looks key up for k results (inside vp_cache_begin); on a hit copies them to dist/ids and returns
 * 1 (L1) or 2 (L2); 0 on a miss. */
int vp_cache_get(struct vp_cache *c, uint64_t key, size_t k, float *dist,
		 int64_t *ids);

/* Stores k results (inside vp_cache_begin(c, 1)) under key in L1 and (when k <= VP_CACHE_KMAX) L2. */
void vp_cache_put(struct vp_cache *c, uint64_t key, size_t k,
		  const float *dist, const int64_t *ids);

const struct vp_cache_stats *vp_cache_stats(const struct vp_cache *c);

void vp_cache_close(struct vp_cache *c);

#endif
