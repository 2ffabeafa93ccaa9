/*
 * vp_fam_ivf: the rows of the IVF family (vp_family.h): IVF_FLAT, IVF_SQ8,
 * IVF_PQ and SCANN share their build, open, search, plans and tune ranges,
 * and differ in the codes the lists hold.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vp_alog.h"
#include "vp_build.h"
#include "vp_dist.h"
#include "vp_family.h"
#include "vp_warm.h"
#include "vp_ivf.h"
#include "vp_pq4.h"
#include "vp_search.h"
#include "vp_tune.h"

static int ivf_build(struct vp_family_build *b, struct vp_error *err)
{
	const struct vp_build_opts *o = b->o;
	struct vp_ivf_built v;
	size_t nl = (size_t)o->params.val[VP_P_NLIST];
	uint32_t seg = b->seg, dim = b->dim;
	int rc = vp_ivf_build(b->data, b->n, dim, o->type, o->metric, nl,
			      (size_t)o->params.val[VP_P_PQ_M],
			      (int)o->params.val[VP_P_KEEP],
			      (double)o->params.val[VP_P_ANISO] / vp_param_scale(VP_P_ANISO), o->threads,
			      o->seed + seg, &v, err);
	if (rc)
		return rc;
	/* IVF_FLAT's screen (quant=sq8, auto from 64 dimensions, as HNSW's
	 * traversal codes): a quarter of the bytes read a query */
	if (o->type == VP_TYPE_IVF_FLAT &&
	    vp_hnsw_quant_resolve(o->params.val[VP_P_QUANT], dim) == VP_HNSW_QUANT_SQ8 &&
	    (rc = vp_ivf_screen(b->data, b->n, dim, o->threads, &v, err))) {
		vp_ivf_built_release(&v);
		return rc;
	}
	if (o->type == VP_TYPE_IVF_PQ || o->type == VP_TYPE_SCANN)
		b->params[VP_P_PQ_M] = v.m;  /* resolved from 0 (auto) */
	/* every array becomes an owned section, freed with the build;
	 * SCANN keeps the rows themselves (by row) for its reorder */
	if ((o->type == VP_TYPE_SCANN && o->params.val[VP_P_KEEP] == VP_SCANN_KEEP_ORIGINALS &&
	     b->add(b->ctx, "vectors", seg, 4096, b->data, (uint64_t)b->n * dim * 4, 0)) ||
	    b->add(b->ctx, "ivf_centroids", seg, 64, v.centroids, (uint64_t)nl * dim * 4, 1) ||
	    b->add(b->ctx, "ivf_offsets", seg, 64, v.offsets, (nl + 1) * 8, 1) ||
	    b->add(b->ctx, "ivf_ids", seg, 64, v.ids, b->n * 4, 1) ||
	    b->add(b->ctx, "ivf_data", seg, 4096, v.data, v.data_bytes, 1) ||
	    (v.norms && b->add(b->ctx, "ivf_norms", seg, 64, v.norms, b->n * 4, 1)) ||
	    (v.sq8_min && b->add(b->ctx, "sq8_min", seg, 64, v.sq8_min, dim * 4, 1)) ||
	    (v.sq8_step && b->add(b->ctx, "sq8_step", seg, 64, v.sq8_step, dim * 4, 1)) ||
	    (v.sq8_codes && b->add(b->ctx, "sq8_codes", seg, 64, v.sq8_codes,
				   (uint64_t)b->n * dim, 1)) ||
	    (v.pq4_bias && b->add(b->ctx, "pq4_bias", seg, 64, v.pq4_bias,
				  (uint64_t)b->n * 4, 1)) ||
	    (v.scodes && b->add(b->ctx, "ivf_screen", seg, 4096, v.scodes,
				(uint64_t)b->n * dim, 1)) ||
	    (v.snorms && b->add(b->ctx, "screen_norms", seg, 64, v.snorms,
				(uint64_t)b->n * 4, 1)) ||
	    (v.serr && b->add(b->ctx, "screen_err", seg, 64, v.serr, (uint64_t)b->n * 4, 1)) ||
	    (v.codebooks && o->type == VP_TYPE_IVF_PQ &&
	     b->add(b->ctx, "pq_codebooks", seg, 64, v.codebooks,
		    (uint64_t)dim * VP_PQ_KSUB * 4, 1)) ||
	    (v.codebooks && o->type == VP_TYPE_SCANN &&
	     b->add(b->ctx, "pq4_codebooks", seg, 64, v.codebooks,
		    (uint64_t)dim * VP_PQ4_KSUB * 4, 1)))
		return vp_seterr(err, VP_E_NOMEM, "out of memory");
	return 0;
}

