/*
 * vp_search: search an opened index, whatever its type and however many
 * segments it has.
 *
 * A searcher owns the mapping of one index file and a view of each
 * segment.  Many processes may open the same file: the mapping is read-only
 * and shared, so the page cache holds one copy.  A query batch is searched
 * in every segment and the per-segment top-k lists are merged; segments
 * hold contiguous ranges of external ids, so ids are stable across appends.
 */
#ifndef VP_SEARCH_H
#define VP_SEARCH_H

#include <stddef.h>
#include <stdint.h>

#include "vp_build.h"
#include "vp_err.h"
#include "vp_filter.h"
#include "vp_flat.h"
#include "vp_hnsw.h"
#include "vp_index.h"
#include "vp_ivf.h"
#include "vp_params.h"

struct vp_segment {
	struct vp_segment_meta meta;
	struct vp_flat flat;
	struct vp_flat_pool pool; /* per-thread scratch, reused across calls */
	struct vp_hnsw hnsw;
	struct vp_hnsw_pool hpool;
	struct vp_ivf ivf;
	struct vp_ivf_pool ipool;
	const int32_t *labels;            /* NULL: no labels */
	const struct vp_label_hist *hist; /* NULL: no histogram */
	const float *vectors;             /* row-major originals, or NULL */
	const uint32_t *rowid;            /* "row_ids": row -> id - id_base, or
					   * NULL when rows are in id order */
	const uint64_t *dead;             /* "tombstones": deleted offsets, or NULL */
	uint64_t ndead;                   /* bits set in dead */
	const int64_t *ext;               /* "ids": offset -> external id, or NULL
					   * when the id is id_base + offset */
	uint32_t *match;                  /* prefilter: rows that pass */
	uint32_t *trace;                  /* access trace of the last batch */
	size_t tcap, tstride;
	int traced;                       /* the last batch filled trace */
};

/* Plans for a filtered search (vp-search --plan NAME). */
enum vp_plan {
	VP_PLAN_AUTO = 0,
	VP_PLAN_INDEX = 1,     /* the index's own search, filter checked inside */
	VP_PLAN_PREFILTER = 2, /* exact scan of only the rows that pass */
	VP_PLAN_WIDE = 3,      /* IVF: nprobe raised by 1/selectivity */
	VP_PLAN_COUNT
};

struct vp_plan_est {
	const char *name;
	int available;
	double cost_us;    /* estimated time per query */
	double recall;     /* expected recall */
	int64_t nprobe;    /* VP_PLAN_WIDE: the widened nprobe */
};

/* Returns the plan for a name ("index", "prefilter", "ivf-wide"), or -1. */
int vp_plan_parse(const char *name);

struct vp_family;

struct vp_searcher {
	struct vp_index ix;
	const struct vp_family *fam; /* the index type's row */
	struct vp_segment *seg;
	size_t nseg;
	float *qbuf; /* normalised copies of cosine queries */
	size_t qcap;
	float *pd;   /* per-segment results before the merge */
	int64_t *pi;
	size_t pcap;
	double cost_dist_us, cost_filter_us; /* calibrated on first plan */
	double label_locality;               /* -1 until measured; see vp_searcher_plan */
	int tracing;                         /* record what each query touched */
};

/* What query i of the last batch touched in segment g: kind (enum
 * vp_alog_kind), and for IVF the lists probed, for HNSW the level-0
 * regions (a shift first).  Returns the item count (0 when nothing was
 * recorded). */
uint32_t vp_searcher_trace(const struct vp_searcher *s, size_t g, size_t i,
			   uint16_t *kind, const uint32_t **items);

/* The stored rows whose floats query i of the last batch read one by one
 * in segment g (VP_ALOG_ROWS: an IVF_FLAT screen's scored rows, a coded
 * HNSW walk's re-ranked candidates).  Returns their count (0: none, or a
 * search that reads its rows otherwise, e.g. whole lists). */
uint32_t vp_searcher_trace_rows(const struct vp_searcher *s, size_t g, size_t i,
				const uint32_t **rows);

/* 1 when segment g keeps rows that only a refine reads (the originals of
 * IVF_PQ and SCANN): a query that read none of them says so in the log
 * (an empty VP_ALOG_ROWS record), so that vp-warmup leaves them out of a
 * plan for searches without refine, instead of counting them as needed by
 * every query. */
int vp_searcher_rows_apart(const struct vp_searcher *s, size_t g);

