/*
 * vp_edit: deletes, upserts and compaction of an index file, and the
 * external ids they work on.
 *
 * Every change is a new file written and renamed like a build (readers of
 * the old file are undisturbed).  A delete writes a segment's "tombstones"
 * bitmap; searches treat a deleted row as one that fails a filter (a graph
 * walks through it, lists skip it) so they still return k live rows.  An
 * upsert deletes the ids that are live and appends the new rows under the
 * same ids (section "ids").  Compaction writes the live rows only: a
 * family that keeps its originals (FLAT, HNSW, IVF_PQ) is rebuilt from them
 * into as few segments as the segment size allows; an IVF index keeps its
 * centroids and codes and drops the deleted entries from its lists, unless
 * asked to retrain.  Ids survive all of it.
 */
#ifndef VP_EDIT_H
#define VP_EDIT_H

#include <stddef.h>
#include <stdint.h>

#include "vp_build.h"
#include "vp_err.h"
#include "vp_search.h"

/* Where a live row is: its external id, segment and offset in the segment. */
struct vp_idloc {
	int64_t id;
	uint32_t seg, off;
};

/* Every live row of s, sorted by id (malloc'd).  Returns 0 or VP_E_NOMEM;
 * VP_E_CORRUPT when two live rows share an id. */
int vp_edit_live(const struct vp_searcher *s, struct vp_idloc **out, size_t *n,
		 struct vp_error *err);

/* Live rows of s. */
uint64_t vp_edit_nlive(const struct vp_searcher *s);

/* The id an appended row gets when none is given: one past the largest id
 * the index has ever held (deleted ones included), at least its count. */
int64_t vp_edit_next_id(const struct vp_searcher *s);

/* Checks ids for a build: none negative, none twice.  name names their
 * file in the message.  Returns 0 or VP_E_FORMAT. */
int vp_edit_check_ids(const int64_t *ids, size_t n, const char *name,
		      struct vp_error *err);

/* Deletes ids (n of them) from the index of s through w.  Every id must be
 * live: otherwise VP_E_FORMAT naming the first that is not, and nothing is
 * written.  *deleted gets the count.  Returns 0 or a negative VP_E_*. */
int vp_edit_delete(struct vp_index_writer *w, const struct vp_searcher *s,
		   const int64_t *ids, size_t n, size_t *deleted,
		   struct vp_error *err);

/* Appends the n x dim rows in data (o->ids their ids, or NULL for the
 * next free ones).  upsert: ids that are live are deleted in the same
 * write; otherwise a live id is VP_E_FORMAT (use an upsert).  *replaced
 * gets the rows deleted.  Returns 0 or a negative VP_E_*. */
int vp_edit_append(struct vp_index_writer *w, const struct vp_searcher *s,
		   float *data, size_t n, uint32_t dim, const struct vp_build_opts *o,
		   int upsert, size_t *replaced, struct vp_error *err);

/* Writes the live rows of s only, keeping their ids and labels (o gives
 * threads, seed, segment size and progress).  retrain: an IVF index is
 * rebuilt from its originals (new centroids) instead of keeping its lists'
 * codes; VP_E_UNSUPP for IVF_SQ8, which keeps none.  Returns 0, VP_E_FORMAT
 * when no row is live, or another negative VP_E_*. */
int vp_edit_compact(struct vp_index_writer *w, struct vp_searcher *s,
		    const struct vp_build_opts *o, int retrain, struct vp_error *err);

/* Writes the index of s with each segment laid out by its heat in an
 * access log (heat[g], vp_warm_heat), so that what traffic reads is a few
 * runs of the file, not pages scattered over it: HNSW puts the rows read
 * first, then the rows linked from them (vp_hnsw_reorder); IVF puts the
 * lists probed first and, IVF_FLAT, in each list the rows read together
 * (at its end, or its start: a pair of lists' are one run).
 * The graph, the lists' contents, ids, labels and answers are unchanged;
 * deleted rows are dropped as by a compaction.  VP_E_UNSUPP for FLAT, or
 * an HNSW segment with too many deleted rows to mend.  Returns 0 or a
 * negative VP_E_*. */
struct vp_heat;
int vp_edit_relayout(struct vp_index_writer *w, struct vp_searcher *s,
		     const struct vp_heat *heat, int threads, struct vp_error *err);
/* 0 when the family of s can be laid out, else VP_E_UNSUPP (why). */
int vp_edit_can_relayout(const struct vp_searcher *s, struct vp_error *err);

/* Shards: does the row with id belong to shard i of n?  by_hash: a hash of
 * the id (spreads any id pattern); else id is a row number of the input and
 * its count rows are split in n contiguous parts. */
int vp_shard_has(int64_t id, uint64_t count, uint32_t i, uint32_t n, int by_hash);

#endif
