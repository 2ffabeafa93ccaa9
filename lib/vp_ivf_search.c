/*
 * vp_ivf_search: probe the nprobe nearest lists of each query.
 *
 * IVF_FLAT lists are small FLAT indexes: they are scanned with the same
 * register-tiled kernel and vectorised top-k fold as exact search.  IVF_SQ8
 * scores codes against a query prepared once ((q - min) / step), so a code
 * is widened and subtracted, never decoded.  IVF_PQ builds one distance
 * table per probed list (the residual of the query to that list's centroid
 * against every codebook entry) and scores a code as m table lookups.
 * SCANN builds the same table with 16 entries a sub-quantizer, quantizes
 * it to 8 bits and scores 32 entries at a time in registers (vp_pq4); the
 * candidates are then re-ranked exactly (reorder_k).
 */
#include "vp_ivf.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "vp_alog.h"
#include "vp_dist.h"
#include "vp_flat.h"
#include "vp_params.h"
#include "vp_pq4.h"

/* The SQ8 ranges (IVF_SQ8's lists, SCANN's keep=sq8 codes), d each */
static int need_sq8(struct vp_ivf *v, const struct vp_index *ix, uint32_t seg, uint64_t d,
		    struct vp_error *err)
{
	const void *p;
	int rc;
	if ((rc = vp_index_need(ix, "sq8_min", seg, d * 4, &p, err)))
		return rc;
	v->sq8_min = p;
	if ((rc = vp_index_need(ix, "sq8_step", seg, d * 4, &p, err)))
		return rc;
	v->sq8_step = p;
	return 0;
}

/* SQ8 ranges that are numbers, steps not negative */
static int sq8_finite(const struct vp_ivf *v, const struct vp_index *ix, uint64_t d,
		      struct vp_error *err)
{
	for (uint64_t j = 0; v->sq8_min && j < d; j++)
		if (!isfinite(v->sq8_min[j]) || !isfinite(v->sq8_step[j]) || v->sq8_step[j] < 0)
			return vp_seterr(err, VP_E_CORRUPT, "%s: corrupt index: SQ8 "
					 "range of dimension %llu is not finite", ix->path,
					 (unsigned long long)j);
	return 0;
}

