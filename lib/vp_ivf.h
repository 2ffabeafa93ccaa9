/*
 * vp_ivf: inverted-file indexes (Jegou, Douze & Schmid, "Product
 * quantization for nearest neighbor search", 2011, section IV): a k-means
 * coarse quantizer of nlist centroids; each vector stored in the list of its
 * nearest centroid; a query scans the nprobe lists nearest to it.
 *
 * Three list encodings:
 *   IVF_FLAT  float32 vectors (exact distances within the probed lists)
 *   IVF_SQ8   8-bit scalar quantization, per-dimension min and step kept in
 *             the file; decoding is within half a step of the original
 *   IVF_PQ    product quantization of the residual to the list centroid, m
 *             sub-quantizers of 256 centroids, asymmetric distance tables;
 *             refine=R re-ranks the R best with the original vectors
 *   SCANN     the same with 16 centroids per sub-quantizer: 4-bit codes in
 *             blocks of 32 scanned with in-register table lookups (vp_pq4),
 *             then reorder_k candidates re-ranked exactly with what keep=
 *             kept: the float originals, SQ8 codes of them, or nothing
 *
 * Sections (segment s): ivf_centroids (nlist x d f32), ivf_offsets
 * (nlist+1 u64, list l is rows offsets[l]..offsets[l+1]), ivf_ids (u32 row
 * of each list entry), ivf_data (the codes in list order: d f32, d u8 or m
 * u8 per entry; SCANN: each list's entries in vp_pq4 blocks, a list's
 * first block at sum over earlier lists of ceil(entries / 32)), and per
 * type: ivf_norms (IVF_FLAT, f32), sq8_min and sq8_step (IVF_SQ8, d f32
 * each), pq_codebooks (m x 256 x d/m f32) and vectors (IVF_PQ, the
 * originals, for refine), pq4_codebooks (SCANN, m x 16 x d/m f32) with
 * vectors (keep=originals, by row) or sq8_min, sq8_step and sq8_codes
 * (keep=sq8, d u8 per row).
 *
 * IVF_FLAT's screen (quant=sq8, optional): SQ8 codes of its rows in list
 * order (ivf_screen, d u8 an entry, with sq8_min and sq8_step), their
 * weighted norms (screen_norms, f32, as IVF_SQ8's ivf_norms) and each
 * row's distance to its decoding (screen_err, f32, rounded up).  A query
 * scans the codes, a quarter of the rows' bytes, and bounds each row's
 * exact distance from them (the triangle inequality); only the rows whose
 * bound lets them enter the k nearest are read and scored exactly, so the
 * answers are the float scan's.
 *
 * A relayout by an access log (vp-build --relayout) keeps the rows the
 * log read apart: each list's read entries first, and their floats at the
 * end of the rows, one run for a warm-up to read, after the other rows
 * of every list.  Such a file names its rows ivf_data_split (a vp that
 * does not know the layout then finds no ivf_data and refuses the file,
 * where it would have read the wrong rows) with ivf_split: u32 per list,
 * how many of its first entries are in that run.
 */
#ifndef VP_IVF_H
#define VP_IVF_H

#include <stddef.h>
#include <stdint.h>

#include "vp_err.h"
#include "vp_filter.h"
#include "vp_index.h"
#include "vp_topk.h"

