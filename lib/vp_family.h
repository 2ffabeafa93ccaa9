/*
 * vp_family: an index family as a row of operations.
 *
 * Everything that differs between index types -- what a build writes, how
 * a segment is validated on open and searched, what a filtered search
 * costs, what a query's access trace records, which search parameter
 * trades recall for speed, and how vp-tune explores the family -- is a
 * function or a value in one row of this table.  vp_build.c, vp_search.c,
 * vp_tune.c and the programs look the row up by type and never switch on
 * it.  Each family lives in its own files (vp_fam_flat.c, vp_fam_ivf.c for
 * IVF_FLAT, IVF_SQ8, IVF_PQ and SCANN, vp_fam_hnsw.c); adding one is its files,
 * its row in vp_family.c and, if it keeps a view of its own, a member of
 * struct vp_segment.  The pattern is FAISS's Index interface and
 * PostgreSQL's IndexAmRoutine (pgvector's access methods).
 */
#ifndef VP_FAMILY_H
#define VP_FAMILY_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "vp_err.h"
#include "vp_filter.h"
#include "vp_params.h"

struct vp_build_opts;
struct vp_index;
struct vp_searcher;
struct vp_segment;
struct vp_plan_est;
struct vp_tune_cand;
struct vp_tune_opts;
struct vp_tune_result;
struct vp_datastats;
struct vp_sections;

/* One segment to build: its rows (normalised already for cosine) and the
 * way to add sections to the file being written. */
struct vp_family_build {
	float *data;
	size_t n;
	uint32_t dim, seg;
	const struct vp_build_opts *o;
	/* adds a section; owned ones are freed when the build ends (also on
	 * failure).  Returns 0 or VP_E_NOMEM. */
	int (*add)(void *ctx, const char *name, uint32_t seg, uint32_t align,
		   const void *data, uint64_t len, int owned);
	void *ctx;
	int64_t *params; /* the header's: a build may resolve some (PQ m) */
	/* a family that stores the rows in another order (for locality)
	 * moves them in data itself and sets order: for each stored row, its
	 * row in the input (malloc'd; the build writes it as "row_ids" and
	 * moves the labels to match).  NULL: input order. */
	uint32_t *order;
};

/* vp-warmup's units of one segment (the items its access trace names),
 * each as up to VP_FAMILY_UNIT_RANGES byte ranges of the mapping; and
 * what the family says about them all: their count, the shift that turns
 * a row into its item (HNSW regions of 2^shift rows; 0 otherwise), and the
 * extents of the file they cover (the rest is what every query needs). */
#define VP_FAMILY_UNIT_RANGES 7
struct vp_family_unit {
	const void *p[VP_FAMILY_UNIT_RANGES];
	uint64_t len[VP_FAMILY_UNIT_RANGES];
};
struct vp_family_units {
	size_t n;
	uint32_t shift;
	const void *ext[VP_FAMILY_UNIT_RANGES];
	uint64_t extlen[VP_FAMILY_UNIT_RANGES];
	/* a search that reads its rows one by one (and logs them,
	 * VP_ALOG_ROWS): where the rows are, and which of a unit's ranges
	 * holds a unit's rows (rows_range), so that a log with rows plans
	 * them apart from the unit's compact part.  rows_range -1 with rows
	 * set: no unit holds them (IVF_PQ's and SCANN's refine rows, one of
	 * the extents); a log without rows then plans them with what every
	 * query needs, as the rest outside the units */
	const void *rows;
	uint64_t rowbytes, nrows;
	int rows_range;
	/* a unit whose rows are two runs: the other one's range (else -1),
	 * and where each logged row is among the rows (NULL: row i is the
	 * i-th; IVF_FLAT laid out by a log, vp_ivf.h) */
	int rows_range2;
	const uint32_t *rowpos;
};

struct vp_heat; /* vp_warm.h */

struct vp_family {
	int type;          /* enum vp_index_type */
	const char *name;  /* "HNSW" */
	const char *unit;  /* what a search walks: "graph", "lists", "scan" */
	int gemm;          /* searched with the exact-search GEMM (vp_gemm) */

	/* build: a "vectors" section of the float rows is written first
	 * when keeps_vectors (prefilter, exact re-rank); then build adds the
	 * family's sections of one segment.  resolve turns build parameters
	 * into what is recorded in the header (auto values), may be NULL. */
	int keeps_vectors;
	int moves_rows;    /* build reorders the rows in place (sets order) */
	int (*build)(struct vp_family_build *b, struct vp_error *err);
	void (*resolve)(int64_t *params, uint32_t dim);

	/* search: open validates segment seg's sections (a hostile file is
	 * VP_E_CORRUPT, never a wild read) and sets its view; close frees
	 * what open and search allocated.  search answers nq queries (fc
	 * NULL: unfiltered; plan and wide as chosen by the planner). */
	int (*open)(struct vp_searcher *s, uint32_t seg, struct vp_error *err);
	void (*close)(struct vp_segment *g);
	int (*search)(struct vp_searcher *s, struct vp_segment *g, const float *q,
		      size_t nq, size_t k, const struct vp_param_set *ps, int threads,
		      const struct vp_fctx *fc, int plan, int64_t wide, float *dist,
		      int64_t *ids, struct vp_error *err);
	/* queries per thread whose search sizes every pool (preallocate) */
	size_t warm_queries;