static int ivf_open(struct vp_searcher *s, uint32_t seg, struct vp_error *err)
{
	struct vp_segment *g = &s->seg[seg];
	int rc = vp_ivf_open(&g->ivf, &s->ix, seg, g->meta.count, err);
	if (rc)
		return rc;
	g->ivf.id_base = (int64_t)g->meta.id_base;
	g->vectors = g->ivf.vectors;
	return 0;
}

static void ivf_close(struct vp_segment *g)
{
	vp_ivf_pool_release(&g->ipool);
	vp_ivf_close(&g->ivf);
}

/* SCANN's candidates re-ranked: reorder_k, 0 for VP_SCANN_REORDER_AUTO x k,
 * at least k; none where nothing was kept to re-rank with */
static size_t scann_reorder(const struct vp_ivf *v, const struct vp_param_set *ps, size_t k)
{
	size_t r = (size_t)ps->val[VP_P_REORDER];
	if (v->keep == VP_SCANN_KEEP_NONE)
		return 0;
	if (r == 0)
		r = VP_SCANN_REORDER_AUTO * k;
	return r < k ? k : r;
}

static int ivf_search(struct vp_searcher *s, struct vp_segment *g, const float *q,
		      size_t nq, size_t k, const struct vp_param_set *ps, int threads,
		      const struct vp_fctx *fc, int plan, int64_t wide, float *dist,
		      int64_t *ids, struct vp_error *err)
{
	size_t np = (size_t)ps->val[VP_P_NPROBE];
	(void)s;
	if (fc && plan == VP_PLAN_PREFILTER)
		np = g->ivf.nlist; /* no originals: every list, filtered */
	else if (fc && plan == VP_PLAN_WIDE)
		np = (size_t)wide;
	return vp_ivf_search(&g->ivf, &g->ipool, q, nq, k, np,
			     g->ivf.boff ? scann_reorder(&g->ivf, ps, k)
					 : (size_t)ps->val[VP_P_REFINE],
			     threads, fc, dist, ids, err);
}

/* IVF_FLAT's lists hold its rows: each entry's floats, put back by
 * offset.  The codes of SQ8 are not the originals. */
static int ivf_originals(const struct vp_searcher *s, size_t g, float *out,
			 struct vp_error *err)
{
	const struct vp_ivf *v = &s->seg[g].ivf;
	if (v->vectors) {
		memcpy(out, v->vectors, v->n * v->d * sizeof *out);
		return 0;
	}
	if (v->type != VP_TYPE_IVF_FLAT)
		return vp_seterr(err, VP_E_UNSUPP, "%s: %s keeps codes, not the "
				 "vectors, so it cannot be retrained: rebuild it from "
				 "the input", s->ix.path, vp_index_type_name(v->type));
	for (size_t p = 0; p < v->n; p++)
		memcpy(out + (size_t)v->ids[p] * v->d, vp_ivf_row(v, p), v->d * 4);
	return 0;
}

/* Compaction without retraining: the same centroids (and SQ8 ranges, PQ
 * codebooks), each list without its deleted entries, codes copied as they
 * are, so the answers for live rows do not move.  With heat (a relayout,
 * vp_edit_relayout): the lists the log probed first, each keeping its
 * centroid, and with IVF_FLAT's screen the rows the log read first in
 * their lists, their floats one run at the end of the rows (vp_ivf.h), so
 * that a warm-up's plan (the hot lists' screens, the rows read) is two
 * long runs of the file, where keeping a list's rows together made it a
 * run a pair of lists (125 ranges, 31 MB of Fashion-MNIST's rows read as
 * pieces); "ivf_hot" says how many lists and rows. */