#define VP_IVF_NLIST_DEFAULT 256
#define VP_IVF_NLIST_MIN 1
#define VP_IVF_NLIST_MAX 65536
#define VP_IVF_NPROBE_DEFAULT 8
#define VP_IVF_NPROBE_MIN 1
#define VP_IVF_NPROBE_MAX 65536
#define VP_PQ_M_DEFAULT 0 /* 0: vp_pq_default_m(d) */
#define VP_PQ_M_MIN 0
#define VP_PQ_M_MAX 4096
#define VP_PQ_NBITS_DEFAULT 8 /* only 8: one byte per sub-vector */
#define VP_PQ_NBITS_MIN 8
#define VP_PQ_NBITS_MAX 8
#define VP_PQ_REFINE_DEFAULT 0
#define VP_PQ_REFINE_MIN 0
#define VP_PQ_REFINE_MAX 100000
#define VP_PQ_KSUB 256 /* 2^nbits */
/* SCANN: what the reorder re-ranks with, and how many candidates */
#define VP_SCANN_KEEP_ORIGINALS 0
#define VP_SCANN_KEEP_SQ8 1
#define VP_SCANN_KEEP_NONE 2
#define VP_SCANN_REORDER_DEFAULT 0 /* 0: VP_SCANN_REORDER_AUTO x k */
#define VP_SCANN_REORDER_MIN 0
#define VP_SCANN_REORDER_MAX 100000
/* 0: this x k.  Fashion-MNIST, nlist 256, nprobe 4, m=196: recall 0.8920
 * with 20 candidates (2 x k), 0.9291 with 30, 0.9396 with 40, 0.9445 with
 * 60, 0.9457 with 100 (all lists' ceiling at nprobe 4: 0.946); the
 * originals' reads grow with the count */
#define VP_SCANN_REORDER_AUTO 4
/* IVF_FLAT batches of at least VP_IVF_BYLIST_MIN queries are searched by
 * list (vp_ivf_search.c), in blocks of at most VP_IVF_BLOCK queries, a
 * list's queries VP_IVF_LISTQ at a time */
#define VP_IVF_BYLIST_MIN 32
#define VP_IVF_BLOCK 1024
#define VP_IVF_LISTQ 64
/* IVF_SQ8 batches go by list only when a list has this many queries on
 * average (block x nprobe / nlist) */
#define VP_IVF_SQ8_SHARE 4

/* An IVF index in memory while it is built; the arrays become sections. */
struct vp_ivf_built {
	uint32_t nlist, m;
	float *centroids;
	uint64_t *offsets;
	uint32_t *ids;
	void *data;
	size_t data_bytes;
	float *norms;     /* IVF_FLAT */
	float *sq8_min;   /* IVF_SQ8 */
	float *sq8_step;
	float *codebooks; /* IVF_PQ, SCANN (16 a sub-quantizer) */
	uint8_t *sq8_codes; /* SCANN keep=sq8: d per row, by row */
	float *pq4_bias;    /* SCANN, L2 and cosine: per entry (list order),
			     * sum over s of 2<c_s, y_s> + |y_s|^2 */
	uint8_t *scodes;    /* IVF_FLAT's screen: codes in list order, */
	float *snorms;      /* their weighted norms, */
	float *serr;        /* |row - decoding| (vp_ivf_screen) */
};

/* Builds an IVF index of type (VP_TYPE_IVF_FLAT, _SQ8, _PQ, VP_TYPE_SCANN)
 * over n rows of x.  m is the PQ sub-quantizer count (0: chosen from d);
 * keep is SCANN's (VP_SCANN_KEEP_*), aniso its anisotropic threshold T
 * (0: plain codes).  Returns 0, VP_E_ARG (m does not
 * divide d, nlist > n) or VP_E_NOMEM. */
int vp_ivf_build(const float *x, size_t n, size_t d, int type, int metric,
		 size_t nlist, size_t m, int keep, double aniso, int threads, uint64_t seed,
		 struct vp_ivf_built *b, struct vp_error *err);

/* Adds IVF_FLAT's screen to b (built from the n rows of x): SQ8 ranges,
 * codes of the rows in list order, their weighted norms and each row's
 * distance to its decoding, computed in double and rounded up so that it
 * bounds, on up to threads threads.  Returns 0 or VP_E_NOMEM. */
int vp_ivf_screen(const float *x, size_t n, size_t d, int threads, struct vp_ivf_built *b,
		  struct vp_error *err);

/* IVF_SQ8's stored row norms (section ivf_norms): sum over j of
 * (step[j] c[j])^2 for each of n rows of d codes, the part of the L2
 * distance to the decoded row that does not depend on the query. */
void vp_sq8_inorms(const uint8_t *codes, size_t n, size_t d, const float *step, float *out);