	/* filtered search: the family's own plans (est[VP_PLAN_INDEX],
	 * est[VP_PLAN_WIDE]) given the selectivity and the measured costs of
	 * a distance and a filter check; NULL: prefilter only.  The
	 * prefilter plan's recall: 1 when the exact originals are kept. */
	void (*plan)(struct vp_searcher *s, const struct vp_filter *f, size_t k,
		     const struct vp_param_set *ps, double sel, double cost_dist,
		     double cost_filter, struct vp_plan_est *est);
	double prefilter_recall;

	/* access trace (vp-search --access-log): the kind of item recorded
	 * (enum vp_alog_kind; 0: none, the segment itself) and per query the
	 * room needed; attach hands the buffer to the family's pool. */
	uint16_t trace_kind;
	size_t (*trace_stride)(const struct vp_segment *g);
	void (*trace_attach)(struct vp_segment *g, uint32_t *trace, size_t stride);

	/* vp-warmup: fills info for segment g and, when u is not NULL, its
	 * info->n units */
	void (*warm_units)(const struct vp_searcher *s, size_t g,
			   struct vp_family_units *info, struct vp_family_unit *u);

	/* compaction (vp_edit): originals fills the float rows of segment g
	 * by offset into out (count x dim) when they are not in g->vectors,
	 * and returns VP_E_UNSUPP when the family keeps none (NULL: they
	 * are in g->vectors, by row).  compact, when not NULL, writes the
	 * family's sections of segment g with only its live rows (keep[off]
	 * their new offsets, UINT32_MAX for deleted ones; nlive of them) as
	 * segment seg, instead of a rebuild, when at most compact_max_dead
	 * of the segment's rows are deleted; *rows gets (malloc'd) each new
	 * row's old row when the family stores rows in an order of its own
	 * (the caller writes "row_ids" and the labels from it), else NULL
	 * (rows by offset).  heat, when not NULL, is g's heat in an access
	 * log (vp_warm_heat): lay the rows out so that those traffic reads
	 * come first (vp_edit_relayout); a family whose relayout is 0 is
	 * never given one. */
	int (*originals)(const struct vp_searcher *s, size_t g, float *out,
			 struct vp_error *err);
	int (*compact)(const struct vp_searcher *s, size_t g, const uint32_t *keep,
		       uint64_t nlive, uint32_t seg, int threads, const struct vp_heat *heat,
		       struct vp_sections *out, uint32_t **rows, struct vp_error *err);
	double compact_max_dead;
	int relayout;  /* compact lays rows out by heat */

	/* the search parameter that trades recall for speed (vp-tune,
	 * vp-diag --check), -1 when none */
	int sweep_param;

	/* vp-diag: lines describing the family's sections, may be NULL */
	void (*describe)(const struct vp_index *ix, FILE *out);

	/* vp-tune: add the family's candidates (vp_tune_add_cand) with the
	 * reasons for their ranges; the build parameters of candidate c on a
	 * sample of scale x the rows (scale <= 1); the values its sweep
	 * tries, ascending, and whether one applies to the index s; the
	 * refine values tried at each (0 only, or multiples of k); how QPS
	 * measured on the sample scales to the full size (1: linear in the
	 * rows scanned; 0: logarithmic, a graph walk).  p1, p2 and p3 name
	 * the candidate's build parameters (NULL: none). */
	void (*tune_candidates)(size_t n, size_t d, const struct vp_datastats *st,
				const struct vp_tune_opts *o, struct vp_tune_result *res);
	void (*tune_build)(const struct vp_tune_cand *c, double scale,
			   struct vp_param_set *bp);
	const int64_t *sweep_values;
	int nsweep;
	int (*sweep_ok)(const struct vp_searcher *s, int64_t v, size_t k);
	const int64_t *refine_k;  /* multiples of k; NULL: refine 0 only */
	int nrefine;
	int refine_param;         /* the parameter they set: refine, reorder_k */
	int linear_qps;
	const char *p1, *p2, *p3;
};

/* The row of an index type, or NULL for an unknown type. */
const struct vp_family *vp_family_of(int type);

/* Every row, for listings (help, man pages, tests). */
extern const struct vp_family *const vp_families[];
extern const size_t vp_nfamilies;

/* The rows themselves, defined in the family files. */
extern const struct vp_family vp_family_flat;
extern const struct vp_family vp_family_ivf_flat;
extern const struct vp_family vp_family_ivf_sq8;
extern const struct vp_family vp_family_ivf_pq;
extern const struct vp_family vp_family_hnsw;
extern const struct vp_family vp_family_scann;

#endif
