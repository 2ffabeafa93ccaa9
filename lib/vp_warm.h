/*
 * vp_warm: plan what to bring into memory before traffic, from an access
 * log (vp-search --access-log).
 *
 * An index is cut into units a query may or may not touch: an IVF list
 * (its ids and codes), an HNSW level-0 region (2^shift nodes: their vectors
 * and links), a FLAT segment (all its vectors: every query scans them).
 * Everything else (header, section table, centroids, offsets, upper HNSW
 * levels, quantizer parameters, labels) is small and every query needs it:
 * always planned, first.  Units are ranked by heat under a strategy and
 * taken in that order while they fit the budget; the plan is their byte
 * ranges, merged and in file order, so the disk reads sequentially.  An
 * HNSW region brings in the whole aligned grains around it (opts.grain),
 * when they fit: fewer, larger reads, now and at later faults.
 *
 * Strategies:
 *   frequency    accesses counted
 *   recency      accesses weighted 0.5^(age / half-life); with a time of day
 *                (at_minute), only accesses within an hour of it count, so a
 *                cron job can warm for a daily peak
 *   correlation  the most frequent units for half the budget, then the
 *                units most often touched by the same queries as those
 *                (co-access: what follows a hot unit), so the queries that
 *                touch the hot part are served whole
 *   all          frequency and recency summed (each scaled to 1), then
 *                co-access as in correlation
 */
#ifndef VP_WARM_H
#define VP_WARM_H

#include <stddef.h>
#include <stdint.h>

#include "vp_err.h"
#include "vp_search.h"

enum vp_warm_strategy {
	VP_WARM_FREQUENCY = 0, VP_WARM_RECENCY = 1, VP_WARM_CORRELATION = 2, VP_WARM_ALL = 3,
};

/* "frequency", ...; -1 otherwise. */
int vp_warm_strategy_parse(const char *s);
const char *vp_warm_strategy_name(int s);

/* Parses a budget: bytes with an optional K, M, G suffix (powers of 1024),
 * or a percentage of size ("50%").  Returns 0 or VP_E_ARG. */
int vp_warm_budget_parse(const char *s, uint64_t size, uint64_t *bytes, struct vp_error *err);

struct vp_warm_opts {
	int strategy;
	uint64_t budget;      /* bytes; UINT64_MAX: every unit the log touched */
	double half_life;     /* seconds (recency) */
	int at_minute;        /* minute of the day, UTC, or -1 */
	uint64_t now;         /* Unix seconds, the age reference */
	uint64_t grain;       /* bytes: an HNSW region brings in the whole
			       * grains around it (0: pages) */
};

/* The default grain.  A fault in a half-warm file reads the holes around it
 * one request each, and a warm-up reads one request a range; where a
 * request costs much more than its bytes (virtual disks), planning hot
 * HNSW regions in 64 KB grains pays: measured (Fashion-MNIST, 50% plan,
 * first 1000 queries of another draw, virtio disk) p99 1.1-1.3 ms against
 * 2.6-3.2 ms with page grains, the log's hit rate 71% against 81%.  IVF
 * lists and FLAT segments are large already and keep page grains. */
#define VP_WARM_GRAIN_DEFAULT (64u << 10)

void vp_warm_opts_init(struct vp_warm_opts *o);

#define VP_WARM_KINDS 7 /* unit kinds: enum vp_alog_kind up to VP_ALOG_ROWS */

struct vp_warm_range {
	uint64_t off, len;
};

struct vp_warm_unit {
	uint16_t seg, kind;   /* kind: VP_ALOG_FLAT, VP_ALOG_IVF, VP_ALOG_HNSW_REGIONS */
	uint32_t item;        /* list, or region */
	uint64_t bytes;
	double score;
};

struct vp_warm_plan {
	struct vp_warm_range *ranges;  /* merged, page-aligned, in file order */
	size_t nranges;
	uint64_t bytes, always_bytes;  /* planned in all, of which always-needed */
	struct vp_warm_unit *units;    /* planned units, in the order chosen */
	size_t nunits, units_total, units_seen;
	/* of those, per kind (VP_ALOG_FLAT .. VP_ALOG_ROWS: pages of rows) */
	size_t kind_total[VP_WARM_KINDS], kind_seen[VP_WARM_KINDS];
	uint64_t accesses, accesses_covered;  /* unit accesses in the log */
	uint64_t queries, queries_covered;    /* queries whose units are all planned */
	uint64_t records;
	int timed;                            /* the log had TIME records */
};

/* Plans from the log at logpath for the opened index s.  Returns 0, or
 * VP_E_FORMAT / VP_E_IO (the log), VP_E_NOMEM. */
int vp_warm_plan(const struct vp_searcher *s, const char *logpath,
		 const struct vp_warm_opts *o, struct vp_warm_plan *p, struct vp_error *err);

void vp_warm_plan_free(struct vp_warm_plan *p);

/* A plan kept for later (vp-warmup --save-plan, --plan): the planning,
 * which reads the whole log, done ahead (by cron, after the day's log),
 * so that the warm-up before traffic reads only the ranges, as
 * PostgreSQL's autoprewarm keeps its block list.  The file is text:
 *   vp-warmup plan 1
 *   index SIZE HASH       the index's size and header checksum (hex)
 *   ranges N bytes B always A
 *   OFF LEN               N lines, in file order
 * written atomically next to path.  Only the ranges and byte counts
 * travel; the units and log figures do not.  Returns 0 or VP_E_IO. */
int vp_warm_plan_save(const struct vp_warm_plan *p, const struct vp_index *ix,
		      const char *path, struct vp_error *err);

/* Reads a plan saved for ix.  VP_E_FORMAT naming path and line for a
 * malformed file or ranges out of order or past the file, and for a plan
 * of another index (rebuilt since: plan again); VP_E_IO, VP_E_NOMEM. */
int vp_warm_plan_load(const struct vp_index *ix, const char *path, struct vp_warm_plan *p,
		      struct vp_error *err);

/* The heat of one segment in a log, for vp_edit_relayout: of each stored
 * row (VP_ALOG_ROWS: a segment's row numbers in the order the file keeps
 * them) and of each IVF list probed (VP_ALOG_IVF); NULL where the log
 * names none. */
struct vp_heat {
	double *rows;   /* the segment's count rows */
	double *lists;  /* IVF: its nlist lists */
};

/* The heat of every segment of s in the log at logpath under o's strategy
 * and recency (co-access aside): *heat gets s->nseg of them (malloc'd);
 * *accesses the row and list accesses counted.  Returns 0, or
 * VP_E_FORMAT / VP_E_IO (the log), VP_E_NOMEM. */
int vp_warm_heat(const struct vp_searcher *s, const char *logpath,
		 const struct vp_warm_opts *o, struct vp_heat **heat, uint64_t *accesses,
		 struct vp_error *err);
void vp_warm_heat_free(const struct vp_searcher *s, struct vp_heat *heat);

/* The most frequent query vectors of a log (vp-search --log-queries): up
 * to top distinct vectors of dimension dim, most frequent first (ties: the
 * first seen), into *out (malloc'd, *n rows); *distinct and *logged say how
 * many there were.  Vectors of another dimension are skipped.  Returns 0,
 * or VP_E_FORMAT / VP_E_IO (the log), VP_E_NOMEM. */
int vp_warm_top_queries(const char *logpath, uint32_t dim, size_t top, float **out,
			size_t *n, size_t *distinct, size_t *logged, struct vp_error *err);

#endif
