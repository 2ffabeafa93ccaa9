/*
 * vp_fam_hnsw: the HNSW family's row (vp_family.h): build with its
 * traversal codes, open, search, the cost of a filtered walk, the access
 * trace, vp-diag's description and vp-tune's candidates.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vp_alog.h"
#include "vp_dist.h"
#include "vp_build.h"
#include "vp_family.h"
#include "vp_gcode.h"
#include "vp_hnsw.h"
#include "vp_warm.h"
#include "vp_search.h"
#include "vp_tune.h"

/* The graph's traversal codes (vp_gcode.h): "hnsw_gcp" holds the stride,
 * the scale, the re-rank ratio and the offsets, "hnsw_gcode" the rows. */
static int add_gcodes(struct vp_family_build *b, const uint8_t **out, uint32_t **head)
{
	size_t stride = vp_gcode_stride(b->dim);
	uint32_t *p = calloc(1, VP_HNSW_GCP_HEAD + 4 * (size_t)b->dim);
	uint8_t *codes = malloc(b->n * stride + 1);
	struct vp_gcode g = { b->dim, stride, 1.0f, NULL };

	if (!p || !codes) {
		free(p);
		free(codes);
		return VP_E_NOMEM;
	}
	p[0] = (uint32_t)stride;
	vp_gcode_train(b->data, b->n, b->dim, (float *)(p + 4), &g.scale);
	memcpy(p + 1, &g.scale, sizeof g.scale);
	g.lo = (const float *)(p + 4);
	vp_gcode_encode(&g, b->data, b->n, codes);
	*out = codes;
	*head = p;
	if (b->add(b->ctx, "hnsw_gcp", b->seg, 64, p, VP_HNSW_GCP_HEAD + 4 * (size_t)b->dim, 1)) {
		free(codes);
		return VP_E_NOMEM;
	}
	return b->add(b->ctx, "hnsw_gcode", b->seg, 4096, codes, b->n * stride, 1) ? VP_E_NOMEM : 0;
}

static void hnsw_resolve(int64_t *params, uint32_t dim)
{
	params[VP_P_QUANT] = vp_hnsw_quant_resolve(params[VP_P_QUANT], dim);
}

static int hnsw_build(struct vp_family_build *b, struct vp_error *err)
{
	const struct vp_build_opts *o = b->o;
	struct vp_hnsw_graph g;
	uint32_t *hm = calloc(4, sizeof *hm), *gcp = NULL;
	const uint8_t *codes = NULL;
	size_t n = b->n;
	int rc;

	if (!hm)
		return vp_seterr(err, VP_E_NOMEM, "out of memory");
	if (b->add(b->ctx, "hnsw_meta", b->seg, 64, hm, 16, 1))
		return vp_seterr(err, VP_E_NOMEM, "out of memory");
	if (vp_hnsw_quant_resolve(o->params.val[VP_P_QUANT], b->dim) == VP_HNSW_QUANT_SQ8 &&
	    add_gcodes(b, &codes, &gcp))
		return vp_seterr(err, VP_E_NOMEM, "out of memory");
	/* the build walks the codes too, but not for inner product, whose
	 * code scores are not distances between two nodes */
	rc = vp_hnsw_build(b->data, n, b->dim, o->metric, (int)o->params.val[VP_P_HNSW_M],
			   (int)o->params.val[VP_P_EFC], o->threads, o->seed + b->seg,
			   o->metric == VP_METRIC_IP ? NULL : codes, vp_gcode_stride(b->dim),
			   o->progress, o->progress_ctx, &g, err);
	if (rc)
		return rc;
	if (codes) {
		/* how many candidates a search must re-rank on this data */
		struct vp_hnsw view;
		float scale, ratio;
		memcpy(&scale, gcp + 1, sizeof scale);
		struct vp_gcode gc = { b->dim, vp_gcode_stride(b->dim), scale, (const float *)(gcp + 4) };
		vp_hnsw_view(&view, &g, b->data, b->dim, o->metric, codes, &gc);
		ratio = vp_hnsw_calibrate(&view, o->seed + b->seg);
		memcpy(gcp + 2, &ratio, sizeof ratio);
	}
	/* rows in breadth-first order of the graph: neighbours near */
	if (vp_hnsw_reorder(&g, b->data, b->dim, (uint8_t *)(uintptr_t)codes,
			    vp_gcode_stride(b->dim), NULL, NULL, &b->order)) {
		vp_hnsw_graph_release(&g);
		return vp_seterr(err, VP_E_NOMEM, "out of memory");
	}
	hm[0] = g.entry;
	hm[1] = g.maxlevel;
	hm[2] = g.M;
	hm[3] = g.M0;
	/* the graph's arrays become sections: owned, freed with the build */
	if (b->add(b->ctx, "hnsw_levels", b->seg, 64, g.levels, n, 1) ||
	    b->add(b->ctx, "hnsw_l0", b->seg, 4096, g.l0, n * (1 + g.M0) * 4, 1) ||
	    b->add(b->ctx, "hnsw_upoff", b->seg, 64, g.upoff, n * 4, 1) ||
	    b->add(b->ctx, "hnsw_upper", b->seg, 64, g.upper, g.nblocks * (1 + g.M) * 4, 1))
		return vp_seterr(err, VP_E_NOMEM, "out of memory");
	return 0;
}