static int ivf_compact(const struct vp_searcher *s, size_t g, const uint32_t *keep,
		       uint64_t nlive, uint32_t seg, int threads, const struct vp_heat *heat,
		       struct vp_sections *out, uint32_t **rows, struct vp_error *err)
{
	const struct vp_ivf *v = &s->seg[g].ivf;
	/* SCANN's codes are taken out of their blocks, then packed again */
	size_t code = v->type == VP_TYPE_IVF_FLAT ? v->d * 4 :
		      v->type == VP_TYPE_IVF_SQ8 ? v->d : v->m;
	size_t bb = v->boff ? vp_pq4_block_bytes(v->m) : 0, nblk = 0;
	uint64_t *off = malloc((v->nlist + 1) * sizeof *off);
	uint32_t *ids = malloc((nlive ? nlive : 1) * sizeof *ids);
	unsigned char *data = malloc(nlive * code + 1), *blk = NULL;
	float *norms = v->norms ? malloc((nlive ? nlive : 1) * sizeof *norms) : NULL;
	float *vecs = v->vectors ? malloc(nlive * v->d * sizeof *vecs + 1) : NULL;
	uint8_t *sq8 = v->sq8_codes ? malloc(nlive * v->d + 1) : NULL;
	float *pb = v->pbias ? malloc((nlive ? nlive : 1) * sizeof *pb) : NULL;
	/* IVF_FLAT's screen: codes, norms and errors by entry, as the rows */
	uint8_t *sc = v->scodes ? malloc(nlive * v->d + 1) : NULL;
	float *sn = v->scodes ? malloc((nlive ? nlive : 1) * 2 * sizeof *sn) : NULL;
	uint64_t q = 0;
	/* list i of the new file is old list lo[i]; hot[0] lists probed, hot[1]
	 * rows read, put together in their lists */
	uint32_t *lo = malloc(v->nlist * sizeof *lo), *hot = calloc(2, sizeof *hot);
	float *cen = heat ? malloc((size_t)v->nlist * v->d * sizeof *cen + 1) : NULL;
	const double *rh = heat && v->type == VP_TYPE_IVF_FLAT ? heat->rows : NULL;
	const double *lh = heat ? heat->lists : NULL;
	/* IVF_FLAT's read rows apart, where one query at a time reads rows
	 * (its screen): "ivf_split" has each list's count */
	int split = rh && v->scodes;
	uint32_t *hn = split ? calloc(v->nlist, sizeof *hn) : NULL;
	size_t w = 0;
	(void)threads;
	*rows = NULL;
	if (!off || !ids || !data || (v->norms && !norms) || (v->vectors && !vecs) ||
	    (v->sq8_codes && !sq8) || (v->pbias && !pb) || (v->scodes && (!sc || !sn)) ||
	    !lo || !hot || (heat && !cen) || (split && !hn)) {
		free(off), free(ids), free(data), free(norms), free(vecs), free(sq8), free(pb);
		free(sc), free(sn), free(lo), free(hot), free(cen), free(hn);
		return vp_seterr(err, VP_E_NOMEM, "out of memory");
	}
	for (int pass = lh ? 0 : 1; pass < 2; pass++)
		for (size_t l = 0; l < v->nlist; l++)
			if (!lh || (lh[l] > 0) == !pass) {
				lo[w++] = (uint32_t)l;
				hot[0] += lh && !pass;
			}
	for (size_t i = 0; cen && i < v->nlist; i++)
		memcpy(cen + i * v->d, v->centroids + (size_t)lo[i] * v->d, v->d * 4);
	for (size_t i = 0; i < v->nlist; i++) {
		size_t l = lo[i];
		uint64_t len = v->offsets[l + 1] - v->offsets[l];
		off[i] = q;
		/* the rows read first (two passes), else one pass in order */
		for (uint64_t t = split ? 0 : len; t < 2 * len; t++) {
			uint64_t p = v->offsets[l] + t % len;
			uint32_t o = keep[v->ids[p]];
			int pass = t >= len;
			if (o == UINT32_MAX || (split && (rh[p] > 0) == pass))
				continue;
			if (split && !pass)
				hn[i]++;
			ids[q] = o;
			if (v->boff)
				for (size_t j = 0; j < v->m; j++)
					data[q * code + j] = vp_pq4_get(v->data + v->boff[l] * bb, v->m,
									 p - v->offsets[l], j);
			else if (v->type == VP_TYPE_IVF_FLAT)
				memcpy(data + q * code, vp_ivf_row(v, p), code);
			else
				memcpy(data + q * code, v->data + p * code, code);
			if (norms)
				norms[q] = v->norms[p];
			if (pb)
				pb[q] = v->pbias[p];
			if (sc) {
				memcpy(sc + q * v->d, v->scodes + p * v->d, v->d);
				sn[q] = v->snorms[p];
				sn[nlive + q] = v->serr[p];
			}
			q++;
		}
		hot[1] += hn ? hn[i] : 0;
		if (v->boff)
			nblk += vp_pq4_blocks(q - off[i]);
	}
	off[v->nlist] = q;
	free(lo);
	if (split) {
		/* the read rows' floats after all the others (vp_ivf.h), the
		 * order vp_ivf_open maps entries by */
		unsigned char *x = malloc(nlive * code + 1);
		uint64_t c = nlive - hot[1], h = 0;
		if (!x) {
			free(off), free(ids), free(data), free(norms), free(sc), free(sn);
			free(hot), free(cen), free(hn);
			return vp_seterr(err, VP_E_NOMEM, "out of memory");
		}
		for (size_t i = 0; i < v->nlist; i++) {
			uint64_t a = off[i], n0 = hn[i], len = off[i + 1] - a;
			memcpy(x + (c + h) * code, data + a * code, n0 * code);
			memcpy(x + (a - h) * code, data + (a + n0) * code, (len - n0) * code);
			h += n0;
		}
		free(data);
		data = x;
	}
	for (size_t r = 0; vecs && r < v->n; r++)
		if (keep[r] != UINT32_MAX)
			memcpy(vecs + (size_t)keep[r] * v->d, v->vectors + r * v->d, v->d * 4);
	for (size_t r = 0; sq8 && r < v->n; r++)
		if (keep[r] != UINT32_MAX)
			memcpy(sq8 + (size_t)keep[r] * v->d, v->sq8_codes + r * v->d, v->d);
	if (v->boff) {
		if (!(blk = malloc(nblk * bb + 1))) {
			free(off), free(ids), free(data), free(norms), free(vecs), free(sq8), free(pb);
			free(sc), free(sn), free(hot), free(cen), free(hn);
			return vp_seterr(err, VP_E_NOMEM, "out of memory");
		}
		nblk = 0;
		for (size_t l = 0; l < v->nlist; l++) {
			vp_pq4_pack(data + off[l] * code, off[l + 1] - off[l], v->m, blk + nblk * bb);
			nblk += vp_pq4_blocks(off[l + 1] - off[l]);
		}
		free(data);
		data = blk;
	}
	if ((vecs && vp_sections_add(out, "vectors", seg, 4096, vecs, nlive * v->d * 4, 1)) ||
	    vp_sections_add(out, "ivf_centroids", seg, 64, cen ? cen : v->centroids,
			    (uint64_t)v->nlist * v->d * 4, cen != NULL) ||
	    vp_sections_add(out, "ivf_offsets", seg, 64, off, (v->nlist + 1) * 8, 1) ||
	    vp_sections_add(out, "ivf_ids", seg, 64, ids, nlive * 4, 1) ||
	    vp_sections_add(out, split ? "ivf_data_split" : "ivf_data", seg, 4096, data,
			    v->boff ? nblk * bb : nlive * code, 1) ||
	    (sq8 && vp_sections_add(out, "sq8_codes", seg, 64, sq8, nlive * v->d, 1)) ||
	    (pb && vp_sections_add(out, "pq4_bias", seg, 64, pb, nlive * 4, 1)) ||
	    (norms && vp_sections_add(out, "ivf_norms", seg, 64, norms, nlive * 4, 1)) ||
	    (sc && vp_sections_add(out, "ivf_screen", seg, 4096, sc, nlive * v->d, 1)) ||
	    (sn && vp_sections_add(out, "screen_norms", seg, 64, sn, nlive * 4, 1)) ||
	    (sn && vp_sections_add(out, "screen_err", seg, 64, sn + nlive, nlive * 4, 0)) ||
	    (v->sq8_min && vp_sections_add(out, "sq8_min", seg, 64, v->sq8_min, v->d * 4, 0)) ||
	    (v->sq8_step && vp_sections_add(out, "sq8_step", seg, 64, v->sq8_step, v->d * 4, 0)) ||
	    (v->codebooks && vp_sections_add(out, v->boff ? "pq4_codebooks" : "pq_codebooks",
					     seg, 64, v->codebooks,
					     (uint64_t)v->d * v->ksub * 4, 0)) ||
	    (heat ? vp_sections_add(out, "ivf_hot", seg, 64, hot, 8, 1) : (free(hot), 0)) ||
	    (split && vp_sections_add(out, "ivf_split", seg, 64, hn, v->nlist * 4, 1)))
		return vp_seterr(err, VP_E_NOMEM, "out of memory");
	return 0;
}

