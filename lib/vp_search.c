/* vp_search: opening an index and searching it through its family's row
 * (vp_family.h), filtered-search planning, and the merge across segments. */
#include "vp_search.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <xxhash.h>

#include "vp_alog.h"
#include "vp_dist.h"
#include "vp_family.h"
#include "vp_sys.h"
#include "vp_topk.h"

static int open_labels(struct vp_searcher *s, uint32_t i, struct vp_error *err)
{
	struct vp_segment *g = &s->seg[i];
	const struct vp_section *ls = vp_index_find(&s->ix, "labels", i);
	const struct vp_section *hs = vp_index_find(&s->ix, "label_hist", i);
	const void *p;
	int rc;
	if (!ls)
		return 0;
	if ((rc = vp_index_need(&s->ix, "labels", i, g->meta.count * 4, &p, err)))
		return rc;
	g->labels = p;
	if (hs && hs->length >= sizeof(struct vp_label_hist)) {
		const struct vp_label_hist *h = vp_index_data(&s->ix, hs);
		if (hs->length == sizeof *h + (uint64_t)h->bins * 8)
			g->hist = h;
	}
	return 0;
}

/* "row_ids": a segment whose rows are stored in another order than its
 * ids (a family that reorders rows for locality) maps each row to its id
 * offset; every entry below the segment's count, so a hostile file can
 * name a wrong id but never one of another segment. */
static int open_rowids(struct vp_searcher *s, uint32_t i, struct vp_error *err)
{
	struct vp_segment *g = &s->seg[i];
	const void *p;
	int rc;
	if (!vp_index_find(&s->ix, "row_ids", i))
		return 0;
	if ((rc = vp_index_need(&s->ix, "row_ids", i, g->meta.count * 4, &p, err)))
		return rc;
	g->rowid = p;
	for (uint64_t r = 0; r < g->meta.count && !s->ix.layout_only; r++)
		if (g->rowid[r] >= g->meta.count)
			return vp_seterr(err, VP_E_CORRUPT, "%s: corrupt index: row_ids of "
					 "segment %u out of range", s->ix.path, i);
	return 0;
}

/* "tombstones" (a bit per offset, set when deleted) and "ids" (each
 * offset's external id, when the segment's ids are not id_base onwards:
 * upserts, shards, compacted indexes); vp-index(5). */
static int open_edits(struct vp_searcher *s, uint32_t i, struct vp_error *err)
{
	struct vp_segment *g = &s->seg[i];
	uint64_t n = g->meta.count, words = (n + 63) / 64;
	const void *p;
	int rc;
	if (vp_index_find(&s->ix, "tombstones", i)) {
		if ((rc = vp_index_need(&s->ix, "tombstones", i, words * 8, &p, err)))
			return rc;
		g->dead = p;
		for (uint64_t w = 0; w < words; w++)
			g->ndead += (uint64_t)__builtin_popcountll(g->dead[w]);
		/* bits past the last row would count rows that do not exist */
		if ((n & 63) && g->dead[words - 1] >> (n & 63))
			return vp_seterr(err, VP_E_CORRUPT, "%s: corrupt index: tombstones "
					 "of segment %u past its rows", s->ix.path, i);
		if (g->ndead == 0)
			g->dead = NULL;
	}
	if (vp_index_find(&s->ix, "ids", i)) {
		if ((rc = vp_index_need(&s->ix, "ids", i, n * 8, &p, err)))
			return rc;
		g->ext = p;
		for (uint64_t r = 0; r < n && !s->ix.layout_only; r++)
			if (g->ext[r] < 0)
				return vp_seterr(err, VP_E_CORRUPT, "%s: corrupt index: "
						 "negative id in segment %u", s->ix.path, i);
	}
	return 0;
}

static int open_segment(struct vp_searcher *s, uint32_t i, struct vp_error *err)
{
	int rc = open_labels(s, i, err);
	if (!rc)
		rc = open_rowids(s, i, err);
	if (!rc)
		rc = open_edits(s, i, err);
	return rc ? rc : s->fam->open(s, i, err);
}