static int hnsw_open(struct vp_searcher *s, uint32_t seg, struct vp_error *err)
{
	struct vp_segment *g = &s->seg[seg];
	int rc = vp_hnsw_open(&g->hnsw, &s->ix, seg, g->meta.count, err);
	if (rc)
		return rc;
	g->hnsw.id_base = (int64_t)g->meta.id_base;
	g->hnsw.rowid = g->rowid;
	g->vectors = g->hnsw.x;
	return 0;
}

/* "hnsw_hot": uint32 the rows a relayout put first (the access log's
 * queries read them), uint32 those and the rows linked from them, which
 * follow (vp_hnsw_reorder); for vp-diag and tests, searches ignore it. */
static int hot_section(struct vp_sections *out, uint32_t seg, const uint32_t *nhot)
{
	uint32_t *p = calloc(2, sizeof *p);
	if (!p)
		return -1;
	p[0] = nhot[0];
	p[1] = nhot[1];
	return vp_sections_add(out, "hnsw_hot", seg, 64, p, 8, 1);
}

/* Compaction by repair (vp_hnsw_repair): the graph of the live rows,
 * their links mended around the deleted ones, in breadth-first order again
 * (which also links rows the deletes left unreachable); the codes' scale
 * and re-rank ratio are kept (the rows they were measured on are mostly
 * still there). */
static int hnsw_compact(const struct vp_searcher *s, size_t gi, const uint32_t *keep,
			uint64_t nlive, uint32_t seg, int threads, const struct vp_heat *heat,
			struct vp_sections *out, uint32_t **rows_out, struct vp_error *err)
{
	const struct vp_segment *sg = &s->seg[gi];
	const struct vp_hnsw *h = &sg->hnsw;
	const struct vp_section *gcp = vp_index_find(&s->ix, "hnsw_gcp", (uint32_t)gi);
	size_t d = h->d, stride = h->gc.stride, n = h->n;
	uint8_t *dead = malloc(n ? n : 1), *codes = NULL;
	float *x = malloc(nlive * d * sizeof *x + 1);
	uint32_t *rows = NULL, *order = NULL, *hm = calloc(4, sizeof *hm), nhot[2] = { 0, 0 };
	double *gheat = NULL;
	struct vp_hnsw_graph g;
	int rc;