/* SCANN's default m for dimension d: d/4 (sub-vectors of 4 dimensions,
 * codes an eighth of SQ8's bytes), else d/2, else d.  On Fashion-MNIST
 * d/4 reached recall 0.95 in less time than d/2 (which needs fewer
 * candidates re-ranked but scans and quantizes twice the tables), as
 * FAISS's PQ196x4fs does on 784 dimensions. */
size_t vp_scann_default_m(size_t d);

void vp_ivf_built_release(struct vp_ivf_built *b);

/* Picks the PQ sub-quantizer count for dimension d: the largest divisor of
 * d that is at most 64 and leaves sub-vectors of at least 8 dimensions
 * (56 for d=784); d itself when none. */
size_t vp_pq_default_m(size_t d);

/* A read-only view of an IVF index in a mapping. */
struct vp_ivf {
	int type, metric;
	size_t n, d, nlist, m, dsub;
	const float *centroids, *cnorms_unused;
	const uint64_t *offsets;
	const uint32_t *ids;
	const unsigned char *data;
	const float *norms, *sq8_min, *sq8_step, *codebooks, *vectors;
	float *cnorms;  /* centroid squared norms, computed on open */
	float *ynorms;  /* PQ codeword squared norms, m x 256, computed on open */
	float *cbt;     /* PQ codebooks transposed, m x d/m x 256, made on open */
	float *ptab;    /* PQ, L2: 2<c_s, y_sj> + |y_sj|^2 per list, nlist x m x ksub */
	size_t ksub;    /* PQ 256, SCANN 16 */
	int l2tab;      /* PQ tables of L2 form: L2, and SCANN's cosine */
	int keep;       /* SCANN: VP_SCANN_KEEP_* */
	uint64_t *boff; /* SCANN: list l's blocks are boff[l]..boff[l+1] */
	float *plo, *prng; /* SCANN, L2: per list and sub-quantizer, the
			    * minimum and range of ptab (nlist x m each) */
	const uint8_t *sq8_codes; /* SCANN keep=sq8 */
	const float *pbias; /* SCANN: pq4_bias (optional: older files go by
			     * per-list tables) */
	float *pbmin;       /* its minimum per list, made on open */
	const uint8_t *scodes; /* IVF_FLAT's screen (optional) */
	const uint32_t *hotn;  /* ivf_split (with the screen only), and */
	uint32_t *fpos;        /* from it, each entry's float row (made on open) */
	const float *snorms, *serr;
	uintptr_t pgmask;      /* its rows mapped for scattered reads: ~(page - 1) */
	struct vp_prefetch pf; /* and the cold ones asked for at once (vp_index.h) */
	int64_t id_base;
};

/* IVF_FLAT: the floats of list entry p. */
static inline const float *vp_ivf_row(const struct vp_ivf *v, uint64_t p)
{
	return (const float *)v->data + (v->fpos ? v->fpos[p] : p) * v->d;
}

/* Finds and validates the sections of segment seg (n rows).  Returns 0 or
 * VP_E_CORRUPT / VP_E_NOMEM. */
int vp_ivf_open(struct vp_ivf *v, const struct vp_index *ix, uint32_t seg,
		uint64_t n, struct vp_error *err);
void vp_ivf_close(struct vp_ivf *v);

struct vp_ivf_pool {
	void **per_thread;
	int nthreads;
	uint32_t *trace;  /* optional: per query a count, then the lists probed */
	size_t tstride;
};
void vp_ivf_pool_release(struct vp_ivf_pool *p);

/* Searches nq queries scanning nprobe lists each, scoring only entries
 * that pass fc (NULL: all); refine applies to IVF_PQ
 * (0: rank by the PQ distances alone) and SCANN (reorder_k, resolved).  Writes nq*k ascending distances and
 * ids (+inf / -1 past what was found).  Returns 0 or VP_E_NOMEM. */
int vp_ivf_search(const struct vp_ivf *v, struct vp_ivf_pool *pool,
		  const float *q, size_t nq, size_t k, size_t nprobe,
		  size_t refine, int threads, const struct vp_fctx *fc,
		  float *dist, int64_t *ids, struct vp_error *err);

#endif