int vp_ivf_open(struct vp_ivf *v, const struct vp_index *ix, uint32_t seg,
		uint64_t n, struct vp_error *err)
{
	uint64_t d = ix->hdr.dim, nlist, m = 0, code;
	const struct vp_section *s;
	const void *p;
	int rc;

	memset(v, 0, sizeof *v);
	v->type = (int)ix->hdr.type;
	v->metric = (int)ix->hdr.metric;
	s = vp_index_find(ix, "ivf_offsets", seg);
	if (!s || s->length < 16 || s->length % 8)
		return vp_seterr(err, VP_E_CORRUPT, "%s: corrupt index: section "
				 "'ivf_offsets' missing or mis-sized", ix->path);
	nlist = s->length / 8 - 1;
	v->offsets = vp_index_data(ix, s);
	if (v->offsets[0] != 0 || v->offsets[nlist] != n)
		goto bad;
	for (uint64_t l = 0; l < nlist; l++)
		if (v->offsets[l] > v->offsets[l + 1])
			goto bad;
	if ((rc = vp_index_need(ix, "ivf_centroids", seg, nlist * d * 4, &p, err)))
		return rc;
	v->centroids = p;
	if ((rc = vp_index_need(ix, "ivf_ids", seg, n * 4, &p, err)))
		return rc;
	v->ids = p;
	for (uint64_t i = 0; i < n && !ix->layout_only; i++)
		if (v->ids[i] >= n)
			goto bad;
	if (v->type == VP_TYPE_IVF_FLAT) {
		code = d * 4;
		if ((rc = vp_index_need(ix, "ivf_norms", seg, n * 4, &p, err)))
			return rc;
		v->norms = p;
		/* the screen (quant=sq8): all of its sections or none */
		if (vp_index_find(ix, "ivf_screen", seg)) {
			if ((rc = need_sq8(v, ix, seg, d, err)) ||
			    (rc = vp_index_need(ix, "ivf_screen", seg, n * d, &p, err)))
				return rc;
			v->scodes = p;
			if ((rc = vp_index_need(ix, "screen_norms", seg, n * 4, &p, err)))
				return rc;
			v->snorms = p;
			if ((rc = vp_index_need(ix, "screen_err", seg, n * 4, &p, err)))
				return rc;
			v->serr = p;
			if ((rc = sq8_finite(v, ix, d, err)))
				return rc;
		}
	} else if (v->type == VP_TYPE_IVF_SQ8) {
		code = d;
		if ((rc = need_sq8(v, ix, seg, d, err)) || (rc = sq8_finite(v, ix, d, err)))
			return rc;
		/* the codes' weighted norms (vp_sq8_inorms), which the integer
		 * scan needs; older files have none and scan in floats */
		if (vp_index_find(ix, "ivf_norms", seg)) {
			if ((rc = vp_index_need(ix, "ivf_norms", seg, n * 4, &p, err)))
				return rc;
			v->norms = p;
		}
	} else {
		int scann = v->type == VP_TYPE_SCANN;
		m = (uint64_t)ix->hdr.params[VP_P_PQ_M]; /* resolved at build */
		if (m < 1 || m > d || d % m)
			return vp_seterr(err, VP_E_CORRUPT, "%s: corrupt index: "
					 "pq m=%llu does not divide %llu", ix->path,
					 (unsigned long long)m, (unsigned long long)d);
		v->ksub = scann ? VP_PQ4_KSUB : VP_PQ_KSUB;
		code = m;
		if ((rc = vp_index_need(ix, scann ? "pq4_codebooks" : "pq_codebooks", seg,
					m * v->ksub * (d / m) * 4, &p, err)))
			return rc;
		v->codebooks = p;
		v->keep = scann ? (int)ix->hdr.params[VP_P_KEEP] : VP_SCANN_KEEP_ORIGINALS;
		if (v->keep < VP_SCANN_KEEP_ORIGINALS || v->keep > VP_SCANN_KEEP_NONE)
			return vp_seterr(err, VP_E_CORRUPT, "%s: corrupt index: SCANN keep=%d "
					 "is none of originals, sq8, none", ix->path, v->keep);
		if (v->keep == VP_SCANN_KEEP_ORIGINALS) {
			if ((rc = vp_index_need(ix, "vectors", seg, n * d * 4, &p, err)))
				return rc;
			v->vectors = p;
		} else if (v->keep == VP_SCANN_KEEP_SQ8) {
			if ((rc = need_sq8(v, ix, seg, d, err)))
				return rc;
			if ((rc = vp_index_need(ix, "sq8_codes", seg, n * d, &p, err)))
				return rc;
			v->sq8_codes = p;
		}
		/* a hostile table must not turn into NaN sums and scales */
		for (uint64_t i = 0; scann && !ix->layout_only && i < m * v->ksub * (d / m); i++)
			if (!isfinite(v->codebooks[i]))
				return vp_seterr(err, VP_E_CORRUPT, "%s: corrupt index: "
						 "pq4_codebooks holds a value that is not finite",
						 ix->path);
		if ((rc = sq8_finite(v, ix, d, err)))
			return rc;
		if ((v->vectors || v->sq8_codes) && !ix->layout_only) {
			/* the refine reads a few scattered rows a query: a cold one
			 * should cost its page, not a readahead window around it,
			 * and the cold ones are asked for together (vp_prefetch) */
			uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
			uintptr_t a = v->vectors ? (uintptr_t)v->vectors : (uintptr_t)v->sq8_codes;
			uintptr_t e = a + n * (v->vectors ? d * 4 : d);
			madvise((void *)(a & ~(pg - 1)), e - (a & ~(pg - 1)), MADV_RANDOM);
			v->pf = ix->pf;
		}
		if (scann) {
			/* the blocks of each list, from the list lengths */
			v->boff = malloc((nlist + 1) * sizeof *v->boff);
			if (!v->boff)
				return vp_seterr(err, VP_E_NOMEM, "out of memory");
			v->boff[0] = 0;
			for (uint64_t l = 0; l < nlist; l++)
				v->boff[l + 1] = v->boff[l] +
						 vp_pq4_blocks(v->offsets[l + 1] - v->offsets[l]);
			code = 0;
		}
	}
	if (v->scodes && vp_index_find(ix, "ivf_split", seg)) {
		/* a relayout's rows (vp_ivf.h): entry p of list l is row
		 * C + before + j of the file's run of read rows when it is one
		 * of the list's first hotn[l] (j = p - offsets[l], before: the
		 * read entries of earlier lists, C: all the other rows), else
		 * among the others, in list order */
		uint64_t hot = 0, c;
		if ((rc = vp_index_need(ix, "ivf_split", seg, nlist * 4, &p, err)))
			return rc;
		v->hotn = p;
		for (uint64_t l = 0; l < nlist; l++) {
			if (v->hotn[l] > v->offsets[l + 1] - v->offsets[l])
				return vp_seterr(err, VP_E_CORRUPT, "%s: corrupt index: "
						 "ivf_split names more rows than list %llu holds",
						 ix->path, (unsigned long long)l);
			hot += v->hotn[l];
		}
		if (!(v->fpos = malloc((n ? n : 1) * sizeof *v->fpos)))
			return vp_seterr(err, VP_E_NOMEM, "out of memory");
		c = n - hot;
		hot = 0;
		for (uint64_t l = 0; l < nlist; l++) {
			uint64_t a = v->offsets[l], h = v->hotn[l];
			for (uint64_t j = 0; j < v->offsets[l + 1] - a; j++)
				v->fpos[a + j] = (uint32_t)(j < h ? c + hot + j : a - hot - h + j);
			hot += h;
		}
	}
	if ((rc = vp_index_need(ix, v->fpos ? "ivf_data_split" : "ivf_data", seg,
				v->boff ? v->boff[nlist] * vp_pq4_block_bytes(m) : n * code, &p,
				err)))
		return rc;
	v->data = p;
	if (v->scodes && !ix->layout_only) {
		/* one query reads the rows its screen cannot rule out, a few
		 * scattered ones: a fault on a cold row should read its page,
		 * not the readahead window around it (read_ahead_kb, 8 MB on
		 * the disk measured).  Batches ask for each list whole
		 * (search_bylist); the section is page-aligned. */
		uintptr_t a = (uintptr_t)v->data, e = a + n * code;
		uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
		madvise((void *)(a & ~(pg - 1)), e - (a & ~(pg - 1)), MADV_RANDOM);
		v->pgmask = ~(pg - 1);
		v->pf = ix->pf;
	}
	if (v->boff && vp_index_find(ix, "pq4_bias", seg)) {
		if ((rc = vp_index_need(ix, "pq4_bias", seg, n * 4, &p, err)))
			return rc;
		v->pbias = p;
	}
	v->n = n;
	v->d = d;
	v->nlist = nlist;
	v->m = m;
	v->dsub = m ? d / m : 0;
	v->cnorms = malloc(nlist * sizeof *v->cnorms);
	if (!v->cnorms)
		return vp_seterr(err, VP_E_NOMEM, "out of memory");
	vp_sqnorms(v->centroids, nlist, d, v->cnorms);
	if (v->codebooks) {
		const size_t ks = v->ksub;
		v->ynorms = malloc(m * ks * sizeof *v->ynorms);
		if (!v->ynorms)
			return vp_seterr(err, VP_E_NOMEM, "out of memory");
		vp_sqnorms(v->codebooks, m * ks, v->dsub, v->ynorms);
		/* codeword-minor layout: a table row is then d/m axpy passes
		 * over 256 contiguous floats, which the compiler vectorises */
		v->cbt = malloc(d * ks * sizeof *v->cbt);
		if (!v->cbt)
			return vp_seterr(err, VP_E_NOMEM, "out of memory");
		for (size_t sq = 0; sq < m; sq++)
			for (size_t j = 0; j < ks; j++)
				for (size_t u = 0; u < v->dsub; u++)
					v->cbt[(sq * v->dsub + u) * ks + j] =
						v->codebooks[(sq * ks + j) * v->dsub + u];
		/* precomputed tables (Jegou et al., section IV.C): with
		 * |q - c - y|^2 = |q - c|^2 + (2<c,y> + |y|^2) - 2<q,y>, the middle
		 * term depends on the list alone, so a query builds one table
		 * of -2<q,y> and adds it to each probed list's stored one */
		/* SCANN ranks cosine (unit rows, unit queries) by these L2
		 * tables too: 1 - cos = |q - x|^2 / 2, and unlike <q, x~> the
		 * L2 estimate counts the code's norm error (on Fashion-MNIST,
		 * recall@10 of the codes alone 0.42 by inner product, 0.72 so) */
		v->l2tab = v->metric == VP_METRIC_L2 ||
			   (v->boff && v->metric == VP_METRIC_COSINE);
		if (v->l2tab && v->boff) {
			v->plo = malloc(nlist * m * sizeof *v->plo);
			v->prng = malloc(nlist * m * sizeof *v->prng);
			if (!v->plo || !v->prng)
				return vp_seterr(err, VP_E_NOMEM, "out of memory");
		}
		if (v->l2tab) {
			v->ptab = malloc(nlist * m * ks * sizeof *v->ptab);
			if (!v->ptab)
				return vp_seterr(err, VP_E_NOMEM, "out of memory");
			for (size_t l = 0; l < nlist; l++)
				for (size_t sq = 0; sq < m; sq++) {
					float *t = v->ptab + (l * m + sq) * ks;
					const float *c = v->centroids + l * d + sq * v->dsub;
					memcpy(t, v->ynorms + sq * ks, ks * sizeof *t);
					for (size_t u = 0; u < v->dsub; u++) {
						const float *col = v->cbt + (sq * v->dsub + u) * ks;
						float cu = 2.0f * c[u];
						for (size_t j = 0; j < ks; j++)
							t[j] += cu * col[j];
					}
				}
			if (v->plo)
				vp_pq4_ranges(v->ptab, nlist * m, v->plo, v->prng);
		}
	}
	if (v->pbias && !ix->layout_only) {
		/* a list's smallest bias bounds what its entries can score
		 * (NaN, from a hostile file, is passed over: no entry of it
		 * ever enters a heap) */
		if (!(v->pbmin = malloc(nlist * sizeof *v->pbmin)))
			return vp_seterr(err, VP_E_NOMEM, "out of memory");
		for (uint64_t l = 0; l < nlist; l++) {
			float mn = INFINITY;
			for (uint64_t e = v->offsets[l]; e < v->offsets[l + 1]; e++)
				mn = v->pbias[e] < mn ? v->pbias[e] : mn;
			v->pbmin[l] = mn;
		}
	}
	return 0;
bad:
	return vp_seterr(err, VP_E_CORRUPT, "%s: corrupt index: inverted lists "
			 "out of range", ix->path);
}

void vp_ivf_close(struct vp_ivf *v)
{
	free(v->fpos);
	v->fpos = NULL;
	free(v->cnorms);
	free(v->ynorms);
	free(v->cbt);
	free(v->ptab);
	free(v->boff);
	free(v->plo);
	free(v->prng);
	free(v->pbmin);
	v->pbmin = NULL;
	v->boff = NULL;
	v->plo = v->prng = NULL;
	v->ptab = NULL;
	v->cnorms = NULL;
	v->ynorms = NULL;
	v->cbt = NULL;
}

/* SCANN scores this many blocks of 32 per kernel call */
#define SCANN_CHUNK 8