int vp_searcher_open(struct vp_searcher *s, const char *path, int verify,
		     struct vp_error *err)
{
	struct vp_segment_meta *metas;
	long nseg;
	int rc;

	memset(s, 0, sizeof *s);
	s->label_locality = -1;
	if ((rc = vp_index_open(&s->ix, path, err)))
		return rc;
	if (!(verify & VP_OPEN_LAYOUT) && (rc = vp_prefetch_ready(&s->ix))) {
		vp_index_close(&s->ix);
		return vp_seterr(err, rc, "out of memory");
	}
	s->ix.layout_only = (verify & VP_OPEN_LAYOUT) != 0;
	s->fam = vp_family_of((int)s->ix.hdr.type);
	if (!s->fam) {
		rc = vp_seterr(err, VP_E_UNSUPP, "%s: unknown index type %u", path,
			       s->ix.hdr.type);
		goto fail;
	}
	/* a planner reads offsets and centroids only: no readahead around them */
	if (s->ix.layout_only)
		madvise((void *)s->ix.map, s->ix.size, MADV_RANDOM);
	if ((verify & VP_OPEN_VERIFY) && (rc = vp_index_verify(&s->ix, err)))
		goto fail;
	nseg = vp_index_segments(&s->ix, &metas, err);
	if (nseg < 0) {
		rc = (int)nseg;
		goto fail;
	}
	s->seg = calloc((size_t)nseg, sizeof *s->seg);
	if (!s->seg) {
		free(metas);
		rc = vp_seterr(err, VP_E_NOMEM, "out of memory");
		goto fail;
	}
	s->nseg = (size_t)nseg;
	for (long i = 0; i < nseg; i++)
		s->seg[i].meta = metas[i];
	free(metas);
	for (size_t i = 0; i < s->nseg; i++)
		if ((rc = open_segment(s, (uint32_t)i, err)))
			goto fail;
	return 0;
fail:
	vp_searcher_close(s);
	return rc;
}

int vp_searcher_prefilter(struct vp_searcher *s, struct vp_segment *g,
			  const struct vp_fctx *fc, const float *q, size_t nq,
			  size_t k, int threads, float *dist, int64_t *ids,
			  struct vp_error *err)
{
	size_t n = g->meta.count, nm = 0, d = s->ix.hdr.dim;
	int metric = (int)s->ix.hdr.metric, failed = 0;
	if (!g->match && !(g->match = malloc((n ? n : 1) * sizeof *g->match)))
		return vp_seterr(err, VP_E_NOMEM, "out of memory");
	for (size_t r = 0; r < n; r++)
		if (vp_fctx_match(fc, r))
			g->match[nm++] = (uint32_t)r;
#pragma omp parallel num_threads(threads) reduction(| : failed)
	{
		struct vp_topk h;
		if (vp_topk_init(&h, k))
			failed = 1;
		else {
#pragma omp for schedule(dynamic, 4)
			for (size_t i = 0; i < nq; i++) {
				size_t got;
				vp_topk_reset(&h);
				for (size_t j = 0; j < nm; j++)
					vp_topk_push(&h, vp_distance(metric, q + i * d,
								     g->vectors + (size_t)g->match[j] * d, d),
						     (int64_t)g->meta.id_base +
						     (g->rowid ? g->rowid[g->match[j]] : g->match[j]));
				got = vp_topk_extract(&h, dist + i * k, ids + i * k);
				for (size_t r = got; r < k; r++) {
					dist[i * k + r] = __builtin_inff();
					ids[i * k + r] = -1;
				}
			}
		}
		vp_topk_release(&h);
	}
	return failed ? vp_seterr(err, VP_E_NOMEM, "out of memory") : 0;
}