static void ivf_plan(struct vp_searcher *s, const struct vp_filter *f, size_t k,
		     const struct vp_param_set *ps, double sel, double cd, double cf,
		     struct vp_plan_est *est)
{
	double n = (double)s->ix.hdr.count;
	double nlist = (double)s->seg[0].ivf.nlist, np = (double)ps->val[VP_P_NPROBE];
	double L = n / nlist, matches, wide;
	(void)f;
	if (np > nlist)
		np = nlist;
	/* the index plan probes past nprobe until the lists seen hold 10k
	 * passing entries (vp_ivf_search), so its recall holds and its cost
	 * grows as the filter gets selective */
	matches = sel * np * L;
	if (matches < 10.0 * (double)k)
		np = sel > 0 ? 10.0 * (double)k / (sel * L) : nlist;
	np = np < nlist ? ceil(np) : nlist;
	est[VP_PLAN_INDEX].available = 1;
	est[VP_PLAN_INDEX].cost_us = nlist * cd + np * L * (cf + sel * cd);
	est[VP_PLAN_INDEX].recall = 0.95;
	wide = np / (sel > 1e-9 ? sel : 1e-9);
	wide = wide < nlist ? ceil(wide) : nlist;
	est[VP_PLAN_WIDE].available = 1;
	est[VP_PLAN_WIDE].nprobe = (int64_t)wide;
	est[VP_PLAN_WIDE].cost_us = nlist * cd + wide * L * (cf + sel * cd);
	est[VP_PLAN_WIDE].recall = 0.95;
}