struct istate {
	struct vp_topk heap, coarse, fin;
	size_t k;
	size_t matched; /* filtered scans: entries that passed */
	float *c;      /* dot block scratch, max(nlist, XBLOCK) */
	float *qp;     /* prepared query: SQ8 qs or qw; PQ residual */
	float *w;      /* SQ8 weights */
	float *table;  /* PQ distance table, m x 256 */
	float *w2;     /* PQ query part of the table, m x 256 */
	uint8_t *qlut; /* SCANN: the table quantized, mp x 16 */
	uint16_t *sums; /* SCANN: table sums of a chunk of blocks */
	uint32_t below[SCANN_CHUNK]; /* their masks of sums under the bound */
	float *alo;    /* SCANN: the query table's minima and ranges, and a */
	float *arng;   /* list's bounds (m each) */
	float *lo, *rng;
	float qscale, qbias; /* SCANN, IP: the table, quantized once a query */
	float *cblk;   /* coarse dot products of a block of queries */
	float *cd;     /* coarse candidates */
	int64_t *ci;
	float *rd;     /* refine candidates */
	int64_t *ri;
	/* by list (IVF_FLAT batches): a block of up to VP_IVF_BLOCK queries */
	struct vp_topk *bh;   /* a heap per query of the block */
	int64_t *bprobe;      /* the lists each query probes, np a query */
	uint32_t *bcnt;       /* per list: where its queries start in bq */
	uint32_t *bq;         /* queries grouped by list */
	float *bqv;           /* the queries of one list, gathered (GEMM rows) */
	float *bc;            /* their dot products with a block of rows */
	float *bx, *bxn;      /* SQ8: a block of rows decoded, their norms */
	float *dec;           /* one row decoded (exact final distances) */
	int16_t *qi;          /* IVF_SQ8: the query's weights in 16 bits */
	uint32_t *rt;         /* the access log's rows part of this query's
			       * trace (vp_alog.h), or NULL */
	float qa, qc;         /* their scale; L2: sum (q - min)^2 */
	int qint;             /* qi is prepared for this query */
	/* IVF_FLAT's screen: the integer sum's error bound, |q|, the float
	 * kernels' relative error, and the rows that may enter */
	float seps, qnrm, krel;
	struct scand *cand;
	size_t ncand;
	size_t bnp;           /* np the arrays were made for */
};

/* IVF_FLAT's screen: a row that may enter, by the lower bound of its
 * distance; SCREEN_CAND of them are held before they are scored */
struct scand {
	float lb;
	uint32_t p;
};
#define SCREEN_CAND 4096

static void istate_free(struct istate *s)
{
	if (!s)
		return;
	vp_topk_release(&s->heap);
	vp_topk_release(&s->coarse);
	vp_topk_release(&s->fin);
	free(s->c);
	free(s->qp);
	free(s->w);
	free(s->table);
	free(s->w2);
	free(s->qlut);
	free(s->sums);
	free(s->alo);
	free(s->arng);
	free(s->lo);
	free(s->rng);
	free(s->cblk);
	free(s->cd);
	free(s->ci);
	free(s->rd);
	free(s->ri);
	for (size_t i = 0; s->bh && i < VP_IVF_BLOCK; i++)
		vp_topk_release(&s->bh[i]);
	free(s->bh);
	free(s->bprobe);
	free(s->bcnt);
	free(s->bq);
	free(s->bqv);
	free(s->bc);
	free(s->bx);
	free(s->bxn);
	free(s->dec);
	free(s->qi);
	free(s->cand);
	free(s);
}

void vp_ivf_pool_release(struct vp_ivf_pool *p)
{
	for (int t = 0; t < p->nthreads; t++)
		istate_free(p->per_thread[t]);
	free(p->per_thread);
	memset(p, 0, sizeof *p);
}

/* Queries whose coarse dot products are computed together, one GEMM
 * (the centroids read once for them, from cache, instead of once a query:
 * a sixth of a SCANN query's time on Fashion-MNIST went to it): at most 32,
 * and 256 KB of products */
static size_t coarse_q(size_t nlist)
{
	size_t c = (size_t)65536 / (nlist ? nlist : 1);
	return c < 1 ? 1 : c > 32 ? 32 : c;
}

static struct istate *istate_new(const struct vp_ivf *v, size_t kk, size_t k,
				 size_t nprobe)
{
	struct istate *s = calloc(1, sizeof *s);
	size_t cn = v->nlist > VP_FLAT_XBLOCK ? v->nlist : VP_FLAT_XBLOCK;
	if (!s)
		return NULL;
	s->k = kk;
	if (vp_topk_init(&s->heap, kk) || vp_topk_init(&s->coarse, nprobe) ||
	    vp_topk_init(&s->fin, k))
		goto fail;
	s->c = malloc(cn * sizeof *s->c);
	s->qp = malloc(v->d * sizeof *s->qp);
	s->w = malloc(v->d * sizeof *s->w);
	s->table = malloc((v->m ? v->m : 1) * VP_PQ_KSUB * sizeof *s->table);
	s->w2 = malloc((v->m ? v->m : 1) * VP_PQ_KSUB * sizeof *s->w2);
	s->cblk = malloc(coarse_q(v->nlist) * v->nlist * sizeof *s->cblk);
	s->cd = malloc(nprobe * sizeof *s->cd);
	s->ci = malloc(nprobe * sizeof *s->ci);
	s->rd = malloc(kk * sizeof *s->rd);
	s->ri = malloc(kk * sizeof *s->ri);
	s->dec = malloc(v->d * sizeof *s->dec);
	s->qi = malloc(v->d * sizeof *s->qi);
	s->qlut = malloc(vp_pq4_mp(v->m ? v->m : 1) * 16);
	s->sums = malloc(SCANN_CHUNK * VP_PQ4_BLOCK * sizeof *s->sums);
	s->alo = malloc((v->m ? v->m : 1) * sizeof *s->alo);
	s->arng = malloc((v->m ? v->m : 1) * sizeof *s->arng);
	s->lo = malloc((v->m ? v->m : 1) * sizeof *s->lo);
	s->rng = malloc((v->m ? v->m : 1) * sizeof *s->rng);
	if (v->scodes && !(s->cand = malloc(SCREEN_CAND * sizeof *s->cand)))
		goto fail;
	if (s->c && s->cblk && s->qp && s->w && s->qi && s->table && s->w2 && s->cd && s->ci && s->rd && s->ri &&
	    s->dec && s->qlut && s->sums && s->alo && s->arng && s->lo && s->rng)
		return s;
fail:
	istate_free(s);
	return NULL;
}

/* Scores every code of list l for IVF_SQ8 into s->heap (ids = positions). */
static void scan_sq8(const struct vp_ivf *v, const struct vp_kernels *kern,
		     struct istate *s, size_t l, float cst, const struct vp_fctx *fc)
{
	const size_t d = v->d;
	if (s->qint) {
		/* integer: L2 = sum (q - min)^2 + |code|^2_w - <u, c> */
		const int l2 = v->metric == VP_METRIC_L2;
		for (uint64_t p = v->offsets[l]; p < v->offsets[l + 1]; p++) {
			float e;
			if (fc && !vp_fctx_match(fc, v->ids[p]))
				continue;
			s->matched++;
			e = s->qa * (float)kern->sq8_idot(s->qi, v->data + p * d, d);
			vp_topk_push(&s->heap, l2 ? s->qc + v->norms[p] - e : -(cst + e), (int64_t)p);
		}
		return;
	}
	for (uint64_t p = v->offsets[l]; p < v->offsets[l + 1]; p++) {
		const uint8_t *c = v->data + p * d;
		if (fc && !vp_fctx_match(fc, v->ids[p]))
			continue;
		s->matched++;
		float dd = v->metric == VP_METRIC_L2
				   ? cst + kern->sq8_l2(s->qp, c, s->w, d)
				   : -(cst + kern->sq8_dot(s->qp, c, d));
		vp_topk_push(&s->heap, dd, (int64_t)p);
	}
}

/* The query's part of the PQ tables, once per query: -2<q_s, y_sj> for L2
 * (the list's part is in ptab), -<q_s, y_sj> for inner product; axpy
 * passes over the transposed codebook (vp_kernels.pq_qtable). */