static int search_segment(struct vp_searcher *s, struct vp_segment *g,
			  const float *q, size_t nq, size_t k,
			  const struct vp_param_set *ps, int threads,
			  const struct vp_filter *f, int plan, int64_t wide,
			  float *dist, int64_t *ids, struct vp_error *err)
{
	const struct vp_family *fam = s->fam;
	struct vp_fctx fc = { f, g->labels, (int64_t)g->meta.id_base, g->rowid,
			      g->dead, g->ext };
	/* deleted rows are filtered out like rows that fail a filter: a
	 * graph walks through them, lists skip them */
	const struct vp_fctx *fcp = f || g->dead ? &fc : NULL;
	int rc;

	g->traced = 0;
	if (s->tracing && fam->trace_stride) {
		/* the family's items, then the rows it read one by one */
		size_t stride = fam->trace_stride(g) + 1 + VP_TRACE_ROWS;
		if (nq * stride > g->tcap) {
			uint32_t *t = realloc(g->trace, nq * stride * sizeof *t);
			if (!t)
				return vp_seterr(err, VP_E_NOMEM, "out of memory");
			g->trace = t;
			g->tcap = nq * stride;
		}
		g->tstride = stride;
		/* each query's count only: an HNSW trace row is 8 KB, and a
		 * search writes what it records */
		for (size_t i = 0; i < nq; i++) {
			g->trace[i * stride] = 0;
			vp_trace_rows(g->trace + i * stride, stride)[0] = 0;
		}
		fam->trace_attach(g, g->trace, stride);
		g->traced = 1;
	}
	if (fcp && plan == VP_PLAN_PREFILTER && g->vectors)
		rc = vp_searcher_prefilter(s, g, fcp, q, nq, k, threads, dist, ids, err);
	else
		rc = fam->search(s, g, q, nq, k, ps, threads, fcp, plan, wide, dist, ids, err);
	if (g->traced)
		fam->trace_attach(g, NULL, 0);
	if (!rc && g->ext)
		for (size_t r = 0; r < nq * k; r++)
			if (ids[r] >= 0)
				ids[r] = g->ext[ids[r] - (int64_t)g->meta.id_base];
	return rc;
}

uint32_t vp_searcher_trace(const struct vp_searcher *s, size_t g, size_t i,
			   uint16_t *kind, const uint32_t **items)
{
	const struct vp_segment *sg = &s->seg[g];
	*kind = s->fam->trace_kind;
	*items = NULL;
	if (!sg->traced)
		return 0;
	*items = sg->trace + i * sg->tstride + 1;
	return sg->trace[i * sg->tstride];
}

uint32_t vp_searcher_trace_rows(const struct vp_searcher *s, size_t g, size_t i,
				const uint32_t **rows)
{
	const struct vp_segment *sg = &s->seg[g];
	const uint32_t *rt;
	*rows = NULL;
	if (!sg->traced)
		return 0;
	rt = vp_trace_rows(sg->trace + i * sg->tstride, sg->tstride);
	*rows = rt + 1;
	return rt[0];
}

int vp_searcher_rows_apart(const struct vp_searcher *s, size_t g)
{
	struct vp_family_units info;
	if (g >= s->nseg || !s->fam->warm_units)
		return 0;
	memset(&info, 0, sizeof info);
	s->fam->warm_units(s, g, &info, NULL);
	return info.rows && info.nrows && info.rowbytes && info.rows_range < 0;
}

static const char *const plan_names[VP_PLAN_COUNT] = {
	"auto", "index", "prefilter", "ivf-wide",
};

int vp_plan_parse(const char *name)
{
	for (int i = 0; i < VP_PLAN_COUNT; i++)
		if (!strcmp(name, plan_names[i]))
			return i;
	return -1;
}