static size_t ivf_trace_stride(const struct vp_segment *g)
{
	return 1 + g->ivf.nlist;
}

static void ivf_trace_attach(struct vp_segment *g, uint32_t *t, size_t stride)
{
	g->ipool.trace = t;
	g->ipool.tstride = stride;
}

static void ivf_warm_units(const struct vp_searcher *s, size_t g,
			   struct vp_family_units *info, struct vp_family_unit *u)
{
	const struct vp_ivf *v = &s->seg[g].ivf;
	int type = (int)s->ix.hdr.type;
	size_t code = type == VP_TYPE_IVF_FLAT ? v->d * 4 : type == VP_TYPE_IVF_SQ8 ? v->d : v->m;
	size_t bb = v->boff ? vp_pq4_block_bytes(v->m) : 0;
	/* a unit is a list: its ids, its codes, its norms (and IVF_FLAT's
	 * screen) */
	memset(info, 0, sizeof *info);
	info->rows_range = -1;
	info->rows_range2 = -1;
	info->n = v->nlist;
	info->ext[0] = v->ids;
	info->extlen[0] = v->n * 4;
	info->ext[1] = v->data;
	info->extlen[1] = v->boff ? v->boff[v->nlist] * bb : v->n * code;
	if (v->norms || v->pbias) {
		/* IVF_FLAT's norms, IVF_SQ8's weighted norms, SCANN's biases */
		info->ext[2] = v->norms ? (const void *)v->norms : (const void *)v->pbias;
		info->extlen[2] = v->n * 4;
	}
	if (v->scodes) {
		/* IVF_FLAT's screen: a list's codes, norms and errors */
		info->ext[3] = v->scodes;
		info->extlen[3] = v->n * v->d;
		info->ext[4] = v->snorms;
		info->extlen[4] = v->n * 4;
		info->ext[5] = v->serr;
		info->extlen[5] = v->n * 4;
		/* one query at a time reads only the rows the screen holds */
		info->rows = v->data;
		info->rowbytes = v->d * 4;
		info->nrows = v->n;
		info->rows_range = 1;
		if (v->fpos) {
			/* a relayout's: a list's read rows in the run of them */
			info->rows_range2 = 6;
			info->rowpos = v->fpos;
		}
	} else if (v->codebooks && (v->vectors || v->sq8_codes)) {
		/* IVF_PQ's and SCANN's refine: what they kept of the rows (the
		 * originals, or SQ8 codes), by row, read a few a query and in
		 * no list's unit */
		info->rows = v->vectors ? (const void *)v->vectors : (const void *)v->sq8_codes;
		info->rowbytes = v->vectors ? v->d * 4 : v->d;
		info->nrows = v->n;
		info->ext[3] = info->rows;
		info->extlen[3] = v->n * info->rowbytes;
	}
	for (size_t l = 0; u && l < v->nlist; l++) {
		uint64_t a = v->offsets[l], b = v->offsets[l + 1];
		memset(&u[l], 0, sizeof u[l]);
		u[l].p[0] = v->ids + a;
		u[l].len[0] = (b - a) * 4;
		u[l].p[1] = v->boff ? v->data + v->boff[l] * bb : v->data + a * code;
		u[l].len[1] = v->boff ? (v->boff[l + 1] - v->boff[l]) * bb : (b - a) * code;
		if (v->fpos) {
			/* its rows in two runs (vp_ivf.h): the others', the read */
			uint64_t h = v->hotn[l];
			u[l].p[1] = vp_ivf_row(v, a + h);
			u[l].len[1] = (b - a - h) * code;
			u[l].p[6] = vp_ivf_row(v, a);
			u[l].len[6] = h * code;
		}
		if (v->norms || v->pbias) {
			u[l].p[2] = v->norms ? v->norms + a : v->pbias + a;
			u[l].len[2] = (b - a) * 4;
		}
		if (v->scodes) {
			u[l].p[3] = v->scodes + a * v->d;
			u[l].len[3] = (b - a) * v->d;
			u[l].p[4] = v->snorms + a;
			u[l].len[4] = (b - a) * 4;
			u[l].p[5] = v->serr + a;
			u[l].len[5] = (b - a) * 4;
		}
	}
}

