/*
 * vp_cache: a result cache for repeated queries.
 *
 * Keys are xxHash64 of a query's bytes seeded with what its answer depends
 * on (vp_searcher_cache_seed: the index's header checksum, k, the search
 * parameters, the filter and plan), so a rebuilt index, which has a new
 * header checksum, can never be answered from old entries.
 *
 * Two levels: L1, an in-memory LRU for one run; L2, a file of fixed size in
 * a directory, mapped read-only and shared by every process that uses it.
 * L2 holds two tables, one of slots for k <= 16 results and a smaller one
 * for k <= VP_CACHE_KMAX.  New entries are written in order at a CLOCK hand
 * (a referenced slot gets a second chance and is kept), so a batch of
 * stores is one sequential write, not a page per store; a hash index of
 * 8-entry windows (one cache line) finds a key's slot.  The header and each
 * slot carry an xxHash64: a damaged file is detected and rebuilt, a damaged
 * slot never answers.  Readers hold a shared flock, writers an exclusive
 * one, once per batch.
 */
#ifndef VP_CACHE_H
#define VP_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "vp_err.h"

#define VP_CACHE_KMAX 100               /* results above this k stay in L1 */
#define VP_CACHE_L1_DEFAULT 65536       /* entries */
#define VP_CACHE_L1_MAX_BYTES (256u << 20)
/* slots for k <= 16 (1/8 as many for k <= 100); fixed when the file is made */
#define VP_CACHE_L2_SLOTS_DEFAULT 65536
#define VP_CACHE_L2_SLOTS_MIN 16
#define VP_CACHE_L2_SLOTS_MAX (1 << 22)
#define VP_CACHE_FILE "vp-cache.bin"

struct vp_cache_stats {
	uint64_t lookups, l1_hits, l2_hits, inserts, l2_rebuilds;
	uint64_t l3_lookups, l3_hits;   /* misses of L1 and L2 asked of L3 */
	/* the file's lifetime counters as they were at open */
	uint64_t file_lookups, file_hits;
};

struct vp_cache;

/* Searches nq queries that the cache could not answer; fills nq * k
 * results.  Returns 0 or a negative VP_E_* with err filled. */
typedef int (*vp_cache_search_fn)(void *ctx, const float *q, size_t nq,
				  float *dist, int64_t *ids, struct vp_error *err);

/* Opens a cache for results of k neighbours: an L1 of up to l1_entries
 * (capped at VP_CACHE_L1_MAX_BYTES), and DIR/vp-cache.bin, created (or,
 * when damaged or foreign, rebuilt) with l2_slots slots.  DIR is made if
 * missing.  Returns 0, or VP_E_IO / VP_E_NOMEM with err filled. */
int vp_cache_open(struct vp_cache **c, const char *dir, size_t k,
		  size_t l1_entries, size_t l2_slots, struct vp_error *err);

/* Answers nq queries of dimension dim: hits from L1 or L2, repeats within
 * the batch once, the rest through fn (one call, so it can run them in
 * parallel), whose results are then stored.  seed: what the answers depend
 * on besides the query.  Returns 0 or fn's error. */
int vp_cache_search(struct vp_cache *c, uint64_t seed, const float *q,
		    size_t nq, size_t dim, vp_cache_search_fn fn, void *ctx,
		    float *dist, int64_t *ids, struct vp_error *err);

/* The rows of the last vp_cache_search batch that fn searched, in the
 * order fn saw them; *n their count. */
const size_t *vp_cache_searched(const struct vp_cache *c, size_t *n);

/* Adds a third level (vp_l3, borrowed: close it after the cache): what L1
 * and L2 miss is asked of it, one round trip a batch, and what is searched
 * is stored in it.  Lookup order L1, L2, L3, then the search; a hit at a
 * lower level fills the levels above. */
struct vp_l3;
void vp_cache_set_l3(struct vp_cache *c, struct vp_l3 *l3);

/* The pieces vp_cache_search is made of.  vp_cache_get looks key up
 * (between vp_cache_begin and vp_cache_end, which hold the file's shared
 * lock) and on a hit copies k results and returns 1 (L1) or 2 (L2); 0 on
 * a miss.  vp_cache_put keeps results in L1 and queues them for L2;
 * vp_cache_flush writes the queue under the exclusive lock and returns 0,
 * or VP_E_IO (a full disk, say), after which the file is no longer
 * written. */
void vp_cache_begin(struct vp_cache *c);
void vp_cache_end(struct vp_cache *c);
int vp_cache_get(struct vp_cache *c, uint64_t key, float *dist, int64_t *ids);
void vp_cache_put(struct vp_cache *c, uint64_t key, const float *dist,
		  const int64_t *ids);
int vp_cache_flush(struct vp_cache *c, struct vp_error *err);

/* NULL, or why the file stopped being written (the first error). */
const char *vp_cache_error(const struct vp_cache *c);

const struct vp_cache_stats *vp_cache_stats(const struct vp_cache *c);

/* Estimated microseconds to answer one query of dimension dim from the
 * cache (hashing it and probing), measured once per process. */
double vp_cache_lookup_us(size_t dim);

/* Flushes what is queued, adds this run's lookups and hits to the file's
 * lifetime counters and frees c. */
void vp_cache_close(struct vp_cache *c);

#endif
