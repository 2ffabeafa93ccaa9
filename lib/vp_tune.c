/*
 * vp_tune: data analysis, candidate generation, evaluation on a sample and
 * the three search strategies.  See vp_tune.h for the design.
 *
 * Extrapolation from the sample (s rows) to the full base (n rows), as
 * documented in vp-tune(1): memory and FLAT/IVF scan time grow linearly
 * (QPS x s/n), HNSW search time grows with log n (QPS x ln s / ln n), build
 * time linearly (HNSW n ln n).
 */
#include "vp_tune.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "vp_build.h"
#include "vp_dist.h"
#include "vp_flat.h"
#include "vp_gen.h"
#include "vp_index.h"
#include "vp_ivf.h"
#include "vp_kmeans.h"
#include "vp_search.h"
#include "vp_stats.h"
#include "vp_sys.h"

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

/* Random distinct row indices: a partial Fisher-Yates shuffle. */
static uint32_t *sample_rows(size_t n, size_t m, struct vp_rng *r)
{
	uint32_t *p = malloc(n * sizeof *p);
	if (!p)
		return NULL;
	for (size_t i = 0; i < n; i++)
		p[i] = (uint32_t)i;
	for (size_t i = 0; i < m && i < n; i++) {
		size_t j = i + vp_rng_next(r) % (n - i);
		uint32_t t = p[i];
		p[i] = p[j];
		p[j] = t;
	}
	return p;
}

int vp_tune_analyze(const float *x, size_t n, size_t d, uint64_t seed,
		    struct vp_datastats *st, struct vp_error *err)
{
	const struct vp_kernels *k = vp_kernels();
	struct vp_rng r;
	uint64_t *h;
	size_t zeros = 0, ns = n < 5000 ? n : 5000, nq = ns < 300 ? ns : 300;
	uint32_t *perm;
	float *s;
	int rc = 0;

	memset(st, 0, sizeof *st);
	st->count = n;
	st->dim = d;
	st->norm_min = INFINITY;
	st->fingerprint = XXH64(x, n * d * sizeof *x, 0);
	h = malloc(n * sizeof *h);
	if (!h)
		return vp_seterr(err, VP_E_NOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		const float *v = x + i * d;
		double nm = sqrt(k->dot(v, v, d));
		st->norm_min = nm < st->norm_min ? nm : st->norm_min;
		st->norm_max = nm > st->norm_max ? nm : st->norm_max;
		st->norm_mean += nm;
		for (size_t j = 0; j < d; j++)
			zeros += v[j] == 0.0f;
		h[i] = XXH64(v, d * sizeof *v, 0);
	}
	st->norm_mean /= (double)n;
	st->unit_norm = st->norm_min > 0.99 && st->norm_max < 1.01;
	st->zero_fraction = (double)zeros / ((double)n * (double)d);
	qsort(h, n, sizeof *h, cmp_u64);
	for (size_t i = 1; i < n; i++)
		st->duplicates += h[i] == h[i - 1];
	free(h);