static size_t pow2_near(double v)
{
	size_t p = 1;
	while ((double)p * 1.41421356 < v)
		p *= 2;
	return p;
}

/* The first IVF type of the ones being tuned says the shared reason once. */
static int first_ivf(const struct vp_tune_opts *o, int type)
{
	for (int t = VP_TYPE_IVF_FLAT; t < type; t++)
		if (o->types & VP_T(t) & VP_TYPES_IVF)
			return 0;
	return 1;
}

static void ivf_tune_candidates_type(int type, size_t n, size_t d,
				     const struct vp_datastats *st,
				     const struct vp_tune_opts *o, struct vp_tune_result *res)
{
	size_t c = pow2_near(sqrt((double)n)), m0 = vp_pq_default_m(d);
	if (first_ivf(o, type))
		vp_tune_say(o, "IVF: nlist around sqrt(%zu) = %.0f: %zu, %zu, %zu, %zu%s", n,
			    sqrt((double)n), c / 2 ? c / 2 : 1, c, 2 * c, 4 * c,
			    st->explained16 > 0.5 ? " (the data is clustered: coarse lists fit it)"
						  : " (weak cluster structure: expect a higher nprobe)");
	if (type == VP_TYPE_SCANN) {
		/* 4-bit codes of 4-dimension sub-vectors (an eighth of SQ8's
		 * bytes) where 4 divides d, and of 2 (a quarter) */
		size_t s0 = vp_scann_default_m(d), s1 = d % 2 == 0 && d / 2 != s0 ? d / 2 : 0;
		if (n < 1024)
			return;
		vp_tune_say(o, "SCANN: m = %zu (%zu dims a sub-vector)%s; 4-bit codes "
			    "scanned in registers, then reorder_k re-ranks exactly", s0, d / s0,
			    s1 ? " and d/2 (2 dims, codes 1/4 of SQ8's)" : "");
		for (int l = 0; l < 3; l++)
			for (int mm = 0; mm < 2; mm++) {
				size_t nl = l == 0 ? (c / 2 ? c / 2 : 1) : c << (l - 1);
				size_t mv = mm ? s1 : s0;
				if (mv && nl <= n / 8)
					vp_tune_add_cand(res, VP_TYPE_SCANN, (int64_t)nl, l,
							 (int64_t)mv, mm);
			}
		return;
	}
	if (type != VP_TYPE_IVF_PQ) {
		for (int l = 0; l < 4; l++) {
			size_t nl = l == 0 ? (c / 2 ? c / 2 : 1) : c << (l - 1);
			if (nl <= n / 8)
				vp_tune_add_cand(res, type, (int64_t)nl, l, 0, 0);
		}
		return;
	}
	if (n < 1024)
		return;
	size_t ms[2] = { m0, (m0 % 2 == 0 && d % (m0 / 2) == 0) ? m0 / 2 : 0 };
	vp_tune_say(o, "IVF_PQ: m = %zu (sub-vectors of %zu dims) and %zu; refine re-ranks "
		    "to lift the PQ recall ceiling", m0, d / m0, ms[1]);
	for (int l = 0; l < 3; l++)
		for (int mm = 0; mm < 2; mm++) {
			size_t nl = l == 0 ? (c / 2 ? c / 2 : 1) : c << (l - 1);
			if (ms[mm] && nl <= n / 8)
				vp_tune_add_cand(res, VP_TYPE_IVF_PQ, (int64_t)nl, l,
						 (int64_t)ms[mm], mm);
		}
}

