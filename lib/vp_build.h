/*
 * vp_build: turn vectors into an index file, whatever the type, as one or
 * more segments; and append segments to an existing index without
 * rebuilding it.
 *
 * A segment is a self-contained index of a contiguous range of external ids
 * (section "segment": count, first id, build time).  Appending copies the
 * old sections byte for byte from the old file's mapping and adds new ones;
 * the result is written and renamed like any build, so readers of the old
 * file are undisturbed.
 */
#ifndef VP_BUILD_H
#define VP_BUILD_H

#include <stddef.h>
#include <stdint.h>

#include "vp_err.h"
#include "vp_hnsw.h"
#include "vp_index.h"
#include "vp_params.h"

#define VP_SEGMENT_SIZE_DEFAULT 0 /* 0: one segment for the whole input */
#define VP_SEGMENT_SIZE_MIN 0
#define VP_SEGMENT_SIZE_MAX 4000000000LL

struct vp_build_opts {
	int type;    /* enum vp_index_type */
	int metric;  /* enum vp_metric */
	int threads;
	uint64_t seed;
	uint64_t segment_size; /* rows per segment, 0: one segment */
	struct vp_param_set params;
	vp_progress_fn progress; /* optional, called from one thread */
	void *progress_ctx;
	const char *config_text; /* optional YAML recorded as section "config" */
	const int32_t *labels;   /* optional: one integer attribute per row */
	/* optional: each row's external id (section "ids"); NULL: the rows
	 * take the dense ids from the index's count onwards */
	const int64_t *ids;
	/* append only: per segment of the old index, a tombstone bitmap to
	 * write in place of its old one (vp_edit); NULL entries keep it */
	uint64_t *const *tombstones;
};

/* The "label_hist" section of a segment: labels lo..lo+bins-1 counted
 * (bins 0 when the labels span more than VP_LABEL_HIST_MAX values). */
struct vp_label_hist {
	int32_t lo;
	uint32_t bins;
	/* followed by bins uint64 counts */
};
#define VP_LABEL_HIST_MAX 65536

/* The "segment" section of one segment. */
struct vp_segment_meta {
	uint64_t count;      /* rows */
	uint64_t id_base;    /* external id of the first row */
	uint64_t build_usec; /* time to build this segment */
	uint64_t reserved;   /* zero */
};

/* The sections of a write in progress (a build, an append, a compaction)
 * and the buffers they own. */
struct vp_sections {
	struct vp_section_src *s;
	size_t n, cap;
	void **own;
	size_t nown, owncap;
};

/* Adds a section; an owned buffer is freed by vp_sections_free, also when
 * the add fails.  Returns 0 or VP_E_NOMEM. */
int vp_sections_add(struct vp_sections *ss, const char *name, uint32_t seg,
		    uint32_t align, const void *data, uint64_t len, int owned);
/* Adds segment seg's "labels" (a copy of n) and "label_hist".  Returns 0 or
 * VP_E_NOMEM. */
int vp_sections_labels(struct vp_sections *ss, const int32_t *labels, size_t n,
		       uint32_t seg);
void vp_sections_free(struct vp_sections *ss);

/* Fills o with the defaults: FLAT, l2, 1 thread, VP_SEED_DEFAULT. */
void vp_build_opts_init(struct vp_build_opts *o);

/* Builds an index of the n x dim rows in data (in segments of
 * o->segment_size rows) and commits it through w (temp file + rename).
 * data is the build's to change: normalised in place for cosine, and its
 * rows reordered within each segment by a family that stores them in
 * another order (HNSW; the index maps rows back to ids).  Returns 0 or a
 * negative VP_E_*. */
int vp_build_index(struct vp_index_writer *w, float *data, size_t n,
		   uint32_t dim, const struct vp_build_opts *o,
		   struct vp_error *err);

/* Writes through w the sections of old plus new segments built from the
 * n x dim rows in data, with old's type, metric and build parameters (o
 * gives threads, seed and segment size).  The new rows get the external
 * ids o->ids, or old->hdr.count onwards (vp_edit_append checks ids and
 * picks the next free ones).  With o->tombstones, n may be 0: a delete.
 * Returns 0, VP_E_DIM when the dimensions differ, or another VP_E_*. */
int vp_build_append(struct vp_index_writer *w, const struct vp_index *old,
		    float *data, size_t n, uint32_t dim,
		    const struct vp_build_opts *o, struct vp_error *err);

/* Reads the segments of an index: the number of segments, and their
 * "segment" sections into *metas (malloc'd; an index without them is one
 * segment of every row).  Validates that they cover the ids 0..count-1 in
 * order.  Returns the count of segments or a negative VP_E_*. */
long vp_index_segments(const struct vp_index *ix, struct vp_segment_meta **metas,
		       struct vp_error *err);

#endif
