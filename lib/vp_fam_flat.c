/*
 * vp_fam_flat: the FLAT family's row (vp_family.h): exact search over the
 * vectors and their squared norms (the GEMM formulation, vp_flat.h).
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "vp_build.h"
#include "vp_dist.h"
#include "vp_family.h"
#include "vp_flat.h"
#include "vp_search.h"
#include "vp_tune.h"

static int flat_build(struct vp_family_build *b, struct vp_error *err)
{
	float *norms = malloc(b->n * sizeof *norms + 1);
	if (!norms)
		return vp_seterr(err, VP_E_NOMEM, "out of memory");
	vp_sqnorms(b->data, b->n, b->dim, norms);
	if (b->add(b->ctx, "norms", b->seg, 64, norms, b->n * sizeof *norms, 1))
		return vp_seterr(err, VP_E_NOMEM, "out of memory");
	return 0;
}

static int flat_open(struct vp_searcher *s, uint32_t seg, struct vp_error *err)
{
	struct vp_segment *g = &s->seg[seg];
	const struct vp_index_header *h = &s->ix.hdr;
	uint64_t n = g->meta.count, vbytes;
	const void *x, *nrm;
	int rc;

	if (vp_mul_ok(n, (uint64_t)h->dim * 4, &vbytes))
		return vp_seterr(err, VP_E_CORRUPT, "%s: corrupt index: size "
				 "overflow", s->ix.path);
	if ((rc = vp_index_need(&s->ix, "vectors", seg, vbytes, &x, err)) ||
	    (rc = vp_index_need(&s->ix, "norms", seg, n * 4, &nrm, err)))
		return rc;
	/* deletes are passed over inside the scan (g->dead is read before the
	 * family's open) */
	g->flat = (struct vp_flat){ x, nrm, n, h->dim, (int)h->metric,
				    (int64_t)g->meta.id_base, g->dead };
	g->vectors = x;
	return 0;
}

static void flat_close(struct vp_segment *g)
{
	vp_flat_pool_release(&g->pool);
}

static int flat_search(struct vp_searcher *s, struct vp_segment *g, const float *q,
		       size_t nq, size_t k, const struct vp_param_set *ps, int threads,
		       const struct vp_fctx *fc, int plan, int64_t wide, float *dist,
		       int64_t *ids, struct vp_error *err)
{
	(void)ps;
	(void)plan;
	(void)wide;
	/* a filter on an exact index is an exact scan of the rows that pass;
	 * deletes alone stay on the blocked scan, which skips them (15x the
	 * prefilter scan's QPS on Fashion-MNIST with 10% deleted) */
	if (fc && fc->f)
		return vp_searcher_prefilter(s, g, fc, q, nq, k, threads, dist, ids, err);
	return vp_flat_search(&g->flat, &g->pool, q, nq, k, threads, dist, ids, err);
}

static void flat_warm_units(const struct vp_searcher *s, size_t g,
			    struct vp_family_units *info, struct vp_family_unit *u)
{
	const struct vp_flat *f = &s->seg[g].flat;
	/* the segment is one unit: an exact scan reads all of it */
	memset(info, 0, sizeof *info);
	info->rows_range = -1;
	info->rows_range2 = -1;
	info->n = 1;
	info->ext[0] = f->x;
	info->extlen[0] = f->n * f->d * 4;
	if (f->norms && (const unsigned char *)f->norms - s->ix.map < (ptrdiff_t)s->ix.size) {
		info->ext[1] = f->norms;
		info->extlen[1] = f->n * 4;
	}
	if (u) {
		memset(u, 0, sizeof *u);
		u->p[0] = f->x;
		u->len[0] = f->n * f->d * 4;
		u->p[1] = f->norms;
		u->len[1] = f->norms ? f->n * 4 : 0;
	}
}

static void flat_tune_candidates(size_t n, size_t d, const struct vp_datastats *st,
				 const struct vp_tune_opts *o, struct vp_tune_result *res)
{
	(void)n;
	(void)d;
	(void)st;
	vp_tune_add_cand(res, VP_TYPE_FLAT, 0, 0, 0, 0);
	vp_tune_say(o, "FLAT: exact, the baseline every approximate index is measured against");
}

static void flat_tune_build(const struct vp_tune_cand *c, double scale, struct vp_param_set *bp)
{
	(void)c;
	(void)scale;
	(void)bp;
}

const struct vp_family vp_family_flat = {
	.type = VP_TYPE_FLAT,
	.unit = "scan",
	.gemm = 1,
	.name = "FLAT",
	.keeps_vectors = 1,
	.build = flat_build,
	.open = flat_open,
	.close = flat_close,
	.search = flat_search,
	/* its merge slots grow with the batch: the largest batch that
	 * still splits the base between threads */
	.warm_queries = VP_FLAT_QBLOCK,
	.prefilter_recall = 1.0,
	.trace_kind = 0,
	.warm_units = flat_warm_units,
	.sweep_param = -1,
	.tune_candidates = flat_tune_candidates,
	.tune_build = flat_tune_build,
	.linear_qps = 1,
};