#define TUNE_FN(t, T)                                                              \
	static void t##_tune_candidates(size_t n, size_t d, const struct vp_datastats *st, \
					const struct vp_tune_opts *o,                     \
					struct vp_tune_result *res)                       \
	{                                                                                 \
		ivf_tune_candidates_type(T, n, d, st, o, res);                            \
	}
TUNE_FN(flat, VP_TYPE_IVF_FLAT)
TUNE_FN(sq8, VP_TYPE_IVF_SQ8)
TUNE_FN(pq, VP_TYPE_IVF_PQ)
TUNE_FN(scann, VP_TYPE_SCANN)

static void ivf_tune_build(const struct vp_tune_cand *c, double scale, struct vp_param_set *bp)
{
	/* nlist is chosen for the full base; a sample gets as many rows per
	 * list: nlist x s/n */
	int64_t nl = (int64_t)llround((double)c->p1 / scale);
	bp->val[VP_P_NLIST] = nl < 1 ? 1 : nl;
	if (c->type == VP_TYPE_IVF_PQ || c->type == VP_TYPE_SCANN)
		bp->val[VP_P_PQ_M] = c->p2;
}

static int ivf_sweep_ok(const struct vp_searcher *s, int64_t v, size_t k)
{
	(void)k;
	return v <= (int64_t)s->seg[0].ivf.nlist;
}

static const int64_t probes[] = { 1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 20, 24, 28, 32, 40,
				  48, 64, 80, 96, 128, 192, 256, 384, 512, 1024 };
static const int64_t pq_refine_k[] = { 0, 2, 5, 10 };
/* SCANN always re-ranks (keep=originals): from k candidates to 10 x k */
static const int64_t scann_reorder_k[] = { 1, 2, 4, 10 };

#define IVF_ROW(T, NAME, VECTORS, PRE)                    \
	.type = T,                                        \
	.name = NAME,                                     \
	.unit = "lists",                                  \
	.keeps_vectors = VECTORS,                         \
	.build = ivf_build,                               \
	.open = ivf_open,                                 \
	.close = ivf_close,                               \
	.search = ivf_search,                             \
	.warm_queries = VP_IVF_BYLIST_MIN, /* by-list scratch */ \
	.plan = ivf_plan,                                 \
	.prefilter_recall = PRE,                          \
	.trace_kind = VP_ALOG_IVF,                        \
	.trace_stride = ivf_trace_stride,                 \
	.trace_attach = ivf_trace_attach,                 \
	.warm_units = ivf_warm_units,                     \
	.originals = ivf_originals,                       \
	.compact = ivf_compact,                           \
	.compact_max_dead = 1.0, /* never retrained unless asked */ \
	.relayout = 1,                                     \
	.sweep_param = VP_P_NPROBE,                       \
	.tune_build = ivf_tune_build,                     \
	.sweep_values = probes,                           \
	.nsweep = sizeof probes / sizeof *probes,         \
	.sweep_ok = ivf_sweep_ok,                         \
	.linear_qps = 1,                                  \
	.p1 = "nlist"

/* IVF_FLAT lists hold the vectors themselves; SQ8 and PQ lists hold codes,
 * and PQ keeps the originals for its re-rank (refine) */
