/*
 * vp_merge: reading the result streams that vp-search writes (tsv rows
 * "query rank id distance", or json lines {"query":N,"ids":[...],
 * "distances":[...]}) a query at a time, so that vp-merge can k-way merge
 * the top-k lists of several shards into the global top-k.  ivecs results
 * carry no distances and cannot be merged.
 */
#ifndef VP_MERGE_H
#define VP_MERGE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "vp_err.h"

enum vp_rfmt { VP_RFMT_NONE = 0, VP_RFMT_TSV, VP_RFMT_JSON };

struct vp_rstream {
	FILE *f;
	const char *name;
	int fmt;        /* enum vp_rfmt; NONE for an empty stream */
	size_t line;    /* lines read */
	int ended;
	/* the row read ahead (tsv) or the line (json) */
	int have;
	uint64_t q, rank;
	int64_t id;
	float dist;
	void *json;     /* the parsed line read ahead */
	char *buf;
	size_t cap;
	uint64_t groups; /* queries read */
	uint64_t lastq;  /* the last query read */
	size_t maxk;     /* most results seen for one query */
};

/* Binds f (named name in messages) and sniffs its format from the first
 * byte.  Returns 0 (fmt NONE when the stream is empty) or VP_E_FORMAT for
 * what is neither tsv nor json (ivecs results). */
int vp_rstream_open(struct vp_rstream *rs, FILE *f, const char *name,
		    struct vp_error *err);

/* The query number of the next group.  Returns 1, 0 at the end, or a
 * negative VP_E_*. */
int vp_rstream_peek(struct vp_rstream *rs, uint64_t *q, struct vp_error *err);

/* Reads the next group: its query, and its results, ascending, into dist
 * and ids (at most cap; *n gets how many the stream had, which may be
 * more).  Returns 1, 0 at the end, or VP_E_FORMAT naming stream and line
 * (bad row, queries out of order, distances not ascending). */
int vp_rstream_next(struct vp_rstream *rs, uint64_t *q, float *dist, int64_t *ids,
		    size_t cap, size_t *n, struct vp_error *err);

void vp_rstream_release(struct vp_rstream *rs);

#endif