static void pq_query_table(const struct vp_ivf *v, const struct vp_kernels *kern,
			   const float *q, float *out)
{
	kern->pq_qtable(v->cbt, q, v->m, v->dsub, v->ksub,
			v->l2tab ? -2.0f : -1.0f, out);
}

/* SCANN: the quantized table of list l (s->qlut, s->qscale, s->qbias):
 * for L2 the query's part (s->w2) plus the list's (ptab), with bounds from
 * the parts' ranges; for inner product the query's alone, the same for
 * every list, made once a query (the caller's). */
static void scann_table(const struct vp_ivf *v, const struct vp_kernels *kern,
			struct istate *s, size_t l)
{
	const size_t m = v->m;
	const float *plo = v->plo + l * m, *prng = v->prng + l * m;
	for (size_t j = 0; j < m; j++) {
		s->lo[j] = s->alo[j] + plo[j];
		s->rng[j] = s->arng[j] + prng[j];
	}
	s->qscale = vp_pq4_plan(s->lo, s->rng, m, &s->qbias);
	kern->pq4_quant(s->w2, v->ptab + l * m * VP_PQ4_KSUB, s->lo, m, s->qscale, s->qlut);
}

/* The 16-bit sum an entry must not pass to beat bound bd: one more than
 * the bound's (a float comparison then decides); every sum while the heap
 * fills, none when the bound is below the bias or not a number (a hostile
 * index's tables can hold NaN: no conversion of it to an integer) */
static inline uint32_t scann_thr(float bd, float bias, float scale)
{
	float t = (bd - bias) * scale;
	if (bd >= INFINITY)
		return 65535u;
	if (!(t >= 0))
		return 0;
	return t >= 65534.0f ? 65535u : (uint32_t)t + 1u;
}

/* SCANN: list l scored from its blocks with the quantized table; an
 * entry's 16-bit sum estimates its distance as cst + bias + sum / scale.
 * Entries whose sum cannot beat the heap's bound are passed over in
 * integers; under a filter an entry must pass it first (matched counts
 * those, for the adaptive probing). */
static void scan_pq4(const struct vp_ivf *v, const struct vp_kernels *kern,
		     struct istate *s, size_t l, float cst, const struct vp_fctx *fc)
{
	const size_t bb = vp_pq4_block_bytes(v->m);
	const uint64_t p0 = v->offsets[l], len = v->offsets[l + 1] - p0;
	const uint8_t *b = v->data + v->boff[l] * bb;
	/* with per-entry biases (pq4_bias) the 16-bit test is against the
	 * list's smallest, and the float test adds the entry's own */
	const float *eb = v->pbmin ? v->pbias + p0 : NULL;
	float bias = s->qbias + cst, scale = s->qscale, inv = 1.0f / scale;
	float lb = bias + (eb ? v->pbmin[l] : 0);
	float bound = vp_topk_bound(&s->heap);
	uint32_t thr;

	if (!(bound >= lb) && !fc)
		return; /* nothing here can enter */
	thr = scann_thr(bound, lb, scale);
	for (uint64_t e0 = 0; e0 < len; e0 += SCANN_CHUNK * VP_PQ4_BLOCK) {
		uint64_t ne = len - e0 < SCANN_CHUNK * VP_PQ4_BLOCK ? len - e0
								    : SCANN_CHUNK * VP_PQ4_BLOCK;
		kern->pq4_scan(b + (e0 / VP_PQ4_BLOCK) * bb, vp_pq4_blocks(ne), v->m, s->qlut,
			       (uint16_t)(thr > 65535 ? 65535 : thr), s->sums, s->below);
		if (fc) {
			for (uint64_t i = 0; i < ne; i++) {
				uint64_t p = p0 + e0 + i;
				float e;
				if (!vp_fctx_match(fc, v->ids[p]))
					continue;
				s->matched++;
				if (s->sums[i] > thr)
					continue;
				e = bias + (float)s->sums[i] * inv + (eb ? eb[e0 + i] : 0);
				if (e <= bound) {
					vp_topk_push(&s->heap, e, (int64_t)p);
					bound = vp_topk_bound(&s->heap);
					thr = scann_thr(bound, lb, scale);
				}
			}
			continue;
		}
		/* unfiltered: the kernel's masks of the entries under the
		 * bound as the chunk began; only those are looked at */
		for (uint64_t g = 0; g < ne; g += 32) {
			uint32_t mask = s->below[g / 32];
			const uint16_t *sg = s->sums + g;
			if (ne - g < 32)
				mask &= (1u << (ne - g)) - 1u;
			while (mask) {
				int i = __builtin_ctz(mask);
				float e = bias + (float)sg[i] * inv + (eb ? eb[e0 + g + (uint64_t)i] : 0);
				mask &= mask - 1;
				if (e <= bound && sg[i] <= thr) {
					vp_topk_push(&s->heap, e, (int64_t)(p0 + e0 + g + (uint64_t)i));
					bound = vp_topk_bound(&s->heap);
					thr = scann_thr(bound, lb, scale);
				}
			}
		}
	}
}

/* SCANN's exact distance of row r with what keep kept: to the float row,
 * or to the row its SQ8 code decodes to, scored on the code against the
 * query prepared once (s->qp, s->w, the constant cst: sq8_prepare), a
 * quarter of the bytes from memory */
static float scann_exact(const struct vp_ivf *v, const struct vp_kernels *kern,
			 const struct istate *s, const float *q, uint32_t r, float cst)
{
	const size_t d = v->d;
	if (v->vectors)
		return v->metric == VP_METRIC_L2 ? kern->l2(q, v->vectors + (size_t)r * d, d)
			: vp_flat_dist(v->metric, -kern->dot(q, v->vectors + (size_t)r * d, d), 0);
	const uint8_t *c = v->sq8_codes + (size_t)r * d;
	return v->metric == VP_METRIC_L2 ? cst + kern->sq8_l2(s->qp, c, s->w, d)
		: vp_flat_dist(v->metric, -(cst + kern->sq8_dot(s->qp, c, d)), 0);
}

static void scan_pq(const struct vp_ivf *v, struct istate *s, size_t l,
		    float cst, const struct vp_fctx *fc)
{
	const size_t m = v->m;
	const float *t = s->table;
	for (uint64_t p = v->offsets[l]; p < v->offsets[l + 1]; p++) {
		const uint8_t *c = v->data + p * m;
		float a0 = cst, a1 = 0, a2 = 0, a3 = 0;
		size_t sq = 0;
		if (fc && !vp_fctx_match(fc, v->ids[p]))
			continue;
		s->matched++;
		for (; sq + 4 <= m; sq += 4) {
			a0 += t[sq * VP_PQ_KSUB + c[sq]];
			a1 += t[(sq + 1) * VP_PQ_KSUB + c[sq + 1]];
			a2 += t[(sq + 2) * VP_PQ_KSUB + c[sq + 2]];
			a3 += t[(sq + 3) * VP_PQ_KSUB + c[sq + 3]];
		}
		for (; sq < m; sq++)
			a0 += t[sq * VP_PQ_KSUB + c[sq]];
		vp_topk_push(&s->heap, (a0 + a1) + (a2 + a3), (int64_t)p);
	}
}

/* IVF_FLAT under a filter (fc), or with a relayout's rows (fc NULL): entry
 * by entry, distances only for matches. */
static void scan_flat_filtered(const struct vp_ivf *v,
			       const struct vp_kernels *kern, struct istate *s,
			       const float *q, size_t l, const struct vp_fctx *fc)
{
	for (uint64_t p = v->offsets[l]; p < v->offsets[l + 1]; p++) {
		const float *x = vp_ivf_row(v, p);
		float dd;
		if (fc && !vp_fctx_match(fc, v->ids[p]))
			continue;
		s->matched++;
		/* partial distances, as the unfiltered scan keeps them */
		dd = v->metric == VP_METRIC_L2
			     ? v->norms[p] - 2.0f * kern->dot(q, x, v->d)
			     : -kern->dot(q, x, v->d);
		vp_topk_push(&s->heap, dd, (int64_t)p);
	}
}