	*rows_out = NULL;
	if (h->codes)
		codes = malloc(nlive * stride + 1);
	if (!dead || !x || !hm || (h->codes && !codes)) {
		free(dead), free(x), free(codes), free(hm);
		return vp_seterr(err, VP_E_NOMEM, "out of memory");
	}
	for (size_t r = 0; r < n; r++)
		dead[r] = keep[sg->rowid ? sg->rowid[r] : r] == UINT32_MAX;
	rc = vp_hnsw_repair(h, dead, nlive, threads, &g, x, codes, &rows, err);
	free(dead);
	if (rc) {
		free(x), free(codes), free(hm);
		return rc;
	}
	/* the heat of the graph's rows (each one's row in the old segment) */
	if (heat && !heat->rows)
		heat = NULL; /* the log read no rows of this segment: as it was */
	if (heat && (gheat = malloc((nlive ? nlive : 1) * sizeof *gheat)) != NULL)
		for (size_t r = 0; r < nlive; r++)
			gheat[r] = heat->rows[rows[r]];
	if ((heat && !gheat) ||
	    vp_hnsw_reorder(&g, x, d, codes, stride, gheat, nhot, &order)) {
		vp_hnsw_graph_release(&g);
		free(x), free(codes), free(hm), free(rows), free(gheat);
		return vp_seterr(err, VP_E_NOMEM, "out of memory");
	}
	free(gheat);
	/* each final row's row in the old segment */
	for (size_t r = 0; r < nlive; r++)
		order[r] = rows[order[r]];
	free(rows);
	hm[0] = g.entry;
	hm[1] = g.maxlevel;
	hm[2] = g.M;
	hm[3] = g.M0;
	if (vp_sections_add(out, "vectors", seg, 4096, x, nlive * d * 4, 1) ||
	    vp_sections_add(out, "hnsw_meta", seg, 64, hm, 16, 1) ||
	    (gcp && vp_sections_add(out, "hnsw_gcp", seg, 64, vp_index_data(&s->ix, gcp),
				    gcp->length, 0)) ||
	    (codes && vp_sections_add(out, "hnsw_gcode", seg, 4096, codes, nlive * stride, 1)) ||
	    vp_sections_add(out, "hnsw_levels", seg, 64, g.levels, nlive, 1) ||
	    vp_sections_add(out, "hnsw_l0", seg, 4096, g.l0, nlive * (1 + g.M0) * 4, 1) ||
	    vp_sections_add(out, "hnsw_upoff", seg, 64, g.upoff, nlive * 4, 1) ||
	    vp_sections_add(out, "hnsw_upper", seg, 64, g.upper, g.nblocks * (1 + g.M) * 4, 1) ||
	    (heat && hot_section(out, seg, nhot))) {
		free(order);
		return vp_seterr(err, VP_E_NOMEM, "out of memory");
	}
	*rows_out = order;
	return 0;
}

static void hnsw_close(struct vp_segment *g)
{
	vp_hnsw_pool_release(&g->hpool);
}

static int hnsw_search(struct vp_searcher *s, struct vp_segment *g, const float *q,
		       size_t nq, size_t k, const struct vp_param_set *ps, int threads,
		       const struct vp_fctx *fc, int plan, int64_t wide, float *dist,
		       int64_t *ids, struct vp_error *err)
{
	(void)s;
	(void)plan;
	(void)wide;
	return vp_hnsw_search(&g->hnsw, &g->hpool, q, nq, k, (size_t)ps->val[VP_P_EF],
			      (size_t)ps->val[VP_P_REFINE], threads, fc, dist, ids, err);
}

/* Label locality of the HNSW segments: the share of level-0 edges whose
 * ends have the same label, from up to 512 nodes a segment, corrected for
 * the share of random pairs that do (from the histogram): 0 when labels
 * say nothing about position (a random attribute), near 1 when neighbours
 * almost always share one (Fashion-MNIST's classes: 0.7). */