	/* intrinsic dimension: MLE of Levina & Bickel with the averaging of
	 * MacKay & Ghahramani, 10 neighbours, on a sample */
	vp_rng_seed(&r, seed);
	perm = sample_rows(n, ns, &r);
	s = malloc(ns * d * sizeof *s);
	if (!perm || !s) {
		rc = vp_seterr(err, VP_E_NOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < ns; i++)
		memcpy(s + i * d, x + (size_t)perm[i] * d, d * sizeof *s);
	if (ns > 12) {
		const size_t kk = 11; /* the point itself, then 10 neighbours */
		float *norms = malloc(ns * sizeof *norms), *dd = malloc(nq * kk * sizeof *dd);
		int64_t *ii = malloc(nq * kk * sizeof *ii);
		struct vp_flat f;
		struct vp_flat_pool pool = { 0 };
		double inv = 0;
		size_t used = 0;
		if (!norms || !dd || !ii) {
			free(norms); free(dd); free(ii);
			rc = vp_seterr(err, VP_E_NOMEM, "out of memory");
			goto out;
		}
		vp_sqnorms(s, ns, d, norms);
		f = (struct vp_flat){ s, norms, ns, d, VP_METRIC_L2, 0 };
		rc = vp_flat_search(&f, &pool, s, nq, kk, 1, dd, ii, err);
		for (size_t q = 0; q < nq && !rc; q++) {
			double t[11], sum = 0;
			int ok = 1;
			for (size_t j = 1; j < kk; j++) {
				t[j] = sqrt(dd[q * kk + j]);
				ok &= t[j] > 0;
			}
			if (!ok)
				continue;
			for (size_t j = 1; j < kk - 1; j++)
				sum += log(t[kk - 1] / t[j]);
			inv += sum / (double)(kk - 2);
			used++;
		}
		st->intrinsic_dim = used && inv > 0 ? (double)used / inv : 0;
		vp_flat_pool_release(&pool);
		free(norms); free(dd); free(ii);
	}
	/* cluster structure: how much of the variance 16 centroids explain */
	if (!rc && ns >= 64) {
		size_t nc = 16, nk = ns < 2000 ? ns : 2000;
		float *cent = malloc(nc * d * sizeof *cent), *dist = malloc(nk * sizeof *dist);
		uint32_t *as = malloc(nk * sizeof *as);
		double *mean = calloc(d, sizeof *mean), tot = 0, within = 0;
		if (!cent || !dist || !as || !mean)
			rc = vp_seterr(err, VP_E_NOMEM, "out of memory");
		if (!rc)
			rc = vp_kmeans(s, nk, d, nc, 1, seed, cent, err);
		if (!rc)
			rc = vp_kmeans_assign(s, nk, d, cent, nc, 1, as, dist, err);
		if (!rc) {
			for (size_t i = 0; i < nk; i++)
				for (size_t j = 0; j < d; j++)
					mean[j] += s[i * d + j];
			for (size_t j = 0; j < d; j++)
				mean[j] /= (double)nk;
			for (size_t i = 0; i < nk; i++) {
				within += dist[i];
				for (size_t j = 0; j < d; j++)
					tot += (s[i * d + j] - mean[j]) * (s[i * d + j] - mean[j]);
			}
			st->explained16 = tot > 0 ? 1.0 - within / tot : 0;
		}
		free(cent); free(dist); free(as); free(mean);
	}
out:
	free(perm);
	free(s);
	return rc;
}

static size_t pow2_near(double v)
{
	size_t p = 1;
	while ((double)p * 1.41421356 < v)
		p *= 2;
	return p;
}

static void say(const struct vp_tune_opts *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void say(const struct vp_tune_opts *o, const char *fmt, ...)
{
	char line[400];
	va_list ap;
	if (!o->reason)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	o->reason(o->ctx, line);
}

static void add_cand(struct vp_tune_result *res, int type, int64_t p1, int l1,
		     int64_t p2, int l2)
{
	struct vp_tune_cand *c;
	if (res->ncand >= VP_TUNE_MAX_CANDIDATES)
		return;
	c = &res->cand[res->ncand++];
	memset(c, 0, sizeof *c);
	c->type = type;
	c->p1 = p1;
	c->p2 = p2;
	c->level1 = l1;
	c->level2 = l2;
}

/* The candidates, with the reasons for their ranges. */
static void make_candidates(size_t n, size_t d, const struct vp_datastats *st,
			    const struct vp_tune_opts *o, struct vp_tune_result *res)
{
	size_t c = pow2_near(sqrt((double)n)), m0 = vp_pq_default_m(d);
	int Ms[3];
	if (o->types & VP_T(VP_TYPE_FLAT)) {
		add_cand(res, VP_TYPE_FLAT, 0, 0, 0, 0);
		say(o, "FLAT: exact, the baseline every approximate index is measured against");
	}
	if (o->types & (VP_T(VP_TYPE_IVF_FLAT) | VP_T(VP_TYPE_IVF_SQ8) | VP_T(VP_TYPE_IVF_PQ)))
		say(o, "IVF: nlist around sqrt(%zu) = %.0f: %zu, %zu, %zu, %zu%s", n,
		    sqrt((double)n), c / 2 ? c / 2 : 1, c, 2 * c, 4 * c,
		    st->explained16 > 0.5 ? " (the data is clustered: coarse lists fit it)"
					  : " (weak cluster structure: expect a higher nprobe)");
	for (int t = VP_TYPE_IVF_FLAT; t <= VP_TYPE_IVF_SQ8; t++)
		if (o->types & VP_T(t))
			for (int l = 0; l < 4; l++) {
				size_t nl = l == 0 ? (c / 2 ? c / 2 : 1) : c << (l - 1);
				if (nl <= n / 8)
					add_cand(res, t, (int64_t)nl, l, 0, 0);
			}
	if ((o->types & VP_T(VP_TYPE_IVF_PQ)) && n >= 1024) {
		size_t ms[2] = { m0, (m0 % 2 == 0 && d % (m0 / 2) == 0) ? m0 / 2 : 0 };
		say(o, "IVF_PQ: m = %zu (sub-vectors of %zu dims) and %zu; refine re-ranks "
		    "to lift the PQ recall ceiling", m0, d / m0, ms[1]);
		for (int l = 0; l < 3; l++)
			for (int mm = 0; mm < 2; mm++) {
				size_t nl = l == 0 ? (c / 2 ? c / 2 : 1) : c << (l - 1);
				if (ms[mm] && nl <= n / 8)
					add_cand(res, VP_TYPE_IVF_PQ, (int64_t)nl, l,
						 (int64_t)ms[mm], mm);
			}
	}
	if (o->types & VP_T(VP_TYPE_HNSW)) {
		if (st->intrinsic_dim < 8)
			Ms[0] = 8, Ms[1] = 12, Ms[2] = 16;
		else if (st->intrinsic_dim < 20)
			Ms[0] = 12, Ms[1] = 16, Ms[2] = 24;
		else
			Ms[0] = 16, Ms[1] = 24, Ms[2] = 32;
		say(o, "HNSW: intrinsic dimension %.1f, so M in %d, %d, %d (more links for "
		    "higher intrinsic dimension); efConstruction 100 and 200",
		    st->intrinsic_dim, Ms[0], Ms[1], Ms[2]);
		for (int l = 0; l < 3; l++)
			for (int e = 0; e < 2; e++)
				add_cand(res, VP_TYPE_HNSW, Ms[l], l, e ? 200 : 100, e);
	}
	if (st->unit_norm)
		say(o, "norms are all 1: cosine and inner product rank alike (use ip)");
	if (st->duplicates)
		say(o, "%zu duplicate rows: they tie in every result list", st->duplicates);
}

/* Times each query alone on one thread (vp-bench's latency mode);
 * returns QPS and sets *recall. */
static double measure(struct vp_searcher *s, const float *q, size_t nq, size_t d,
		      size_t k, const struct vp_param_set *ps, const int32_t *gt,
		      float *dist, int64_t *ids, double *recall, struct vp_error *err)
{
	uint64_t t0;
	size_t warm = nq < 16 ? nq : 16;
	if (vp_searcher_search(s, q, warm, k, ps, 1, dist, ids, err))
		return -1;
	t0 = vp_now_nsec();
	for (size_t i = 0; i < nq; i++)
		if (vp_searcher_search(s, q + i * d, 1, k, ps, 1, dist + i * k,
				       ids + i * k, err))
			return -1;
	*recall = vp_recall(ids, nq, k, gt, k);
	return (double)nq / ((double)(vp_now_nsec() - t0) / 1e9);
}

struct evalctx {
	const float *xs, *q;
	size_t ns, nq, d, n;
	const int32_t *gt;
	float *dist;
	int64_t *ids;
	float *work; /* a copy of xs: a build may normalise it */
	const struct vp_tune_opts *o;
	double scale;
};

static void record(struct vp_tune_cand *c, double recall, double qps,
		   int64_t param, int64_t refine)
{
	if (c->npoints < VP_TUNE_MAX_POINTS) {
		c->pt_recall[c->npoints] = recall;
		c->pt_qps[c->npoints] = qps;
		c->pt_param[c->npoints] = param;
		c->pt_refine[c->npoints] = refine;
		c->npoints++;
	}
}

static int evaluate(struct evalctx *e, struct vp_tune_cand *c, struct vp_error *err)
{
	const struct vp_tune_opts *o = e->o;
	struct vp_build_opts bo;
	struct vp_index_writer w;
	struct vp_searcher s;
	struct vp_param_set ps;
	char path[512];
	struct stat st;
	uint64_t t0;
	double qscale, bscale;
	int rc, fd;
	static const int64_t efs[] = { 10, 12, 16, 20, 24, 32, 40, 48, 64, 80, 96, 128, 160,
				       192, 256, 320, 384, 512, 768, 1024 };
	static const int64_t probes[] = { 1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32, 40, 48,
					  64, 96, 128, 192, 256, 384, 512, 1024 };
	/* a measured recall must clear the target by one standard error of a
	 * per-query estimate, so that the choice holds on new queries */
	const double need = o->target_recall +
			    sqrt(o->target_recall * (1 - o->target_recall) / (double)e->nq);

	vp_build_opts_init(&bo);
	bo.type = c->type;
	bo.metric = o->metric;
	bo.threads = o->threads;
	bo.seed = o->seed;
	if (c->type >= VP_TYPE_IVF_FLAT && c->type <= VP_TYPE_IVF_PQ) {
		/* nlist is chosen for the full base; the sample gets as many
		 * rows per list: nlist x s/n */
		int64_t nl = (int64_t)llround((double)c->p1 / e->scale);
		bo.params.val[VP_P_NLIST] = nl < 1 ? 1 : nl;
		if (c->type == VP_TYPE_IVF_PQ)
			bo.params.val[VP_P_PQ_M] = c->p2;
	} else if (c->type == VP_TYPE_HNSW) {
		bo.params.val[VP_P_HNSW_M] = c->p1;
		bo.params.val[VP_P_EFC] = c->p2;
	}
	snprintf(path, sizeof path, "%s/vp-tune.XXXXXX", o->tmpdir ? o->tmpdir : "/tmp");
	fd = mkstemp(path);
	if (fd < 0)
		return vp_seterr(err, VP_E_IO, "%s: cannot create a trial index", path);
	close(fd);
	memcpy(e->work, e->xs, e->ns * e->d * sizeof *e->work);
	t0 = vp_now_usec();
	if ((rc = vp_index_writer_open(&w, path, err)) ||
	    (rc = vp_build_index(&w, e->work, e->ns, (uint32_t)e->d, &bo, err))) {
		unlink(path);
		return rc;
	}
	c->build_s = (double)(vp_now_usec() - t0) / 1e6;
	if ((rc = vp_searcher_open(&s, path, 0, err))) {
		unlink(path);
		return rc;
	}
	stat(path, &st);
	unlink(path); /* the mapping stays valid */
	c->memory = (double)st.st_size * e->scale;
	if (c->type == VP_TYPE_HNSW) {
		qscale = log((double)e->ns) / log((double)e->n);
		bscale = e->scale * log((double)e->n) / log((double)e->ns > 1 ? (double)e->ns : 2);
	} else {
		qscale = 1.0 / e->scale;
		bscale = e->scale;
	}
	c->build_s *= bscale;
	c->recall = 0;
	c->qps = 0;
	c->feasible = 0;
	/* sweep the search parameter until the target is met */
	if (c->type == VP_TYPE_FLAT) {
		double r, q;
		vp_params_defaults(&ps);
		q = measure(&s, e->q, e->nq, e->d, o->k, &ps, e->gt, e->dist, e->ids, &r, err);
		if (q < 0)
			goto fail;
		record(c, r, q * qscale, 0, 0);
		c->recall = r;
		c->qps = q * qscale;
		c->feasible = r >= need;
	} else {
		int nref = c->type == VP_TYPE_IVF_PQ ? 4 : 1;
		int64_t refs[4] = { 0, 2 * (int64_t)o->k, 5 * (int64_t)o->k, 10 * (int64_t)o->k };
		for (int ri = 0; ri < nref; ri++) {
			const int64_t *vals = c->type == VP_TYPE_HNSW ? efs : probes;
			size_t nv = c->type == VP_TYPE_HNSW ? sizeof efs / sizeof *efs
							    : sizeof probes / sizeof *probes;
			for (size_t vi = 0; vi < nv; vi++) {
				double r, q;
				int64_t v = vals[vi];
				vp_params_defaults(&ps);
				if (c->type == VP_TYPE_HNSW) {
					if (v < (int64_t)o->k && vi + 1 < nv)
						continue;
					ps.val[VP_P_EF] = v;
				} else {
					int64_t nl = (int64_t)(s.seg[0].ivf.nlist);
					if (v > nl)
						break;
					ps.val[VP_P_NPROBE] = v;
					ps.val[VP_P_REFINE] = refs[ri];
				}
				q = measure(&s, e->q, e->nq, e->d, o->k, &ps, e->gt, e->dist,
					    e->ids, &r, err);
				if (q < 0)
					goto fail;
				q *= qscale;
				record(c, r, q, v, refs[ri]);
				if (r >= need) {
					if (!c->feasible || q > c->qps) {
						c->feasible = 1;
						c->recall = r;
						c->qps = q;
						c->sparam = v;
						c->refine = refs[ri];
					}
					break;
				}
				if (!c->feasible && r > c->recall) {
					c->recall = r;
					c->qps = q;
					c->sparam = v;
					c->refine = refs[ri];
				}
			}
		}
	}
	if (o->memory_budget > 0 && c->memory > o->memory_budget)
		c->feasible = 0;
	c->objective = o->objective == VP_OBJ_QPS ? c->qps
		     : o->objective == VP_OBJ_MEMORY ? -c->memory : -c->build_s;
	c->evaluated = 1;
	vp_searcher_close(&s);
	return 0;
fail:
	vp_searcher_close(&s);
	return err->code ? err->code : VP_E_NOMEM;
}

/* Ranks evaluations: feasible before not, then by objective, then recall. */
static int better(const struct vp_tune_cand *a, const struct vp_tune_cand *b)
{
	if (a->feasible != b->feasible)
		return a->feasible > b->feasible;
	if (a->feasible)
		return a->objective > b->objective;
	return a->recall > b->recall;
}

/* TPE: the unevaluated candidate maximising l(x)/g(x), with l and g
 * smoothed categorical densities of (type, level1) and (type, level2) over
 * the best quarter of the evaluations and the rest. */
static int tpe_pick(const struct vp_tune_result *res, const int *order, int nord)
{
	int idx[VP_TUNE_MAX_CANDIDATES], ne = 0, ngood, best = -1;
	double bestscore = -1;
	for (int i = 0; i < res->ncand; i++)
		if (res->cand[i].evaluated)
			idx[ne++] = i;
	/* sort evaluated by rank (insertion sort: few) */
	for (int i = 1; i < ne; i++)
		for (int j = i; j > 0 && better(&res->cand[idx[j]], &res->cand[idx[j - 1]]); j--) {
			int t = idx[j];
			idx[j] = idx[j - 1];
			idx[j - 1] = t;
		}
	ngood = (ne + 3) / 4;
	for (int oi = 0; oi < nord; oi++) {
		const struct vp_tune_cand *c = &res->cand[order[oi]];
		double l = 1, g = 1;
		if (c->evaluated)
			continue;
		for (int f = 0; f < 3; f++) {
			int cg = 0, cb = 0;
			for (int e = 0; e < ne; e++) {
				const struct vp_tune_cand *x = &res->cand[idx[e]];
				int same = x->type == c->type &&
					   (f == 0 || (f == 1 ? x->level1 == c->level1
							      : x->level2 == c->level2));
				if (same) {
					if (e < ngood)
						cg++;
					else
						cb++;
				}
			}
			/* 6 types, up to 4 levels: add-one smoothing */
			l *= (cg + 1.0) / (ngood + 6.0);
			g *= (cb + 1.0) / (ne - ngood + 6.0);
		}
		if (l / g > bestscore) {
			bestscore = l / g;
			best = order[oi];
		}
	}
	return best;
}

int vp_tune_run(const float *x, size_t n, size_t d, const float *q, size_t nq,
		const struct vp_datastats *st, const struct vp_tune_opts *o,
		struct vp_tune_result *res, struct vp_error *err)
{
	struct evalctx e;
	struct vp_rng r;
	size_t ns, nqs;
	uint32_t *perm = NULL;
	float *xs = NULL, *qs = NULL, *norms = NULL, *gd = NULL;
	int32_t *gt = NULL;
	int64_t *gi = NULL;
	int order[VP_TUNE_MAX_CANDIDATES];
	uint64_t t0 = vp_now_usec();
	int rc = 0;

	memset(res, 0, sizeof *res);
	res->best = -1;
	vp_rng_seed(&r, o->seed);
	nqs = o->nqueries ? o->nqueries : 1000;
	if (q)
		nqs = nqs < nq ? nqs : nq;
	else if (nqs > n / 2)
		nqs = n / 2;
	/* the sample: what the time budget affords (about 400 rows per second
	 * of budget), all of it when no budget is set */
	ns = o->sample ? o->sample
	     : o->time_budget > 0 ? (size_t)(o->time_budget * 400) : n;
	if (ns < 1000)
		ns = 1000;
	if (ns > n - (q ? 0 : nqs))
		ns = n - (q ? 0 : nqs);
	if (ns < 2 || nqs < 1)
		return vp_seterr(err, VP_E_ARG, "too few vectors to tune on (%zu)", n);
	perm = sample_rows(n, ns + (q ? 0 : nqs), &r);
	xs = malloc(ns * d * sizeof *xs);
	qs = malloc(nqs * d * sizeof *qs);
	e.work = malloc(ns * d * sizeof *e.work);
	norms = malloc(ns * sizeof *norms);
	gd = malloc(nqs * o->k * sizeof *gd);
	gi = malloc(nqs * o->k * sizeof *gi);
	gt = malloc(nqs * o->k * sizeof *gt);
	e.dist = malloc(nqs * o->k * sizeof *e.dist);
	e.ids = malloc(nqs * o->k * sizeof *e.ids);
	if (!perm || !xs || !qs || !e.work || !norms || !gd || !gi || !gt || !e.dist || !e.ids) {
		rc = vp_seterr(err, VP_E_NOMEM, "out of memory");
		goto out;
	}
	/* keep the sample in row order: the ids of a trial are positions */
	{
		qsort(perm, ns, sizeof *perm, cmp_u32);
	}
	for (size_t i = 0; i < ns; i++)
		memcpy(xs + i * d, x + (size_t)perm[i] * d, d * sizeof *xs);
	for (size_t i = 0; i < nqs; i++)
		memcpy(qs + i * d, q ? q + i * d : x + (size_t)perm[ns + i] * d, d * sizeof *qs);
	if (o->metric == VP_METRIC_COSINE)
		for (size_t i = 0; i < nqs; i++)
			vp_normalize(qs + i * d, d);
	/* exact ground truth on the sample */
	{
		struct vp_flat f;
		struct vp_flat_pool pool = { 0 };
		float *xn = xs;
		if (o->metric == VP_METRIC_COSINE) {
			memcpy(e.work, xs, ns * d * sizeof *xs);
			for (size_t i = 0; i < ns; i++)
				vp_normalize(e.work + i * d, d);
			xn = e.work;
		}
		vp_sqnorms(xn, ns, d, norms);
		f = (struct vp_flat){ xn, norms, ns, d, o->metric, 0 };
		rc = vp_flat_search(&f, &pool, qs, nqs, o->k, o->threads, gd, gi, err);
		vp_flat_pool_release(&pool);
		if (rc)
			goto out;
		for (size_t i = 0; i < nqs * o->k; i++)
			gt[i] = (int32_t)gi[i];
	}
	res->sample = ns;
	res->nq = nqs;
	res->scale = (double)n / (double)ns;
	say(o, "evaluating on %zu of %zu vectors with %zu %s queries; QPS, memory and "
	    "build time extrapolated x%.2f to the full size", ns, n, nqs,
	    q ? "given" : "held-out", res->scale);
	make_candidates(n, d, st, o, res);
	e = (struct evalctx){ xs, qs, ns, nqs, d, n, gt, e.dist, e.ids, e.work, o,
			      res->scale };
	for (int i = 0; i < res->ncand; i++)
		order[i] = i;
	if (o->method != VP_TUNE_GRID)
		for (int i = res->ncand - 1; i > 0; i--) {
			int j = (int)(vp_rng_next(&r) % (uint64_t)(i + 1)), t = order[i];
			order[i] = order[j];
			order[j] = t;
		}
	for (int it = 0; it < res->ncand; it++) {
		int ci;
		double elapsed = (double)(vp_now_usec() - t0) / 1e6;
		if (o->time_budget > 0 && elapsed >= o->time_budget) {
			say(o, "time budget of %.0f s used after %d evaluations", o->time_budget, it);
			break;
		}
		/* bayes: three random starts, then TPE proposals */
		ci = (o->method == VP_TUNE_BAYES && it >= 3) ? tpe_pick(res, order, res->ncand)
							     : order[it];
		if (o->method != VP_TUNE_BAYES || it < 3)
			ci = order[it];
		if (ci < 0 || res->cand[ci].evaluated) {
			/* TPE may point at an evaluated one: take the next unevaluated */
			ci = -1;
			for (int t = 0; t < res->ncand && ci < 0; t++)
				if (!res->cand[order[t]].evaluated)
					ci = order[t];
			if (ci < 0)
				break;
		}
		if ((rc = evaluate(&e, &res->cand[ci], err)))
			goto out;
		res->cand[ci].order = ++res->nevaluated;
		if (res->best < 0 || better(&res->cand[ci], &res->cand[res->best]))
			res->best = ci;
		if (o->report)
			o->report(o->ctx, &res->cand[ci], res->nevaluated,
				  res->cand[res->best].feasible ? res->cand[res->best].objective : NAN);
	}
	if (res->best >= 0 && !res->cand[res->best].feasible)
		res->best = -1;
out:
	res->seconds = (double)(vp_now_usec() - t0) / 1e6;
	free(perm);
	free(xs);
	free(qs);
	free(e.work);
	free(norms);
	free(gd);
	free(gi);
	free(gt);
	free(e.dist);
	free(e.ids);
	return rc;
}