/* Per-distance and per-filter-check costs, measured once. */
static void calibrate(struct vp_searcher *s, const struct vp_filter *f)
{
	size_t d = s->ix.hdr.dim, reps = 2000;
	float *a = calloc(2 * d, sizeof *a), acc = 0;
	uint64_t t0;
	int hits = 0;
	if (!a)
		return;
	for (size_t j = 0; j < 2 * d; j++)
		a[j] = (float)(j % 7);
	t0 = vp_now_nsec();
	for (size_t r = 0; r < reps; r++) {
		acc += vp_kernels()->l2(a, a + d, d);
		__asm__ volatile("" : : "r"(a) : "memory");
	}
	/* a vector from memory costs more than one in L1: x4, measured on
	 * Fashion-MNIST against scans of the mapping */
	s->cost_dist_us = 4.0 * (double)(vp_now_nsec() - t0) / 1e3 / (double)reps;
	t0 = vp_now_nsec();
	for (size_t r = 0; r < reps; r++)
		hits += vp_filter_match(f, (int32_t)(r & 15), (int64_t)r);
	s->cost_filter_us = (double)(vp_now_nsec() - t0) / 1e3 / (double)reps + 0.001;
	(void)acc;
	(void)hits;
	free(a);
}

int vp_searcher_check_filter(const struct vp_searcher *s, const struct vp_filter *f,
			     struct vp_error *err)
{
	if (!vp_filter_uses_labels(f))
		return 0;
	for (size_t g = 0; g < s->nseg; g++)
		if (!s->seg[g].labels)
			return vp_seterr(err, VP_E_ARG, s->nseg > 1 ?
					 "%s: segment %zu has no labels to filter on "
					 "(vp-build --labels)" :
					 "%s has no labels to filter on (vp-build --labels)",
					 s->ix.path, g);
	return 0;
}

int vp_searcher_plan(struct vp_searcher *s, const struct vp_filter *f,
		     size_t k, const struct vp_param_set *ps,
		     struct vp_plan_est est[VP_PLAN_COUNT], double *sel_out)
{
	int best = -1;
	double n = (double)s->ix.hdr.count, sel = 0, cd, cf;
	if (s->cost_dist_us <= 0)
		calibrate(s, f);
	cd = s->cost_dist_us;
	cf = s->cost_filter_us;
	for (size_t g = 0; g < s->nseg; g++) {
		const struct vp_segment *sg = &s->seg[g];
		double sg_sel = 0.5;
		if (sg->hist && sg->hist->bins)
			sg_sel = vp_filter_selectivity(f, (const uint64_t *)(sg->hist + 1),
						       sg->hist->bins, sg->hist->lo,
						       s->ix.hdr.count);
		else if (!sg->labels)
			sg_sel = vp_filter_selectivity(f, (const uint64_t[]){ 1 }, 1, 0,
						       s->ix.hdr.count);
		/* deleted rows never pass */
		sel += sg_sel * (double)(sg->meta.count - sg->ndead) / n;
	}
	*sel_out = sel;
	memset(est, 0, sizeof(struct vp_plan_est) * VP_PLAN_COUNT);
	for (int p = 0; p < VP_PLAN_COUNT; p++)
		est[p].name = plan_names[p];
	/* prefilter: a filter check per row, a distance per match */
	est[VP_PLAN_PREFILTER].available = 1;
	est[VP_PLAN_PREFILTER].cost_us = n * cf + sel * n * cd;
	est[VP_PLAN_PREFILTER].recall = s->fam->prefilter_recall;
	if (s->fam->plan)
		s->fam->plan(s, f, k, ps, sel, cd, cf, est);
	for (int p = 1; p < VP_PLAN_COUNT; p++)
		if (est[p].available && est[p].recall >= 0.95 &&
		    (best < 0 || est[p].cost_us < est[best].cost_us))
			best = p;
	if (best < 0)
		best = VP_PLAN_PREFILTER;
	return best;
}

int vp_searcher_search(struct vp_searcher *s, const float *q, size_t nq,
		       size_t k, const struct vp_param_set *ps, int threads,
		       float *dist, int64_t *ids, struct vp_error *err)
{
	return vp_searcher_search_filtered(s, q, nq, k, ps, threads, NULL, 0,
					   dist, ids, err);
}