static double label_locality(const struct vp_searcher *s)
{
	double same = 0, edges = 0, rnd = 0, rows = 0;
	for (size_t g = 0; g < s->nseg; g++) {
		const struct vp_segment *sg = &s->seg[g];
		const struct vp_hnsw *h = &sg->hnsw;
		uint64_t x = 0x9e3779b97f4a7c15ull;
		if (!sg->labels || !h->l0 || !h->n)
			continue;
		for (int t = 0; t < 512; t++) {
			uint32_t u, cnt;
			const uint32_t *l;
			x = x * 6364136223846793005ull + 1442695040888963407ull;
			u = (uint32_t)((x >> 33) % h->n);
			l = h->l0 + (size_t)u * (1 + h->M0);
			cnt = l[0] <= h->M0 ? l[0] : 0;
			for (uint32_t j = 1; j <= cnt; j++)
				if (l[j] < h->n) {
					same += sg->labels[l[j]] == sg->labels[u];
					edges++;
				}
		}
		if (sg->hist && sg->hist->bins) {
			const uint64_t *c = (const uint64_t *)(sg->hist + 1);
			double m = (double)sg->meta.count;
			for (uint32_t b = 0; b < sg->hist->bins; b++)
				rnd += m * ((double)c[b] / m) * ((double)c[b] / m);
			rows += m;
		}
	}
	if (edges == 0)
		return 0;
	rnd = rows > 0 ? rnd / rows : 0;
	same /= edges;
	if (rnd >= 1 || same <= rnd)
		return 0;
	return (same - rnd) / (1 - rnd) < 1 ? (same - rnd) / (1 - rnd) : 1;
}

/* Distances an HNSW walk computes to collect ef matches where a share x of
 * the rows around it pass: ef * M0 * 0.6 when all do, growing as x^-0.7
 * (fitted on Fashion-MNIST with a random attribute at 1%, 10%, 50%, 100%:
 * the walk revisits neighbourhoods, so it grows slower than 1/x), at most
 * every row. */
static double walk_dists(double ef, double m0, double x, double n)
{
	double d = ef * m0 * 0.6 * pow(x > 1.0 / n ? x : 1.0 / n, -0.7);
	return d < n ? d : n;
}

static void hnsw_plan(struct vp_searcher *s, const struct vp_filter *f, size_t k,
		      const struct vp_param_set *ps, double sel, double cd, double cf,
		      struct vp_plan_est *est)
{
	/* the walk needs about ef matches: ef / selectivity nodes, each with
	 * M0 neighbours scored; it stays connected through rows that fail,
	 * so recall holds while it is affordable */
	double n = (double)s->ix.hdr.count;
	double ef = (double)ps->val[VP_P_EF] > (double)k ? (double)ps->val[VP_P_EF] : (double)k;
	double m0 = s->nseg ? (double)s->seg[0].hnsw.M0 : 32, rho = 0, dists;
	if (vp_filter_uses_labels(f)) {
		if (s->label_locality < 0)
			s->label_locality = label_locality(s);
		rho = s->label_locality;
	}
	/* with locality rho, a query (drawn like the rows) sits among passing
	 * rows with probability sel, where a share rho + (1 - rho) sel of its
	 * neighbours pass, and otherwise among failing ones, where only
	 * (1 - rho) sel do; rho = 0 gives sel both ways */
	dists = sel * walk_dists(ef, m0, rho + (1 - rho) * sel, n) +
		(1 - sel) * walk_dists(ef, m0, (1 - rho) * sel, n);
	/* a coded walk scores a row on its 8-bit code: a quarter of the
	 * bytes of the float distance cd is measured on, in integers
	 * (Fashion-MNIST, ef 16 to 48: twice the queries a second of the
	 * float walk at the same ef, which visits the same nodes) */
	if (s->nseg && s->seg[0].hnsw.codes)
		cd /= 2.0;
	est[VP_PLAN_INDEX].available = 1;
	est[VP_PLAN_INDEX].cost_us = dists * (cd + cf);
	est[VP_PLAN_INDEX].recall = sel * n >= 10.0 * (double)k ? 0.97 : 0.9;
}

static size_t hnsw_trace_stride(const struct vp_segment *g)
{
	(void)g;
	return 2 + VP_HNSW_TRACE_MAX;
}

static void hnsw_trace_attach(struct vp_segment *g, uint32_t *t, size_t stride)
{
	g->hpool.trace = t;
	g->hpool.tstride = stride;
}