/* IVF_FLAT's quant (the screen) is resolved as HNSW's traversal codes */
static void flat_resolve(int64_t *params, uint32_t dim)
{
	params[VP_P_QUANT] = vp_hnsw_quant_resolve(params[VP_P_QUANT], dim);
}

/* A relayout's order (vp-build --relayout, "ivf_hot"), segment by segment */
static void ivf_layout(const struct vp_index *ix, FILE *out)
{
	for (uint32_t g = 0; vp_index_find(ix, "segment", g); g++) {
		const struct vp_section *hs = vp_index_find(ix, "ivf_hot", g);
		uint32_t hot[2];
		if (!hs || hs->length < 8)
			continue;
		memcpy(hot, vp_index_data(ix, hs), 8);
		fprintf(out, "layout         segment %u by an access log: %u lists it probed first, "
			"%u rows it read together in them\n", g, hot[0], hot[1]);
	}
}

/* IVF_FLAT's screen, or its absence */
static void flat_describe(const struct vp_index *ix, FILE *out)
{
	if (vp_index_find(ix, "ivf_screen", 0))
		fprintf(out, "screen         SQ8 codes of the rows (%u bytes a vector, quant=sq8): one "
			"query at a time reads them and scores exactly only the rows they cannot "
			"rule out\n", ix->hdr.dim);
	else
		fprintf(out, "screen         none (quant=none): one query at a time reads every row "
			"of the lists it probes\n");
	ivf_layout(ix, out);
}

const struct vp_family vp_family_ivf_flat = {
	IVF_ROW(VP_TYPE_IVF_FLAT, "IVF_FLAT", 0, 1.0),
	.resolve = flat_resolve,
	.describe = flat_describe,
	.tune_candidates = flat_tune_candidates,
};
const struct vp_family vp_family_ivf_sq8 = {
	IVF_ROW(VP_TYPE_IVF_SQ8, "IVF_SQ8", 0, 0.95),
	.describe = ivf_layout,
	.tune_candidates = sq8_tune_candidates,
};
/* SCANN's codes and what its reorder uses */
static void scann_describe(const struct vp_index *ix, FILE *out)
{
	uint64_t d = ix->hdr.dim, m = (uint64_t)ix->hdr.params[VP_P_PQ_M];
	int64_t keep = ix->hdr.params[VP_P_KEEP];
	if (m < 1 || m > d)
		return;
	fprintf(out, "codes          4-bit PQ, m=%llu (%llu dimension%s a sub-quantizer), "
		"%.1f bytes a vector in blocks of 32 (%.1fx smaller than the floats)\n",
		(unsigned long long)m, (unsigned long long)(d / m), d / m > 1 ? "s" : "",
		(double)vp_pq4_mp((size_t)m) / 2.0, 8.0 * (double)d / (double)vp_pq4_mp((size_t)m));
	if (vp_index_find(ix, "pq4_bias", 0))
		fprintf(out, "table          one a query, and a float32 bias a vector (its list and "
			"codes' part of the estimate)\n");
	else if (ix->hdr.metric != VP_METRIC_IP)
		fprintf(out, "table          one a probed list (a file from before the biases: "
			"rebuild for one a query)\n");
	fprintf(out, "reorder        %s\n",
		keep == VP_SCANN_KEEP_ORIGINALS ? "exact, with the float32 originals" :
		keep == VP_SCANN_KEEP_SQ8 ? "with SQ8 codes of the originals (d bytes a vector)" :
		"none: distances are the codes' estimates");
	ivf_layout(ix, out);
}

/* SCANN keeps the originals itself (keep=originals), or SQ8 codes of
 * them, or nothing: keeps_vectors stays 0 and its build adds them */
const struct vp_family vp_family_scann = {
	IVF_ROW(VP_TYPE_SCANN, "SCANN", 0, 0.95),
	.describe = scann_describe,
	.tune_candidates = scann_tune_candidates,
	.refine_k = scann_reorder_k,
	.nrefine = 4,
	.refine_param = VP_P_REORDER,
	.p2 = "m",
};
const struct vp_family vp_family_ivf_pq = {
	IVF_ROW(VP_TYPE_IVF_PQ, "IVF_PQ", 1, 0.95),
	.describe = ivf_layout,
	.tune_candidates = pq_tune_candidates,
	.refine_k = pq_refine_k,
	.nrefine = 4,
	.refine_param = VP_P_REFINE,
	.p2 = "m",
};