int vp_searcher_search_filtered(struct vp_searcher *s, const float *q,
				size_t nq, size_t k,
				const struct vp_param_set *ps, int threads,
				const struct vp_filter *f, int plan,
				float *dist, int64_t *ids, struct vp_error *err)
{
	size_t d = s->ix.hdr.dim;
	int64_t wide = 0;
	int rc;

	if (f) {
		struct vp_plan_est est[VP_PLAN_COUNT];
		double sel;
		int chosen;
		if ((rc = vp_searcher_check_filter(s, f, err)))
			return rc;
		chosen = vp_searcher_plan(s, f, k, ps, est, &sel);
		if (plan == VP_PLAN_AUTO)
			plan = chosen;
		else if (!est[plan].available)
			return vp_seterr(err, VP_E_ARG, "plan '%s' does not apply to %s "
					 "indexes", est[plan].name,
					 vp_index_type_name((int)s->ix.hdr.type));
		wide = est[VP_PLAN_WIDE].nprobe;
	}

	if (s->ix.hdr.metric == VP_METRIC_COSINE) {
		if (nq * d > s->qcap) {
			float *b = realloc(s->qbuf, nq * d * sizeof *b);
			if (!b)
				return vp_seterr(err, VP_E_NOMEM, "out of memory");
			s->qbuf = b;
			s->qcap = nq * d;
		}
		memcpy(s->qbuf, q, nq * d * sizeof *q);
		for (size_t i = 0; i < nq; i++)
			vp_normalize(s->qbuf + i * d, d);
		q = s->qbuf;
	}
	if (s->nseg == 1)
		return search_segment(s, &s->seg[0], q, nq, k, ps, threads, f, plan,
				      wide, dist, ids, err);
	/* every segment into its own slice, then a merge per query */
	if (s->nseg * nq * k > s->pcap) {
		size_t cap = s->nseg * nq * k;
		float *pd = realloc(s->pd, cap * sizeof *pd);
		if (pd)
			s->pd = pd;
		int64_t *pi = pd ? realloc(s->pi, cap * sizeof *pi) : NULL;
		if (!pi)
			return vp_seterr(err, VP_E_NOMEM, "out of memory");
		s->pi = pi;
		s->pcap = cap;
	}
	/* segments in parallel, each on one thread (every segment has its
	 * own scratch pool, so no two threads share one) */
	rc = 0;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
	for (size_t g = 0; g < s->nseg; g++) {
		struct vp_error e = { 0 };
		int r = search_segment(s, &s->seg[g], q, nq, k, ps, 1, f, plan, wide,
				       s->pd + g * nq * k, s->pi + g * nq * k, &e);
		if (r) {
#pragma omp critical(vp_search_err)
			if (!rc) {
				rc = r;
				if (err)
					*err = e;
			}
		}
	}
	if (rc)
		return rc;
	for (size_t i = 0; i < nq; i++) {
		const float *ld[64];
		const int64_t *li[64];
		size_t ll[64], got = 0;
		/* merge up to 64 lists at a time, folding the result back in */
		for (size_t g0 = 0; g0 < s->nseg; g0 += 63) {
			size_t nl = 0;
			if (g0) {
				ld[nl] = dist + i * k;
				li[nl] = ids + i * k;
				ll[nl++] = got;
			}
			for (size_t g = g0; g < s->nseg && nl < 64; g++) {
				const int64_t *pl = s->pi + (g * nq + i) * k;
				size_t len = 0;
				while (len < k && pl[len] >= 0)
					len++;
				ld[nl] = s->pd + (g * nq + i) * k;
				li[nl] = pl;
				ll[nl++] = len;
			}
			float tmpd[k];
			int64_t tmpi[k];
			got = vp_topk_merge(ld, li, ll, nl, k, tmpd, tmpi);
			memcpy(dist + i * k, tmpd, got * sizeof *tmpd);
			memcpy(ids + i * k, tmpi, got * sizeof *tmpi);
		}
		for (size_t r = got; r < k; r++) {
			dist[i * k + r] = __builtin_inff();
			ids[i * k + r] = -1;
		}
	}
	return 0;
}