static void hnsw_warm_units(const struct vp_searcher *s, size_t g,
			    struct vp_family_units *info, struct vp_family_unit *u)
{
	const struct vp_hnsw *h = &s->seg[g].hnsw;
	uint32_t sh = vp_hnsw_region_shift(h);
	size_t rowx = h->d * 4, rowl = (1 + h->M0) * 4;
	/* a unit is a level-0 region: its vectors, links and codes (a coded
	 * walk reads a region's codes; its floats only for the candidates
	 * it re-ranks) */
	memset(info, 0, sizeof *info);
	info->rows_range = -1;
	info->rows_range2 = -1;
	info->n = (h->n + (1u << sh) - 1) >> sh;
	info->shift = sh;
	info->ext[0] = h->x;
	info->extlen[0] = h->n * rowx;
	info->ext[1] = h->l0;
	info->extlen[1] = h->n * rowl;
	if (h->codes) {
		info->ext[2] = h->codes;
		info->extlen[2] = h->n * h->gc.stride;
		/* the walk reads codes; floats only for what it re-ranks */
		info->rows = h->x;
		info->rowbytes = rowx;
		info->nrows = h->n;
		info->rows_range = 0;
	}
	for (size_t r = 0; u && r < info->n; r++) {
		size_t lo = r << sh, hi = (r + 1) << sh;
		if (hi > h->n)
			hi = h->n;
		memset(&u[r], 0, sizeof u[r]);
		u[r].p[0] = (const unsigned char *)h->x + lo * rowx;
		u[r].len[0] = (hi - lo) * rowx;
		u[r].p[1] = (const unsigned char *)h->l0 + lo * rowl;
		u[r].len[1] = (hi - lo) * rowl;
		if (h->codes) {
			u[r].p[2] = h->codes + lo * h->gc.stride;
			u[r].len[2] = (hi - lo) * h->gc.stride;
		}
	}
}

static void hnsw_describe(const struct vp_index *ix, FILE *out)
{
	/* how the graph is walked (vp_hnsw.h: the code sections) */
	const struct vp_section *gp = vp_index_find(ix, "hnsw_gcp", 0);
	if (gp && gp->length >= VP_HNSW_GCP_HEAD) {
		uint32_t st;
		float sc, ra;
		memcpy(&st, vp_index_data(ix, gp), 4);
		memcpy(&sc, (const char *)vp_index_data(ix, gp) + 4, 4);
		memcpy(&ra, (const char *)vp_index_data(ix, gp) + 8, 4);
		fprintf(out, "traversal      sq8 codes, %u-byte rows (%.1fx smaller than the "
			"floats), scale %g; %.1f x k candidates re-ranked with the "
			"floats (measured at build)\n",
			st, st ? 4.0 * ix->hdr.dim / st : 0.0, (double)sc, (double)ra);
	} else
		fprintf(out, "traversal      float32 vectors (no codes: built with quant=none "
			"or before codes existed)\n");
	/* a relayout's order (vp-build --relayout), segment by segment */
	for (uint32_t g = 0; vp_index_find(ix, "segment", g); g++) {
		const struct vp_section *hs = vp_index_find(ix, "hnsw_hot", g);
		const struct vp_section *sg = vp_index_find(ix, "segment", g);
		uint32_t hot[2];
		uint64_t cnt;
		if (!hs || hs->length < 8 || sg->length < 8)
			continue;
		memcpy(hot, vp_index_data(ix, hs), 8);
		memcpy(&cnt, vp_index_data(ix, sg), 8);
		fprintf(out, "layout         segment %u by an access log: %u rows it read first, "
			"then %u linked from them, then %llu more\n", g, hot[0],
			hot[1] >= hot[0] ? hot[1] - hot[0] : 0,
			(unsigned long long)(cnt >= hot[1] ? cnt - hot[1] : 0));
	}
}