/* Decodes SQ8 codes c of n rows into x (min + step x code), and their
 * squared norms into xn when not NULL. */
static void sq8_decode(const struct vp_ivf *v, const uint8_t *c, size_t n, float *x, float *xn)
{
	const size_t d = v->d;
	for (size_t r = 0; r < n; r++) {
		float *o = x + r * d, nn = 0;
		for (size_t j = 0; j < d; j++) {
			o[j] = v->sq8_min[j] + v->sq8_step[j] * (float)c[r * d + j];
			nn += o[j] * o[j];
		}
		if (xn)
			xn[r] = nn;
	}
}

/* The exact distance of list position p (IVF_FLAT: to the row; IVF_SQ8:
 * to the row its code decodes to), as the per-query scan and the batch
 * report it: computed again from the query and the row, so that a result
 * does not depend on which kernel (one query, or a block of them) ranked
 * it.  dec: d floats of scratch. */
static float row_exact(const struct vp_ivf *v, const struct vp_kernels *kern,
		       const float *q, uint64_t p, float *dec)
{
	const float *x = v->type == VP_TYPE_IVF_FLAT ? vp_ivf_row(v, p) : NULL;
	if (v->type == VP_TYPE_IVF_SQ8) {
		sq8_decode(v, v->data + p * v->d, 1, dec, NULL);
		x = dec;
	}
	return v->metric == VP_METRIC_L2 ? kern->l2(q, x, v->d)
		: vp_flat_dist(v->metric, -kern->dot(q, x, v->d), 0);
}

/* The query prepared for SQ8 codes (IVF_SQ8's lists, SCANN's keep=sq8
 * reorder), into s->qp and s->w; returns the constant term.
 * L2: sum step^2 (qs - c)^2 with qs = (q - min) / step; a dimension of
 * step 0 is a constant (q - min)^2.  IP: <q, min> + sum (q step) c. */
static float sq8_prepare(const struct vp_ivf *v, const float *q, struct istate *s)
{
	float cst = 0;
	for (size_t j = 0; j < v->d; j++) {
		float st = v->sq8_step[j], df = q[j] - v->sq8_min[j];
		if (v->metric == VP_METRIC_L2) {
			if (st > 0) {
				s->qp[j] = df / st;
				s->w[j] = st * st;
			} else {
				s->qp[j] = 0;
				s->w[j] = 0;
				cst += df * df;
			}
		} else {
			s->qp[j] = q[j] * st;
			cst += q[j] * v->sq8_min[j];
		}
	}
	return cst;
}

/* IVF_SQ8's integer scan (returns 1 when it applies, with the constant
 * term in *cst): the query's weights on the codes, u = 2 step
 * (q - min) for L2 (the rest of the distance is sum (q - min)^2 and the
 * row's stored sum step^2 c^2), q step for inner product, quantized to 16
 * bits with one scale (vp_sq8_qmax).  Each term is within half a scale
 * step: the sums are exact to about 1e-5 of their size, as a float sum's
 * rounding; the results' distances are recomputed exactly.  Files built
 * before this scan have no norms (section ivf_norms) and scan in floats. */
static int sq8_prepare_int(const struct vp_ivf *v, const float *q, struct istate *s,
			   float *cst)
{
	const size_t d = v->d;
	const int l2 = v->metric == VP_METRIC_L2;
	double qc = 0, ip = 0;
	float mx = 0, inv;
	s->qint = 0;
	for (size_t j = 0; j < d; j++) {
		float df = q[j] - v->sq8_min[j];
		float u = l2 ? 2.0f * v->sq8_step[j] * df : q[j] * v->sq8_step[j];
		s->qp[j] = u;
		qc += (double)df * df;
		if (!l2)
			ip += (double)q[j] * v->sq8_min[j];
		mx = fabsf(u) > mx ? fabsf(u) : mx;
	}
	/* a query or quantizer out of float range: the float scan */
	if (!isfinite(mx) || !isfinite((float)qc) || !isfinite((float)ip))
		return 0;
	/* weights too small to scale (1/scale would overflow) count as 0 */
	s->qa = mx > 1e-30f ? mx / (float)vp_sq8_qmax(d) : 0;
	inv = mx > 1e-30f ? 1.0f / s->qa : 0;
	for (size_t j = 0; j < d; j++) {
		long r = lrintf(s->qp[j] * inv);
		s->qi[j] = (int16_t)(r > 32767 ? 32767 : r < -32767 ? -32767 : r);
	}
	s->qc = (float)qc;
	*cst = (float)ip; /* inner product: <q, min>, as sq8_prepare's */
	s->qint = 1;
	return 1;
}

/* IVF_FLAT's screen, prepared once a query (returns 0 where the integer
 * scan does not apply: the float scan then runs).  The integer sum differs
 * from the exact sum over the decoded row by at most seps: each weight is
 * within 0.51 of a scale step of its value (half a step, and the float
 * rounding of u / step), and the weights' own float rounding is 1.2e-7 of
 * the largest; the codes sum to at most 255 d. */
static int screen_prepare(const struct vp_ivf *v, const float *q, struct istate *s,
			  float qn, float *cst)
{
	const size_t d = v->d;
	float mx;
	if (!sq8_prepare_int(v, q, s, cst))
		return 0;
	mx = s->qa * (float)vp_sq8_qmax(d);
	s->seps = (0.51f * s->qa + 1.2e-7f * mx) * 255.0f * (float)d;
	s->qnrm = sqrtf(qn);
	/* a float kernel's sum of d products is within about d x 6e-8 of
	 * the exact one (relative to the sum of their sizes) */
	s->krel = 1e-4f + 1.2e-7f * (float)d;
	s->ncand = 0;
	return isfinite(s->seps) && isfinite(s->qnrm);
}

/* The candidates scored exactly into s->fin, by lower bound, until the
 * next bound is past the k-th exact distance.  Rows are read only here. */
static int scand_cmp(const void *a, const void *b)
{
	const struct scand *x = a, *y = b;
	return x->lb < y->lb ? -1 : x->lb > y->lb ? 1 : (x->p > y->p) - (x->p < y->p);
}

static void screen_score(const struct vp_ivf *v, const struct vp_kernels *kern,
			 struct istate *s, const float *q)
{
	float tau = vp_topk_bound(&s->heap);
	size_t n = 0;
	/* what the upper bounds left out since it was held */
	for (size_t i = 0; i < s->ncand; i++)
		if (s->cand[i].lb <= tau)
			s->cand[n++] = s->cand[i];
	qsort(s->cand, n, sizeof *s->cand, scand_cmp);
	/* about k of them are scored (10.2 a query at k=10 on Fashion-MNIST):
	 * those not in memory are asked for together, not faulted in turn;
	 * the access log names every row asked for, scored or not: each was
	 * read, and a warm-up plans what the log names */
	size_t asked = n < s->fin.k + 4 ? n : s->fin.k + 4;
	for (size_t i = 0; i < asked; i++) {
		vp_prefetch(&v->pf, vp_ivf_row(v, s->cand[i].p), v->d * 4);
		vp_trace_row(s->rt, s->cand[i].p);
	}
	for (size_t i = 0; i < n && i < 4; i++)
		__builtin_prefetch(vp_ivf_row(v, s->cand[i].p));
	for (size_t i = 0; i < n; i++) {
		const float *r = vp_ivf_row(v, s->cand[i].p);
		float key;
		if (s->cand[i].lb > vp_topk_bound(&s->fin))
			break;
		if (i + 4 < n)
			__builtin_prefetch(vp_ivf_row(v, s->cand[i + 4].p));
		key = v->metric == VP_METRIC_L2 ? kern->l2(q, r, v->d) : -kern->dot(q, r, v->d);
		vp_topk_push(&s->fin, key, (int64_t)s->cand[i].p);
		if (i >= asked)
			vp_trace_row(s->rt, s->cand[i].p);
	}
	s->ncand = 0;
}