uint64_t vp_searcher_cache_seed(const struct vp_searcher *s, size_t k,
				const struct vp_param_set *ps, int plan,
				const struct vp_filter *f)
{
	struct {
		uint64_t hdr_xxh, k, plan;
		int64_t val[VP_P_COUNT];
	} in;
	memset(&in, 0, sizeof in);
	in.hdr_xxh = vp_index_checksum(&s->ix);
	in.k = k;
	in.plan = (uint64_t)plan;
	memcpy(in.val, ps->val, sizeof in.val);
	return XXH64(&in, sizeof in, f ? vp_filter_hash(f) : 0);
}

int vp_search_call_fn(void *call, const float *q, size_t nq, float *dist,
		      int64_t *ids, struct vp_error *err)
{
	struct vp_search_call *c = call;
	return vp_searcher_search_filtered(c->s, q, nq, c->k, c->ps, c->threads, c->f,
					   c->plan, dist, ids, err);
}

void vp_plan_cache_first(struct vp_plan_est *out, const struct vp_plan_est *fallback,
			 double hit_rate, double lookup_us)
{
	memset(out, 0, sizeof *out);
	out->name = "cache-first";
	out->available = 1;
	out->cost_us = lookup_us + (1.0 - hit_rate) * fallback->cost_us;
	out->recall = fallback->recall;
	out->nprobe = fallback->nprobe;
}

int vp_searcher_preallocate(struct vp_searcher *s, size_t batch, size_t k,
			    const struct vp_param_set *ps, int threads, struct vp_error *err)
{
	size_t d = s->ix.hdr.dim, cap = s->nseg * batch * k, nq;
	float *q, *dist;
	int64_t *ids;
	int rc = 0;
	/* what a batch of batch queries needs: the merge slices, the
	 * normalised copy of the queries */
	if (s->nseg > 1 && cap > s->pcap) {
		float *pd = realloc(s->pd, cap * sizeof *pd);
		int64_t *pi = pd ? realloc(s->pi, cap * sizeof *pi) : NULL;
		if (pd)
			s->pd = pd;
		if (!pi)
			return vp_seterr(err, VP_E_NOMEM, "out of memory");
		s->pi = pi;
		s->pcap = cap;
	}
	if (s->ix.hdr.metric == VP_METRIC_COSINE && batch * d > s->qcap) {
		float *b = realloc(s->qbuf, batch * d * sizeof *b);
		if (!b)
			return vp_seterr(err, VP_E_NOMEM, "out of memory");
		s->qbuf = b;
		s->qcap = batch * d;
	}
	/* every thread's pool, by searching: as many queries as threads, and
	 * for FLAT the largest batch that still splits the base between
	 * threads (its merge slots grow with the batch) */
	nq = (size_t)threads * s->fam->warm_queries;
	nq = nq < batch ? nq : batch;
	q = calloc(nq * d, sizeof *q);
	dist = malloc(nq * k * sizeof *dist);
	ids = malloc(nq * k * sizeof *ids);
	if (!q || !dist || !ids)
		rc = vp_seterr(err, VP_E_NOMEM, "out of memory");
	for (size_t m = threads < (int)nq ? (size_t)threads : nq; !rc && m <= nq;
	     m = m == nq ? nq + 1 : (2 * m < nq ? 2 * m : nq))
		rc = vp_searcher_search(s, q, m, k, ps, threads, dist, ids, err);
	free(q);
	free(dist);
	free(ids);
	return rc;
}

void vp_searcher_close(struct vp_searcher *s)
{
	for (size_t g = 0; g < s->nseg; g++) {
		if (s->fam)
			s->fam->close(&s->seg[g]);
		free(s->seg[g].match);
		free(s->seg[g].trace);
	}
	free(s->seg);
	vp_index_close(&s->ix);
	free(s->qbuf);
	free(s->pd);
	free(s->pi);
	memset(s, 0, sizeof *s);
}