static void hnsw_tune_candidates(size_t n, size_t d, const struct vp_datastats *st,
				 const struct vp_tune_opts *o, struct vp_tune_result *res)
{
	int Ms[3];
	(void)n;
	if (st->intrinsic_dim < 8)
		Ms[0] = 8, Ms[1] = 12, Ms[2] = 16;
	else if (st->intrinsic_dim < 20)
		Ms[0] = 12, Ms[1] = 16, Ms[2] = 24;
	else
		Ms[0] = 16, Ms[1] = 24, Ms[2] = 32;
	int quant = vp_hnsw_quant_resolve(VP_HNSW_QUANT_AUTO, d);
	struct vp_tune_cand *c;
	char how[200];
	if (quant == VP_HNSW_QUANT_SQ8)
		snprintf(how, sizeof how, "walked on 8-bit codes with an exact re-rank (quant=sq8, "
			 "the default from 64 dimensions), and at M=%d also on the floats "
			 "(quant=none) in case the codes are too coarse for this data", Ms[1]);
	else
		snprintf(how, sizeof how, "walked on the floats (codes only from 64 dimensions)");
	vp_tune_say(o, "HNSW: intrinsic dimension %.1f, so M in %d, %d, %d (more links for "
		    "higher intrinsic dimension); efConstruction 100 and 200; %s",
		    st->intrinsic_dim, Ms[0], Ms[1], Ms[2], how);
	for (int l = 0; l < 3; l++)
		for (int e = 0; e < 2; e++)
			if ((c = vp_tune_add_cand(res, VP_TYPE_HNSW, Ms[l], l, e ? 200 : 100, e)))
				c->p3 = quant;
	/* the codes' trade measured, not assumed: one M on floats too */
	if (quant == VP_HNSW_QUANT_SQ8)
		for (int e = 0; e < 2; e++)
			if ((c = vp_tune_add_cand(res, VP_TYPE_HNSW, Ms[1], 1, e ? 200 : 100, e)))
				c->p3 = VP_HNSW_QUANT_NONE;
}

static void hnsw_tune_build(const struct vp_tune_cand *c, double scale, struct vp_param_set *bp)
{
	(void)scale;
	bp->val[VP_P_HNSW_M] = c->p1;
	bp->val[VP_P_EFC] = c->p2;
	bp->val[VP_P_QUANT] = c->p3;
}

static int hnsw_sweep_ok(const struct vp_searcher *s, int64_t v, size_t k)
{
	(void)s;
	return v >= (int64_t)k;
}

/* steps of about 15%: a step too far costs about that much QPS */
static const int64_t efs[] = { 10, 12, 14, 16, 18, 20, 24, 28, 32, 36, 40, 48, 56, 64, 72, 80,
			       96, 112, 128, 160, 192, 224, 256, 320, 384, 448, 512, 640, 768,
			       1024 };

const struct vp_family vp_family_hnsw = {
	.type = VP_TYPE_HNSW,
	.unit = "graph",
	.name = "HNSW",
	.keeps_vectors = 1,
	.build = hnsw_build,
	.resolve = hnsw_resolve,
	.open = hnsw_open,
	.close = hnsw_close,
	.search = hnsw_search,
	.warm_queries = 1,
	.plan = hnsw_plan,
	.prefilter_recall = 1.0,
	.trace_kind = VP_ALOG_HNSW_REGIONS,
	.trace_stride = hnsw_trace_stride,
	.trace_attach = hnsw_trace_attach,
	.warm_units = hnsw_warm_units,
	.compact = hnsw_compact,
	.moves_rows = 1,
	/* past this share of deletes a rebuild gives the better graph */
	.compact_max_dead = 0.3,
	.relayout = 1,
	.sweep_param = VP_P_EF,
	.describe = hnsw_describe,
	.tune_candidates = hnsw_tune_candidates,
	.tune_build = hnsw_tune_build,
	.sweep_values = efs,
	.nsweep = sizeof efs / sizeof *efs,
	.sweep_ok = hnsw_sweep_ok,
	.linear_qps = 0,
	.p1 = "M",
	.p2 = "efConstruction",
	.p3 = "quant",
};