/* IVF_FLAT's screen over list l: each row's distance bounded from its
 * code, |q - x^| -+ |x - x^| with |q - x^|^2 from the integer scan (L2),
 * <q, x^> -+ |q| |x - x^| (inner product; cst is <q, min>), widened by
 * the float kernels' error.  The upper bounds keep the k-th smallest in
 * s->heap; a row whose lower bound is not past it is held to be scored. */
static void screen_list(const struct vp_ivf *v, const struct vp_kernels *kern,
			struct istate *s, const float *q, size_t l, float cst,
			const struct vp_fctx *fc)
{
	const size_t d = v->d;
	const int l2 = v->metric == VP_METRIC_L2;
	const float kr = s->krel;
	float tau = vp_topk_bound(&s->heap);
	for (uint64_t p = v->offsets[l]; p < v->offsets[l + 1]; p++) {
		float est, e = v->serr[p], lb, ub;
		if (fc && !vp_fctx_match(fc, v->ids[p]))
			continue;
		s->matched++;
		est = s->qa * (float)kern->sq8_idot(s->qi, v->scodes + p * d, d);
		if (!(e >= 0))
			e = INFINITY; /* a hostile file's: no bound */
		if (l2) {
			float dd = s->qc + v->snorms[p] - est;
			float m = s->seps + 1e-6f * (s->qc + fabsf(v->snorms[p]) + fabsf(est));
			float lo = dd - m, r = (lo > 0 ? sqrtf(lo) : 0) - e;
			float ru = sqrtf(dd + m > 0 ? dd + m : 0) + e;
			lb = r > 0 ? r * r * (1.0f - kr) : 0;
			ub = ru * ru * (1.0f + kr);
		} else {
			float g = cst + est, ke = kr * s->qnrm * sqrtf(fabsf(v->norms[p]));
			float m = s->seps + 1e-6f * (fabsf(cst) + fabsf(est)) + s->qnrm * e + ke;
			lb = -(g + m);
			ub = -(g - m);
		}
		if (isnan(lb) || isnan(ub)) {
			lb = -INFINITY; /* hostile norms: scored, never bounded */
			ub = INFINITY;
		}
		if (ub < tau) {
			vp_topk_push(&s->heap, ub, (int64_t)p);
			tau = vp_topk_bound(&s->heap);
		}
		if (lb <= tau) {
			if (s->ncand == SCREEN_CAND)
				screen_score(v, kern, s, q);
			s->cand[s->ncand++] = (struct scand){ lb, (uint32_t)p };
		}
	}
}

/* One query.  cdot: its dot products with the centroids when the caller
 * computed them with other queries' (NULL: computed here; the same bits
 * either way, vp_kernels' dot_block) */
static void search_one(const struct vp_ivf *v, const struct vp_kernels *kern,
		       struct istate *s, const float *q, const float *cdot, size_t k,
		       size_t nprobe, size_t refine, const struct vp_fctx *fc,
		       uint32_t *trace, float *dist, int64_t *ids)
{
	const size_t d = v->d;
	size_t np, got;
	float qn = kern->dot(q, q, d), cst = 0;
	int scr = 0; /* IVF_FLAT's screen is used */

	/* coarse: the nprobe centroids nearest in L2 */
	if (!cdot) {
		kern->dot_block(q, 1, v->centroids, v->nlist, d, s->c, v->nlist);
		cdot = s->c;
	}
	vp_topk_reset(&s->coarse);
	for (size_t l = 0; l < v->nlist; l++)
		vp_topk_push(&s->coarse, v->cnorms[l] - 2.0f * cdot[l], (int64_t)l);
	np = vp_topk_extract(&s->coarse, s->cd, s->ci);
	vp_topk_reset(&s->heap);
	if (trace)
		for (size_t i = 0; i < np; i++)
			trace[1 + i] = (uint32_t)s->ci[i];

	/* Under a filter the coarse list holds every centroid, in order, and
	 * probing goes past nprobe until the lists seen hold enough passing
	 * entries: a filter correlated with the clusters (a class label) then
	 * still finds its nearest matches, where a fixed nprobe would not. */
	s->matched = 0;
	if (v->type == VP_TYPE_IVF_SQ8) {
		/* one preparation a query: the integer scan's (files with the
		 * codes' norms), else the float's */
		if (!v->norms || !sq8_prepare_int(v, q, s, &cst))
			cst = sq8_prepare(v, q, s);
	} else if (v->scodes) {
		scr = screen_prepare(v, q, s, qn, &cst);
		vp_topk_reset(&s->fin);
	} else if (v->codebooks) {
		pq_query_table(v, kern, q, v->l2tab ? s->w2 : s->table);
		if (v->boff) {
			/* SCANN: the query part's ranges, once a query */
			vp_pq4_ranges(v->l2tab ? s->w2 : s->table, v->m, s->alo, s->arng);
			/* one quantized table a query: inner product, and L2
			 * with the entries' own biases (pq4_bias) */
			if (!v->l2tab || v->pbmin) {
				s->qscale = vp_pq4_plan(s->alo, s->arng, v->m, &s->qbias);
				kern->pq4_quant(v->l2tab ? s->w2 : s->table, NULL, s->alo, v->m,
						s->qscale, s->qlut);
			}
		}
	}
	{
		struct vp_flat f = { (const float *)v->data, v->norms, v->n, d,
				     v->metric, 0, NULL };
		const size_t tn = v->m * v->ksub, need = fc && fc->f ? 10 * s->k : 0;
		size_t i = 0;
		for (; i < np; i++) {
			size_t l = (size_t)s->ci[i];
			if (i >= nprobe && s->matched >= need) {
				/* stop once the next centroid is farther than the
				 * k-th result: with a filter, the nearest matches
				 * may lie beyond the nprobe nearest lists */
				float kth = vp_topk_bound(&s->heap), cfull = s->cd[i] + qn;
				if (v->type == VP_TYPE_IVF_FLAT && v->metric == VP_METRIC_L2 && !scr)
					kth += qn; /* the scan's partial distances */
				/* deletes alone do not move the nearest live
				 * rows: nprobe lists, as without them */
				if (!fc || !fc->f || v->metric != VP_METRIC_L2 ||
				    cfull >= 1.5f * kth)
					break;
			}
			if (scr) {
				screen_list(v, kern, s, q, l, cst, fc);
			} else if (v->type == VP_TYPE_IVF_FLAT) {
				if (fc || v->fpos)
					scan_flat_filtered(v, kern, s, q, l, fc);
				else
					vp_flat_scan1(&f, q, v->offsets[l], v->offsets[l + 1],
						      &s->heap, s->c);
			} else if (v->type == VP_TYPE_IVF_SQ8) {
				scan_sq8(v, kern, s, l, cst, fc);
			} else {
				float pc;
				const float *pt = NULL;
				if (v->l2tab) {
					/* |q - c|^2 is the coarse distance, plus |q|^2 */
					pt = v->ptab + l * tn;
					pc = s->cd[i] + qn;
				} else
					pc = -kern->dot(q, v->centroids + l * d, d);
				if (v->boff) {
					if (pt && !v->pbmin)
						scann_table(v, kern, s, l);
					scan_pq4(v, kern, s, l, pc, fc);
				} else {
					for (size_t j = 0; pt && j < tn; j++)
						s->table[j] = s->w2[j] + pt[j];
					scan_pq(v, s, l, pc, fc);
				}
			}
		}
		if (trace)
			trace[0] = (uint32_t)i;
	}
	if (scr) {
		/* the held rows scored exactly: the float scan's answers */
		screen_score(v, kern, s, q);
		got = vp_topk_extract(&s->fin, dist, ids);
		for (size_t r = 0; r < got; r++) {
			if (v->metric != VP_METRIC_L2)
				dist[r] = vp_flat_dist(v->metric, dist[r], 0);
			ids[r] = v->id_base + v->ids[ids[r]];
		}
		vp_topk_sort_pad(dist, ids, got, k);
		return;
	}
	got = vp_topk_extract(&s->heap, s->rd, s->ri);
	if (v->codebooks && refine > 0 && v->keep != VP_SCANN_KEEP_NONE) {
		/* re-rank the PQ candidates with exact distances (SCANN:
		 * to the SQ8 decoding when that is what it kept) */
		float c8 = v->sq8_codes ? sq8_prepare(v, q, s) : 0;
		vp_topk_reset(&s->fin);
		/* the rows are far apart in the file: ask for all of them
		 * before the first distance, so their misses overlap (those
		 * not in memory, from the disk; the access log names them) */
		for (size_t r = 0; r < got; r++) {
			const char *x = v->vectors ? (const char *)(v->vectors + (size_t)v->ids[s->ri[r]] * d)
						   : (const char *)(v->sq8_codes + (size_t)v->ids[s->ri[r]] * d);
			vp_trace_row(s->rt, v->ids[s->ri[r]]);
			vp_prefetch(&v->pf, x, v->vectors ? d * 4 : d);
			if (v->boff) {
				__builtin_prefetch(x);
				__builtin_prefetch(x + 64);
				__builtin_prefetch(x + 128);
				__builtin_prefetch(x + 192);
			}
		}
		for (size_t r = 0; r < got; r++) {
			uint32_t row = v->ids[s->ri[r]];
			vp_topk_push(&s->fin, v->boff ? scann_exact(v, kern, s, q, row, c8)
				     : vp_distance(v->metric, q, v->vectors + (size_t)row * d, d),
				     (int64_t)row);
		}
		got = vp_topk_extract(&s->fin, dist, ids);
		for (size_t r = 0; r < got; r++)
			ids[r] += v->id_base;
	} else {
		if (got > k)
			got = k;
		for (size_t r = 0; r < got; r++) {
			float dd = s->rd[r];
			if (!v->codebooks)
				dd = row_exact(v, kern, q, (uint64_t)s->ri[r], s->dec);
			else if (v->metric == VP_METRIC_COSINE && v->l2tab)
				dd = dd > 0 ? dd / 2 : 0; /* |q - x|^2 / 2 */
			else if (v->metric == VP_METRIC_COSINE)
				dd += 1.0f;
			else if (v->metric == VP_METRIC_L2 && dd < 0)
				dd = 0;
			dist[r] = dd;
			ids[r] = v->id_base + v->ids[s->ri[r]];
		}
		/* exact distances, so the order as the batch has it */
		if (!v->codebooks) {
			vp_topk_sort_pad(dist, ids, got, k);
			return;
		}
	}
	for (size_t r = got; r < k; r++) {
		dist[r] = INFINITY;
		ids[r] = -1;
	}
}