/* Opens and validates an index (bounds always; checksums when verify has
 * VP_OPEN_VERIFY).  VP_OPEN_LAYOUT skips the per-row checks that read
 * whole sections (HNSW links, IVF ids): the searcher then knows where
 * everything is but must not search.  Returns 0 or a negative VP_E_*. */
#define VP_OPEN_VERIFY 1
#define VP_OPEN_LAYOUT 2
int vp_searcher_open(struct vp_searcher *s, const char *path, int verify,
		     struct vp_error *err);

/* Searches nq queries of the index's dimension for their k nearest
 * neighbours; writes nq*k ascending distances and ids (padded with +inf and
 * -1).  ps holds search parameters already checked for this index type.
 * Returns 0 or a negative VP_E_*. */
int vp_searcher_search(struct vp_searcher *s, const float *q, size_t nq,
		       size_t k, const struct vp_param_set *ps, int threads,
		       float *dist, int64_t *ids, struct vp_error *err);

/* Estimates every plan for filter f (selectivity from the stored label
 * histograms and the id range, per-distance cost measured once, and for
 * HNSW with a label filter the label locality: how much more often graph
 * neighbours share a label than random rows do, 0 to 1, sampled once into
 * s->label_locality; a walk from a query whose neighbourhood fails the
 * filter goes far before it finds matches) and returns the chosen one: the
 * cheapest whose expected recall is at least 0.95, or the one expected to
 * recall most.  *sel gets the selectivity. */
/* Sizes the searcher's pools and every thread's for batches of up to batch
 * queries at k with ps on threads threads (hardware.preallocate), so that
 * searches allocate nothing from the first query.  Returns 0 or VP_E_NOMEM. */
int vp_searcher_preallocate(struct vp_searcher *s, size_t batch, size_t k,
			    const struct vp_param_set *ps, int threads, struct vp_error *err);

/* Returns 0 when f can run on the index, VP_E_ARG when it filters on
 * labels that a segment of the index does not have. */
int vp_searcher_check_filter(const struct vp_searcher *s, const struct vp_filter *f,
			     struct vp_error *err);

int vp_searcher_plan(struct vp_searcher *s, const struct vp_filter *f,
		     size_t k, const struct vp_param_set *ps,
		     struct vp_plan_est est[VP_PLAN_COUNT], double *sel);

/* As vp_searcher_search, returning only rows that pass f, by plan (or the
 * planner's choice with VP_PLAN_AUTO).  Returns 0, VP_E_ARG when the plan
 * does not apply to the index type or the filter needs labels the index
 * lacks, or another negative VP_E_*. */
int vp_searcher_search_filtered(struct vp_searcher *s, const float *q,
				size_t nq, size_t k,
				const struct vp_param_set *ps, int threads,
				const struct vp_filter *f, int plan,
				float *dist, int64_t *ids, struct vp_error *err);

/* The seed of result-cache keys (vp_cache_search): what an answer depends
 * on besides the query, namely the index's header checksum (new with every
 * build), k, the parameters, the plan and the parsed filter (NULL: none). */
uint64_t vp_searcher_cache_seed(const struct vp_searcher *s, size_t k,
				const struct vp_param_set *ps, int plan,
				const struct vp_filter *f);

/* A search to run through the cache: vp_search_call_fn (a
 * vp_cache_search_fn) runs vp_searcher_search_filtered with these. */
struct vp_search_call {
	struct vp_searcher *s;
	size_t k;
	const struct vp_param_set *ps;
	int threads;
	const struct vp_filter *f; /* NULL: unfiltered */
	int plan;
};
int vp_search_call_fn(void *call, const float *q, size_t nq, float *dist,
		      int64_t *ids, struct vp_error *err);

/* Exact scan of the rows of segment g that pass fc (the prefilter plan;
 * FLAT's filtered search).  Needs g->vectors.  Returns 0 or VP_E_NOMEM. */
int vp_searcher_prefilter(struct vp_searcher *s, struct vp_segment *g,
			  const struct vp_fctx *fc, const float *q, size_t nq,
			  size_t k, int threads, float *dist, int64_t *ids,
			  struct vp_error *err);

/* The cache-first plan: a lookup per query (lookup_us), and for the share
 * 1 - hit_rate that misses, the fallback plan, whose recall the cached
 * answers keep (they are its own results). */
void vp_plan_cache_first(struct vp_plan_est *out, const struct vp_plan_est *fallback,
			 double hit_rate, double lookup_us);

void vp_searcher_close(struct vp_searcher *s);

#endif
