/*
 * vp_hnsw: Hierarchical Navigable Small World graphs (Malkov & Yashunin,
 * "Efficient and robust approximate nearest neighbor search using
 * Hierarchical Navigable Small World graphs", 2016/2018).
 *
 * Stored in the index file for search straight from the mapping:
 *   "vectors"      n x d float32 (page-aligned)
 *   "hnsw_meta"    uint32 entry, max level, M, M0 (= 2M)
 *   "hnsw_levels"  n uint8: the top level of each node
 *   "hnsw_l0"      n x (1 + M0) uint32: a count, then the level-0 links,
 *                  a flat fixed-degree array (node i at i * (1 + M0))
 *   "hnsw_upoff"   n uint32: first block in hnsw_upper of a node with
 *                  level >= 1 (level L's links are block upoff + L - 1)
 *   "hnsw_upper"   blocks of (1 + M) uint32: a count, then the links
 *   "hnsw_gcp"     (quant=sq8) uint32 code stride, float scale, float
 *                  re-rank ratio (measured at build), uint32 0, d float
 *                  offsets: the traversal codes' parameters (vp_gcode.h)
 *   "hnsw_gcode"   (quant=sq8) n x stride bytes: the traversal codes
 * With codes, a search walks the graph on them and re-ranks its refine
 * best candidates with the float vectors; without, it walks on floats.
 * Every link and offset is validated when the index is opened, so a hostile
 * file cannot send the search outside the mapping.
 */
#ifndef VP_HNSW_H
#define VP_HNSW_H

#include <stddef.h>
#include <stdint.h>

#include "vp_err.h"
#include "vp_filter.h"
#include "vp_gcode.h"
#include "vp_index.h"

#define VP_HNSW_M_DEFAULT 16
#define VP_HNSW_M_MIN 2
#define VP_HNSW_M_MAX 128
#define VP_HNSW_EFC_DEFAULT 200
#define VP_HNSW_EFC_MIN 8
#define VP_HNSW_EFC_MAX 4096
#define VP_HNSW_EF_DEFAULT 64
#define VP_HNSW_EF_MIN 1
#define VP_HNSW_EF_MAX 65536
#define VP_HNSW_MAX_LEVEL 32
/* quant: how the graph is walked (a build parameter: it decides sections) */
#define VP_HNSW_QUANT_NONE 0
#define VP_HNSW_QUANT_AUTO 1  /* sq8 from VP_HNSW_QUANT_MIN_DIM dimensions */
#define VP_HNSW_QUANT_SQ8 8
#define VP_HNSW_QUANT_DEFAULT VP_HNSW_QUANT_AUTO
/* Below this, a code row (padded to 64 bytes) saves at most half the
 * float row's cache lines, and on clustered low-dimensional data the codes
 * cost recall that a longer walk must buy back (vp-gen 16-d: recall 0.967
 * against 0.989 on floats at ef=16); from here on it pays: 4x fewer lines
 * at 64 dimensions, 3.8x on Fashion-MNIST's 784. */
#define VP_HNSW_QUANT_MIN_DIM 64

/* The quant a build uses: auto resolved by the dimension. */
static inline int vp_hnsw_quant_resolve(int64_t q, size_t d)
{
	if (q == VP_HNSW_QUANT_AUTO)
		return d >= VP_HNSW_QUANT_MIN_DIM ? VP_HNSW_QUANT_SQ8 : VP_HNSW_QUANT_NONE;
	return (int)q;
}
/* refine 0: re-rank the automatic number of candidates (vp_hnsw_refine) */
#define VP_HNSW_GCP_HEAD 16      /* bytes of "hnsw_gcp" before the offsets */
#define VP_HNSW_RATIO_MAX 8.0f   /* re-rank ratio: at most 8 x k */
#define VP_HNSW_REFINE_AUTO 0

/* The graph as built, in memory (the layout of the sections above). */
struct vp_hnsw_graph {
	uint32_t n, M, M0, entry, maxlevel;
	uint8_t *levels;
	uint32_t *l0;
	uint32_t *upoff;
	uint32_t *upper;
	size_t nblocks;
};

/* Called now and then from one thread while building. */
typedef void (*vp_progress_fn)(void *ctx, size_t done, size_t total);

/* Builds the graph of n rows of x (d floats each; normalised already for
 * cosine) on threads threads.  With codes (n rows of stride bytes,
 * vp_gcode.h), every distance of the build is the squared L2 distance of
 * two nodes' codes: for L2, and for cosine, whose normalised vectors are
 * ordered by L2 as by angle; never for inner product.  With one thread the
 * graph depends only on the data, the parameters and the seed.  Returns 0
 * or VP_E_NOMEM. */
int vp_hnsw_build(const float *x, size_t n, size_t d, int metric, int M,
		  int efc, int threads, uint64_t seed, const uint8_t *codes,
		  size_t stride, vp_progress_fn progress, void *ctx,
		  struct vp_hnsw_graph *g, struct vp_error *err);

void vp_hnsw_graph_release(struct vp_hnsw_graph *g);