static int bylist_ready(struct istate *s, const struct vp_ivf *v, size_t np)
{
	if (!s->bh) {
		s->bh = calloc(VP_IVF_BLOCK, sizeof *s->bh);
		if (!s->bh)
			return -1;
		for (size_t i = 0; i < VP_IVF_BLOCK; i++)
			if (vp_topk_init(&s->bh[i], s->k))
				return -1;
		s->bcnt = malloc((v->nlist + 1) * sizeof *s->bcnt);
		s->bqv = malloc(VP_IVF_LISTQ * v->d * sizeof *s->bqv);
		s->bc = malloc(VP_IVF_LISTQ * VP_FLAT_XBLOCK * sizeof *s->bc);
		if (v->type == VP_TYPE_IVF_SQ8) {
			s->bx = malloc(VP_FLAT_XBLOCK * v->d * sizeof *s->bx);
			s->bxn = malloc(VP_FLAT_XBLOCK * sizeof *s->bxn);
		}
		if (!s->bcnt || !s->bqv || !s->bc ||
		    (v->type == VP_TYPE_IVF_SQ8 && (!s->bx || !s->bxn)))
			return -1;
	}
	if (np > s->bnp) {
		free(s->bprobe);
		free(s->bq);
		s->bprobe = malloc(VP_IVF_BLOCK * np * sizeof *s->bprobe);
		s->bq = malloc(VP_IVF_BLOCK * np * sizeof *s->bq);
		if (!s->bprobe || !s->bq)
			return -1;
		s->bnp = np;
	}
	return 0;
}

/* IVF_FLAT and IVF_SQ8, unfiltered, nb queries at once ("by list", as
 * FAISS can order a batch): each query's nprobe lists are found, the
 * queries are grouped by list, and every list is read once for all the
 * queries that probe it, VP_IVF_LISTQ at a time through the register-tiled
 * GEMM kernel: a list's rows come from memory once per block instead of
 * once per query, which turns the scan from memory-bound to compute-bound.
 * SQ8 rows are decoded a block at a time, once for all those queries. */
static void search_bylist(const struct vp_ivf *v, const struct vp_kernels *kern,
			  struct istate *s, const float *q, size_t nb, size_t k,
			  size_t np, const struct vp_fctx *fc, uint32_t *trace,
			  size_t tstride, float *dist, int64_t *ids)
{
	const size_t d = v->d, nlist = v->nlist;

	/* coarse: the np nearest centroids of each query, their dot products
	 * a block of queries at a time */
	const size_t cq = coarse_q(nlist);
	for (size_t i = 0; i < nb; i++) {
		size_t got;
		const float *cdot = s->cblk + (i % cq) * nlist;
		if (i % cq == 0)
			kern->dot_block(q + i * d, nb - i < cq ? nb - i : cq, v->centroids, nlist, d,
					s->cblk, nlist);
		vp_topk_reset(&s->coarse);
		for (size_t l = 0; l < nlist; l++)
			vp_topk_push(&s->coarse, v->cnorms[l] - 2.0f * cdot[l], (int64_t)l);
		got = vp_topk_extract(&s->coarse, s->cd, s->bprobe + i * np);
		for (size_t r = got; r < np; r++)
			s->bprobe[i * np + r] = -1;
		if (trace) {
			trace[i * tstride] = (uint32_t)got;
			for (size_t r = 0; r < got; r++)
				trace[i * tstride + 1 + r] = (uint32_t)s->bprobe[i * np + r];
		}
		vp_topk_reset(&s->bh[i]);
	}
	/* group the queries by list: counting sort */
	memset(s->bcnt, 0, (nlist + 1) * sizeof *s->bcnt);
	for (size_t i = 0; i < nb * np; i++)
		if (s->bprobe[i] >= 0)
			s->bcnt[s->bprobe[i] + 1]++;
	for (size_t l = 0; l < nlist; l++)
		s->bcnt[l + 1] += s->bcnt[l];
	for (size_t i = 0; i < nb; i++)
		for (size_t r = 0; r < np; r++) {
			int64_t l = s->bprobe[i * np + r];
			if (l >= 0)
				s->bq[s->bcnt[l]++] = (uint32_t)i;
		}
	/* bcnt[l] now ends list l's queries; walk the lists back to front */
	for (size_t l = nlist; l-- > 0;) {
		uint32_t qe = s->bcnt[l], qb = l ? s->bcnt[l - 1] : 0;
		uint64_t lo = v->offsets[l], hi = v->offsets[l + 1];
		/* a relayout's rows are two runs a list (vp_ivf.h), its read
		 * entries' and the others' */
		uint64_t cut = v->fpos ? lo + v->hotn[l] : lo;
		for (int part = 0; v->scodes && qe > qb && part < 2; part++) {
			/* the rows are mapped for scattered reads (vp_ivf_open):
			 * a list read whole is asked for whole */
			uint64_t a0 = part ? cut : lo, a1 = part ? hi : cut;
			if (a1 > a0) {
				const unsigned char *r = (const unsigned char *)vp_ivf_row(v, a0);
				uintptr_t a = (uintptr_t)r & v->pgmask;
				madvise((void *)a, (uintptr_t)(r + (a1 - a0) * d * 4) - a, MADV_WILLNEED);
			}
		}
		for (uint32_t q0 = qb; q0 < qe && lo < hi; q0 += VP_IVF_LISTQ) {
			size_t nql = qe - q0 < VP_IVF_LISTQ ? qe - q0 : VP_IVF_LISTQ;
			for (size_t t = 0; t < nql; t++)
				memcpy(s->bqv + t * d, q + (size_t)s->bq[q0 + t] * d, d * sizeof *q);
			for (uint64_t j0 = lo; j0 < hi;) {
				/* blocks within one run of rows */
				uint64_t end = j0 < cut ? cut : hi;
				size_t nx = end - j0 < VP_FLAT_XBLOCK ? (size_t)(end - j0) : VP_FLAT_XBLOCK;
				const float *x = v->type == VP_TYPE_IVF_FLAT ? vp_ivf_row(v, j0) : NULL,
					    *xn = NULL;
				if (v->type == VP_TYPE_IVF_SQ8) {
					sq8_decode(v, v->data + j0 * d, nx, s->bx,
						   v->metric == VP_METRIC_L2 ? s->bxn : NULL);
					x = s->bx;
					xn = v->metric == VP_METRIC_L2 ? s->bxn : NULL;
				} else if (v->metric == VP_METRIC_L2)
					xn = v->norms + j0;
				kern->dot_block(s->bqv, nql, x, nx, d, s->bc, VP_FLAT_XBLOCK);
				for (size_t t = 0; t < nql; t++) {
					struct vp_topk *h = &s->bh[s->bq[q0 + t]];
					const float *c = s->bc + t * VP_FLAT_XBLOCK;
					float bound = vp_topk_bound(h);
					for (size_t j = 0; j < nx; j++) {
						float key = xn ? xn[j] - 2.0f * c[j] : -c[j];
						if (key <= bound &&
						    (!fc || vp_fctx_match(fc, v->ids[j0 + j]))) {
							vp_topk_push(h, key, (int64_t)(j0 + j));
							bound = vp_topk_bound(h);
						}
					}
				}
				j0 += nx;
			}
		}
	}
	/* exact distances of what each query kept, ascending */
	for (size_t i = 0; i < nb; i++) {
		float *dd = dist + i * k;
		int64_t *ii = ids + i * k;
		size_t got = vp_topk_extract(&s->bh[i], dd, ii);
		/* the access log: this batch read whole lists, but one query
		 * at a time on the screen would read about its results' rows */
		uint32_t *rt = v->scodes ? vp_trace_rows(trace ? trace + i * tstride : NULL, tstride)
					 : NULL;
		for (size_t r = 0; r < got; r++) {
			vp_trace_row(rt, (uint32_t)ii[r]);
			dd[r] = row_exact(v, kern, q + i * d, (uint64_t)ii[r], s->dec);
			ii[r] = v->id_base + v->ids[ii[r]];
		}
		vp_topk_sort_pad(dd, ii, got, k);
	}
}

