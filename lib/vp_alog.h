/*
 * vp_alog: the access log: per query, which segments and which IVF lists
 * or HNSW entry regions a search touched, for vp-warmup and vp-tune to read.
 *
 * File: a sequence of blocks, each "VPAL" (4 bytes), uint32 raw length,
 * uint32 compressed length, then that many bytes of LZ4 block data.  The raw
 * data is a sequence of records: uint32 query number, uint16 segment,
 * uint16 kind, uint32 count, then count uint32 items.  Kinds:
 *   0 FLAT      the segment only
 *   1 IVF       the lists probed
 *   2 HNSW      (older logs) the level-0 entry region, entry node / 1024
 *   3 HNSW      items[0] a shift s, then the level-0 regions (node >> s)
 *               whose vectors or links the search read, sorted, unique
 *   4 TIME      items[0..1]: Unix time in seconds (low, high 32 bits) of
 *               the records that follow, written once per batch
 *   5 QUERY     the query vector's float bits (vp-search --log-queries)
 *   6 ROWS      the stored rows (a segment's row numbers, in the order
 *               the file keeps them) whose float vectors the search read
 *               one by one: what an IVF_FLAT screen scored, what a coded
 *               HNSW walk or a SCANN / IVF_PQ refine re-ranked; at most
 *               VP_TRACE_ROWS a query.  The rest of such a search reads
 *               compact structures (codes, links) that the kinds above
 *               name; the rows, most of the file, it reads only here.
 * Readers skip kinds they do not know.  Blocks are appended under an
 * exclusive flock, so concurrent searches may share one log.
 */
#ifndef VP_ALOG_H
#define VP_ALOG_H

#include <stddef.h>
#include <stdint.h>

#include "vp_err.h"

#define VP_ALOG_REGION 1024 /* HNSW nodes per entry region */
#define VP_ALOG_BLOCK (1u << 16)

enum vp_alog_kind {
	VP_ALOG_FLAT = 0, VP_ALOG_IVF = 1, VP_ALOG_HNSW = 2, VP_ALOG_HNSW_REGIONS = 3,
	VP_ALOG_TIME = 4, VP_ALOG_QUERY = 5, VP_ALOG_ROWS = 6,
};

/* A search's trace row (vp_searcher: one a query and segment) ends with
 * room for the rows it read one by one: a count, then up to
 * VP_TRACE_ROWS rows.  The family's own items come first. */
#define VP_TRACE_ROWS 256  /* 64 cut IVF_FLAT's screen (52 a query on
			    * vp-gen 64-d rows, some past 64): a plan of
			    * the log left their pages to fault in */

/* The rows part of the trace row t of stride slots; NULL when t is. */
static inline uint32_t *vp_trace_rows(uint32_t *t, size_t stride)
{
	return t ? t + stride - 1 - VP_TRACE_ROWS : NULL;
}

/* Records row r in the rows part rt (NULL: not tracing); past
 * VP_TRACE_ROWS rows a query, the rest are not recorded. */
static inline void vp_trace_row(uint32_t *rt, uint32_t r)
{
	if (rt && rt[0] < VP_TRACE_ROWS)
		rt[1 + rt[0]++] = r;
}

struct vp_alog {
	int fd;
	unsigned char *buf;
	size_t len;
};

/* Opens path for appending (created if missing).  Returns 0 or VP_E_IO. */
int vp_alog_open(struct vp_alog *a, const char *path, struct vp_error *err);

/* Adds one record; flushes a block when the buffer is full. */
int vp_alog_add(struct vp_alog *a, uint32_t query, uint16_t seg, uint16_t kind,
		const uint32_t *items, uint32_t count, struct vp_error *err);

/* Flushes and closes.  Returns 0 or VP_E_IO. */
int vp_alog_close(struct vp_alog *a, struct vp_error *err);

/* Calls fn for every record of the log at path.  Returns the number of
 * records, or VP_E_FORMAT (naming the offset) / VP_E_IO. */
long vp_alog_read(const char *path,
		  void (*fn)(void *ctx, uint32_t query, uint16_t seg,
			     uint16_t kind, const uint32_t *items, uint32_t count),
		  void *ctx, struct vp_error *err);

#endif