/* Renumbers the rows of a built graph in breadth-first order from its
 * entry point, moving the rows of x (n x d floats) and of codes (n x
 * stride bytes, may be NULL) with them; *order (malloc'd) gets for each new
 * row its old row.  With heat (n values, one a row, from an access log:
 * vp_edit_relayout), the rows queries read (heat above 0) come first, then
 * the rows they link to at level 0, then the rest, each part in
 * breadth-first order; nhot[0] gets the rows of the first part, nhot[1]
 * of the first two (nhot may be NULL without heat).  So the part of the
 * file traffic reads is one run that a warm-up reads in whole 2 MB blocks
 * and a search maps with 2 MB entries, not pages scattered over the rows
 * (vp-warmup(1)).
 * Returns 0 or VP_E_NOMEM (nothing changed). */
int vp_hnsw_reorder(struct vp_hnsw_graph *g, float *x, size_t d, uint8_t *codes,
		    size_t stride, const double *heat, uint32_t *nhot, uint32_t **order);

/* A read-only view of a graph in an index mapping. */
struct vp_hnsw {
	const float *x;
	size_t n, d;
	int metric;
	uint32_t M, M0, entry, maxlevel;
	const uint8_t *levels;
	const uint32_t *l0, *upoff, *upper;
	size_t nblocks;
	int64_t id_base;
	const uint32_t *rowid; /* row -> id - id_base (reordered), or NULL */
	const uint8_t *codes;  /* NULL: walked on floats */
	struct vp_gcode gc;
	float refine_ratio;    /* candidates re-ranked per result (measured) */
	struct vp_prefetch pf; /* their rows asked for at once (vp_index.h) */
	uint32_t po, pl;       /* prefetch: rows ahead, lines per row */
};

/* Finds and validates the HNSW sections of segment seg (n rows).  Returns 0 or
 * VP_E_CORRUPT naming what is wrong. */
int vp_hnsw_open(struct vp_hnsw *h, const struct vp_index *ix, uint32_t seg,
		 uint64_t n, struct vp_error *err);

/* Level-0 regions of 2^shift nodes (about a page of vectors each): the
 * unit of the access trace and of vp-warmup's plan. */
uint32_t vp_hnsw_region_shift(const struct vp_hnsw *h);
#define VP_HNSW_TRACE_MAX 2048 /* regions recorded per query */

/* Per-thread search state kept between calls (visited tags, heaps). */
struct vp_hnsw_pool {
	void **per_thread;
	int nthreads;
	uint32_t *trace;  /* optional: per query a count c, the region shift, then
			   * c - 1 level-0 regions read (sorted, unique) */
	size_t tstride;
};

void vp_hnsw_pool_release(struct vp_hnsw_pool *p);

/* Prefetch depth of the coded walk (rows ahead, lines a row). */
void vp_hnsw_prefetch_defaults(struct vp_hnsw *h);

/* The number of candidates a coded walk re-ranks for k results at ef:
 * refine (at least k), or when it is 0, max(ratio x k, ef/4) but at most
 * ef (then the walk's list grows to k); ratio is the index's measured one
 * (vp_hnsw_calibrate), 1.5 when not above 1. */
size_t vp_hnsw_refine(size_t k, size_t ef, size_t refine, float ratio);

/* Compaction without a rebuild: the graph of the rows of h not marked in
 * dead (one byte a row), each node whose links name deleted nodes linked
 * again from the candidates those links lead to (its live neighbours and
 * its deleted neighbours' live neighbours, selected by the build's
 * heuristic), the entry moved to a live node of the top level, rows kept
 * in their order.  x and codes (may be NULL) get the live rows (nlive x d
 * floats, nlive x stride bytes, allocated by the caller); *rows (malloc'd)
 * gets for each new row its row in h.  Returns 0 or VP_E_NOMEM. */
int vp_hnsw_repair(const struct vp_hnsw *h, const uint8_t *dead, size_t nlive,
		   int threads, struct vp_hnsw_graph *g, float *x, uint8_t *codes,
		   uint32_t **rows, struct vp_error *err);

/* A search view of a graph built in memory (codes NULL: none). */
void vp_hnsw_view(struct vp_hnsw *h, const struct vp_hnsw_graph *g, const float *x,
		  size_t d, int metric, const uint8_t *codes, const struct vp_gcode *gc);

/* Measures the re-rank ratio of a graph with codes (1.5 .. 8). */
float vp_hnsw_calibrate(const struct vp_hnsw *h, uint64_t seed);

/* Searches nq queries with a candidate list of ef (raised to k), writing
 * only rows that pass fc (NULL: all); the traversal still walks through
 * rows that fail it, so the graph stays connected at any selectivity;
 * nq*k ascending distances and ids (+inf / -1 past what was found).
 * With codes, the walk keeps the refine (vp_hnsw_refine) closest by code
 * distance and the k closest of those by exact distance are returned.
 * Returns 0 or VP_E_NOMEM. */
int vp_hnsw_search(const struct vp_hnsw *h, struct vp_hnsw_pool *pool,
		   const float *q, size_t nq, size_t k, size_t ef,
		   size_t refine, int threads,
		   const struct vp_fctx *fc, float *dist, int64_t *ids,
		   struct vp_error *err);

#endif