int vp_ivf_search(const struct vp_ivf *v, struct vp_ivf_pool *pool,
		  const float *q, size_t nq, size_t k, size_t nprobe,
		  size_t refine, int threads, const struct vp_fctx *fc,
		  float *dist, int64_t *ids, struct vp_error *err)
{
	const struct vp_kernels *kern = vp_kernels();
	size_t kk = k, np = nprobe < v->nlist ? nprobe : v->nlist;
	int nt;

	if (v->codebooks && refine > k)
		kk = refine;
	/* filtered: rank every list, probe adaptively (see search_one);
	 * deletes alone (fc->f NULL) probe the nprobe lists, skipping them */
	size_t ncoarse = fc && fc->f ? v->nlist : np;
	if (threads < 1)
		threads = 1;
	nt = nq < (size_t)threads ? (int)nq : threads;
	if (nt < 1)
		return 0;
	/* the scratch depends on k, refine and nprobe: remake when they change */
	if (pool->nthreads && ((struct istate *)pool->per_thread[0])->k != kk)
		vp_ivf_pool_release(pool);
	if (pool->nthreads && (((struct istate *)pool->per_thread[0])->coarse.k != ncoarse ||
			       ((struct istate *)pool->per_thread[0])->fin.k != k))
		vp_ivf_pool_release(pool);
	if (pool->nthreads < nt) {
		void **a = realloc(pool->per_thread, (size_t)nt * sizeof *a);
		if (!a)
			return vp_seterr(err, VP_E_NOMEM, "out of memory");
		pool->per_thread = a;
		for (int t = pool->nthreads; t < nt; t++) {
			if (!(a[t] = istate_new(v, kk, k, ncoarse)))
				return vp_seterr(err, VP_E_NOMEM, "out of memory");
			pool->nthreads = t + 1;
		}
	}
	/* blocks of queries, each thread its own: no heap is shared */
	size_t bs = (nq + (size_t)nt - 1) / (size_t)nt;
	bs = bs < VP_IVF_BYLIST_MIN ? VP_IVF_BYLIST_MIN : bs > VP_IVF_BLOCK ? VP_IVF_BLOCK : bs;
	/* SQ8 decodes a list's block once for the queries probing it: with
	 * fewer than VP_IVF_SQ8_SHARE of them on average the per-query scan of
	 * the codes is faster (measured: 1M x 128, nlist 1024, 1000 queries
	 * on one thread: 12.3k against 32.1k QPS at 1 a list, equal at 4, 1.7x
	 * at 16 the other way); IVF_FLAT pays no decode and gains from 1 */
	if (!v->codebooks && (!fc || !fc->f) && nq >= VP_IVF_BYLIST_MIN &&
	    (v->type == VP_TYPE_IVF_FLAT || bs * np >= VP_IVF_SQ8_SHARE * v->nlist)) {
		size_t nblk;
		int failed = 0;
		nblk = (nq + bs - 1) / bs;
		for (int t = 0; t < nt; t++)
			if (bylist_ready(pool->per_thread[t], v, np))
				return vp_seterr(err, VP_E_NOMEM, "out of memory");
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1) reduction(| : failed)
		for (size_t b = 0; b < nblk; b++) {
			int t = 0;
			size_t i0 = b * bs, n = nq - i0 < bs ? nq - i0 : bs;
#ifdef _OPENMP
			t = omp_get_thread_num();
#endif
			search_bylist(v, kern, pool->per_thread[t], q + i0 * v->d, n, k, np, fc,
				      pool->trace ? pool->trace + i0 * pool->tstride : NULL,
				      pool->tstride, dist + i0 * k, ids + i0 * k);
		}
		return failed ? vp_seterr(err, VP_E_NOMEM, "out of memory") : 0;
	}
	/* chunks of queries whose coarse dot products are one GEMM (no more
	 * than a thread's share: a small batch still spreads) */
	size_t cq = coarse_q(v->nlist), share = (nq + (size_t)nt - 1) / (size_t)nt;
	if (cq > share)
		cq = share;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
	for (size_t c = 0; c < (nq + cq - 1) / cq; c++) {
		int t = 0;
		size_t i0 = c * cq, n = nq - i0 < cq ? nq - i0 : cq;
		struct istate *st;
#ifdef _OPENMP
		t = omp_get_thread_num();
#endif
		st = pool->per_thread[t];
		if (n > 1)
			kern->dot_block(q + i0 * v->d, n, v->centroids, v->nlist, v->d, st->cblk,
					v->nlist);
		for (size_t i = i0; i < i0 + n; i++) {
			uint32_t *tr = pool->trace ? pool->trace + i * pool->tstride : NULL;
			st->rt = vp_trace_rows(tr, pool->tstride);
			search_one(v, kern, st, q + i * v->d,
				   n > 1 ? st->cblk + (i - i0) * v->nlist : NULL, k, np, refine, fc,
				   tr, dist + i * k, ids + i * k);
		}
	}
	return 0;
}
