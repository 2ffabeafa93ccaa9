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
#include "vp_family.h"
#include "vp_search.h"
#include "vp_stats.h"
#include "vp_sys.h"

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

static int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
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
		f = (struct vp_flat){ s, norms, ns, d, VP_METRIC_L2, 0, NULL };
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


void vp_tune_say(const struct vp_tune_opts *o, const char *fmt, ...)
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

struct vp_tune_cand *vp_tune_add_cand(struct vp_tune_result *res, int type, int64_t p1,
				       int l1, int64_t p2, int l2)
{
	struct vp_tune_cand *c;
	if (res->ncand >= VP_TUNE_MAX_CANDIDATES)
		return NULL;
	c = &res->cand[res->ncand++];
	memset(c, 0, sizeof *c);
	c->type = type;
	c->p1 = p1;
	c->p2 = p2;
	c->level1 = l1;
	c->level2 = l2;
	return c;
}

/* The candidates, with the reasons for their ranges: each family's row
 * adds its own. */
static void make_candidates(size_t n, size_t d, const struct vp_datastats *st,
			    const struct vp_tune_opts *o, struct vp_tune_result *res)
{
	for (size_t f = 0; f < vp_nfamilies; f++)
		if (o->types & VP_T(vp_families[f]->type))
			vp_families[f]->tune_candidates(n, d, st, o, res);
	if (st->unit_norm)
		vp_tune_say(o, "norms are all 1: cosine and inner product rank alike (use ip)");
	if (st->duplicates)
		vp_tune_say(o, "%zu duplicate rows: they tie in every result list", st->duplicates);
}

/* Recall with its uncertainty: the mean of the per-query recalls, and the
 * 5th and 95th percentiles of that mean over bootstrap resamples of the
 * queries (a 90% interval whose low end is a one-sided 95% bound). */
struct rstat {
	double mean, lo, hi;
};

#define BOOT 1000

static struct rstat recall_stat(const int64_t *ids, size_t nq, size_t k, const int32_t *gt,
				double *per)
{
	struct rstat r = { 0, 0, 0 };
	struct vp_rng g;
	static double means[BOOT];
	for (size_t i = 0; i < nq; i++) {
		per[i] = vp_recall(ids + i * k, 1, k, gt + i * k, k);
		r.mean += per[i];
	}
	r.mean /= (double)nq;
	vp_rng_seed(&g, 7); /* the same resamples for every point: comparable */
	for (int b = 0; b < BOOT; b++) {
		double sum = 0;
		for (size_t i = 0; i < nq; i++)
			sum += per[vp_rng_next(&g) % nq];
		means[b] = sum / (double)nq;
	}
	qsort(means, BOOT, sizeof *means, cmp_dbl);
	r.lo = means[BOOT / 20];
	r.hi = means[BOOT - 1 - BOOT / 20];
	return r;
}

/* What one evaluation works with: the base rows it builds on (the sample,
 * or the full base less the held-out queries), the queries, their exact
 * neighbours among those rows, scratch. */
struct evalctx {
	const float *x, *q;
	size_t nx, nq, d, n;
	const int32_t *gt;
	float *dist;
	int64_t *ids;
	double *per;
	float *work; /* a copy of x for each build (it normalises, reorders) */
	const struct vp_tune_opts *o;
	double scale; /* n / nx */
	double need;
};

/* Times each query alone on one thread (vp-bench's latency mode); returns
 * QPS and sets *r. */
static double measure(const struct evalctx *e, struct vp_searcher *s,
		      const struct vp_param_set *ps, struct rstat *r, struct vp_error *err)
{
	uint64_t t0;
	size_t warm = e->nq < 16 ? e->nq : 16, k = e->o->k, d = e->d;
	if (vp_searcher_search(s, e->q, warm, k, ps, 1, e->dist, e->ids, err))
		return -1;
	t0 = vp_now_nsec();
	for (size_t i = 0; i < e->nq; i++)
		if (vp_searcher_search(s, e->q + i * d, 1, k, ps, 1, e->dist + i * k,
				       e->ids + i * k, err))
			return -1;
	*r = recall_stat(e->ids, e->nq, k, e->gt, e->per);
	return (double)e->nq / ((double)(vp_now_nsec() - t0) / 1e9);
}


/* One point of a sweep: value index vi of the candidate's search parameter
 * with refine.  Returns 1 when it meets e->need, 0 when not, -1 on error,
 * and keeps the cheapest point that meets it (or, while none has, the one
 * with the highest recall) in c. */
static int point(const struct evalctx *e, struct vp_tune_cand *c, struct vp_searcher *s,
		 int vi, int64_t refine, double qscale, struct vp_error *err)
{
	struct vp_param_set ps;
	struct rstat r;
	double q;
	int meets;
	const struct vp_family *fam = vp_family_of(c->type);
	int64_t v = fam->nsweep ? fam->sweep_values[vi] : 0;
	vp_params_defaults(&ps);
	if (fam->sweep_param >= 0)
		ps.val[fam->sweep_param] = v;
	if (fam->refine_k)
		ps.val[fam->refine_param] = refine;
	if ((q = measure(e, s, &ps, &r, err)) < 0)
		return -1;
	q *= qscale;
	meets = r.lo >= e->need;
	/* keep the fastest point that meets the target, or while none has,
	 * the one with the highest recall */
	if (meets ? !c->feasible || q > c->qps : !c->feasible && r.mean > c->recall) {
		c->feasible = meets;
		c->recall = r.mean;
		c->recall_lo = r.lo;
		c->recall_hi = r.hi;
		c->qps = q;
		c->sparam = v;
		c->refine = refine;
	}
	return meets;
}

static int value_index(const struct vp_tune_cand *c, int64_t v)
{
	const struct vp_family *fam = vp_family_of(c->type);
	for (int i = 0; i < fam->nsweep; i++)
		if (fam->sweep_values[i] >= v)
			return i;
	return fam->nsweep ? fam->nsweep - 1 : 0;
}

/* Builds the candidate on e->x and sweeps its search parameter, from
 * start (an index into its value list): downwards while the target is
 * still met, upwards until it is.  Sets the candidate's figures. */
static int evaluate(struct evalctx *e, struct vp_tune_cand *c, int start, struct vp_error *err)
{
	const struct vp_tune_opts *o = e->o;
	struct vp_build_opts bo;
	struct vp_index_writer w;
	struct vp_searcher s;
	char path[512];
	struct stat st;
	uint64_t t0 = vp_now_usec(), tb;
	double qscale, bscale;
	const struct vp_family *fam = vp_family_of(c->type);
	int rc, fd, nv = fam->nsweep;
	const float *xb = e->x;

	vp_build_opts_init(&bo);
	bo.type = c->type;
	bo.metric = o->metric;
	bo.threads = o->threads;
	bo.seed = o->seed;
	fam->tune_build(c, e->scale, &bo.params);
	snprintf(path, sizeof path, "%s/vp-tune.XXXXXX", o->tmpdir ? o->tmpdir : "/tmp");
	fd = mkstemp(path);
	if (fd < 0)
		return vp_seterr(err, VP_E_IO, "%s: cannot create a trial index", path);
	close(fd);
	/* the build normalises its input (cosine) and a family may reorder
	 * its rows (HNSW): then it gets a copy, x stays const.  Otherwise it
	 * reads x itself: at 10M x 128 the copy was 5 GB of the 19.5 GiB
	 * peak of a full-base check of IVF_FLAT */
	if (fam->moves_rows || o->metric == VP_METRIC_COSINE) {
		memcpy(e->work, e->x, e->nx * e->d * sizeof *e->work);
		xb = e->work;
	}
	tb = vp_now_usec();
	if ((rc = vp_index_writer_open(&w, path, err)) ||
	    (rc = vp_build_index(&w, (float *)(uintptr_t)xb, e->nx, (uint32_t)e->d, &bo, err))) {
		unlink(path);
		return rc;
	}
	c->build_s = (double)(vp_now_usec() - tb) / 1e6;
	if ((rc = vp_searcher_open(&s, path, 0, err))) {
		unlink(path);
		return rc;
	}
	stat(path, &st);
	unlink(path); /* the mapping stays valid */
	c->memory = (double)st.st_size * e->scale;
	if (!fam->linear_qps) {
		/* a graph walk grows with log n */
		qscale = log((double)e->nx) / log((double)e->n);
		bscale = e->scale * log((double)e->n) / log((double)e->nx > 1 ? (double)e->nx : 2);
	} else {
		qscale = 1.0 / e->scale;
		bscale = e->scale;
	}
	c->build_s *= bscale;
	c->recall = c->recall_lo = c->recall_hi = 0;
	c->qps = 0;
	c->feasible = 0;
	if (!nv) {
		if (point(e, c, &s, 0, 0, qscale, err) < 0)
			goto fail;
	} else {
		int nref = fam->refine_k ? fam->nrefine : 1;
		for (int ri = 0; ri < nref; ri++) {
			int64_t refine = fam->refine_k ? fam->refine_k[ri] * (int64_t)o->k : 0;
			int vi = start, dir = 0, r;
			/* from the first value that applies (ef below k does not) */
			while (vi < nv - 1 && !fam->sweep_ok(&s, fam->sweep_values[vi], o->k) &&
			       fam->sweep_values[vi] < (int64_t)o->k)
				vi++;
			/* up until it meets the target, or down while it does */
			for (; vi >= 0 && vi < nv; vi += dir) {
				if (!fam->sweep_ok(&s, fam->sweep_values[vi], o->k))
					break;
				if ((r = point(e, c, &s, vi, refine, qscale, err)) < 0)
					goto fail;
				if (!dir)
					dir = r ? -1 : 1;
				else if ((dir < 0) != (r != 0))
					break;
			}
		}
	}
	if (o->memory_budget > 0 && c->memory > o->memory_budget)
		c->feasible = 0;
	c->objective = o->objective == VP_OBJ_QPS ? c->qps
		     : o->objective == VP_OBJ_MEMORY ? -c->memory : -c->build_s;
	c->evaluated = 1;
	c->cost_s = (double)(vp_now_usec() - t0) / 1e6;
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

/* Exact neighbours of the queries among the rows of e (e->gt's storage). */
static int truth(struct evalctx *e, int32_t *gt, int threads, struct vp_error *err)
{
	struct vp_flat f;
	struct vp_flat_pool pool = { 0 };
	const float *xn = e->x;
	float *norms = malloc(e->nx * sizeof *norms);
	int64_t *gi = malloc(e->nq * e->o->k * sizeof *gi);
	float *gd = malloc(e->nq * e->o->k * sizeof *gd);
	int rc = 0;
	if (!norms || !gi || !gd) {
		rc = vp_seterr(err, VP_E_NOMEM, "out of memory");
		goto out;
	}
	if (e->o->metric == VP_METRIC_COSINE) {
		memcpy(e->work, e->x, e->nx * e->d * sizeof *e->x);
		for (size_t i = 0; i < e->nx; i++)
			vp_normalize(e->work + i * e->d, e->d);
		xn = e->work;
	}
	vp_sqnorms(xn, e->nx, e->d, norms);
	f = (struct vp_flat){ xn, norms, e->nx, e->d, e->o->metric, 0, NULL };
	rc = vp_flat_search(&f, &pool, e->q, e->nq, e->o->k, threads, gd, gi, err);
	vp_flat_pool_release(&pool);
	for (size_t i = 0; !rc && i < e->nq * e->o->k; i++)
		gt[i] = (int32_t)gi[i];
out:
	free(norms);
	free(gi);
	free(gd);
	return rc;
}

/* Sibling groups.  Where the base is made of small separate groups (the
 * patches of one image, the chunks of one document), a query drawn from
 * the base finds its own group in the index, while real traffic comes from
 * groups the base lacks: far easier than the truth.  A query's group is its
 * nearest rows up to the widest jump in their distances, when that jump is
 * 2x or more, within the first SIB_MAX rows (the first 2x jump would cut
 * inside a group whose nearest member happens to be very near).  Sets cut[i] to the size of
 * query i's group (0: none) and ids (nq x (SIB_MAX + 1)) to its rows; L2.
 * Returns how many queries have one, or -1. */
#define SIB_MAX 64

static long siblings(const float *x, size_t nx, size_t d, const float *q, size_t nq,
		     int threads, uint32_t *cut, int64_t *ii, struct vp_error *err)
{
	size_t kk = nx < SIB_MAX + 1 ? nx : SIB_MAX + 1;
	float *norms = malloc(nx * sizeof *norms), *dd = malloc(nq * kk * sizeof *dd);
	struct vp_flat f;
	struct vp_flat_pool pool = { 0 };
	long groups = 0;
	if (!norms || !dd) {
		vp_seterr(err, VP_E_NOMEM, "out of memory");
		groups = -1;
		goto out;
	}
	vp_sqnorms(x, nx, d, norms);
	f = (struct vp_flat){ x, norms, nx, d, VP_METRIC_L2, 0, NULL };
	if (vp_flat_search(&f, &pool, q, nq, kk, threads, dd, ii, err)) {
		groups = -1;
		goto out;
	}
	for (size_t i = 0; i < nq; i++) {
		const float *di = dd + i * kk;
		double best = 2.0;
		cut[i] = 0;
		for (size_t j = 0; j + 1 < kk; j++) {
			double a = sqrt(di[j] > 0 ? di[j] : 0), b = sqrt(di[j + 1] > 0 ? di[j + 1] : 0);
			if (a > 0 && b / a >= best) {
				best = b / a;
				cut[i] = (uint32_t)(j + 1);
			}
		}
		groups += cut[i] > 0;
	}
out:
	vp_flat_pool_release(&pool);
	free(norms);
	free(dd);
	return groups;
}

/* Marks the groups of the first queries in drop: with budgeted, as many
 * queries as keep the rows dropped under a tenth of nx (at least one),
 * else every query's.  Returns how many queries. */
static size_t drop_groups(const uint32_t *cut, const int64_t *ii, size_t nq, size_t nx,
			  unsigned char *drop, int budgeted)
{
	size_t kk = nx < SIB_MAX + 1 ? nx : SIB_MAX + 1, dropped = 0, i;
	for (i = 0; i < nq; i++) {
		if (budgeted && i && dropped + cut[i] > nx / 10)
			break;
		for (size_t j = 0; j < cut[i]; j++)
			if (ii[i * kk + j] >= 0 && !drop[ii[i * kk + j]]) {
				drop[ii[i * kk + j]] = 1;
				dropped++;
			}
	}
	return i;
}

/* Drops the marked rows of x (n rows) in place; returns how many remain. */
static size_t compact(float *x, size_t n, size_t d, const unsigned char *drop)
{
	size_t j = 0;
	for (size_t i = 0; i < n; i++)
		if (!drop[i]) {
			if (j != i)
				memcpy(x + j * d, x + i * d, d * sizeof *x);
			j++;
		}
	return j;
}

/* Holds the queries' sibling groups out of x (nx rows, updated): when
 * most_only, only where most queries have a group; with budgeted, with as
 * many queries as drop_groups allows (*nq updated).  Returns how many
 * queries have a group, or -1 with err set. */
static long hold_out_groups(float *x, size_t *nx, size_t d, const float *q, size_t *nq,
			    int threads, int most_only, int budgeted, struct vp_error *err)
{
	unsigned char *drop = calloc(*nx ? *nx : 1, 1);
	uint32_t *cut = malloc(*nq * sizeof *cut);
	int64_t *sib = malloc(*nq * (SIB_MAX + 1) * sizeof *sib);
	long g = -1;
	if (!drop || !cut || !sib)
		vp_seterr(err, VP_E_NOMEM, "out of memory");
	else
		g = siblings(x, *nx, d, q, *nq, threads, cut, sib, err);
	if (g >= 0 && (!most_only || 2 * (size_t)g >= *nq)) {
		*nq = drop_groups(cut, sib, *nq, *nx, drop, budgeted);
		*nx = compact(x, *nx, d, drop);
	}
	free(drop);
	free(cut);
	free(sib);
	return g;
}

static int standing(const struct vp_tune_cand *c)
{
	return c->feasible ? 1 + c->full : 0;
}

static double since(uint64_t t0)
{
	return (double)(vp_now_usec() - t0) / 1e6;
}

/* Seconds a check of c on the full base should take: its build (already
 * extrapolated), the exact neighbours (a scan), and a sweep of about six
 * points at the extrapolated speed, with a fifth for error. */
static double full_cost(const struct vp_tune_cand *c, double truth_s, size_t nq)
{
	return 1.2 * (c->build_s + truth_s + 6.0 * (double)nq / (c->qps > 1 ? c->qps : 1));
}

int vp_tune_run(const float *x, size_t n, size_t d, const float *q, size_t nq,
		const struct vp_datastats *st, const struct vp_tune_opts *o,
		struct vp_tune_result *res, struct vp_error *err)
{
	struct evalctx e;
	struct vp_rng r;
	size_t ns, nqs, nk;
	uint32_t *perm = NULL;
	float *xs = NULL, *qs = NULL, *work = NULL, *xf = NULL;
	int32_t *gt = NULL, *gtf = NULL;
	int64_t *ids = NULL;
	float *dist = NULL;
	double *per = NULL, truth_s, need;
	int groups = 0; /* siblings held out with their queries */
	int whole;      /* the sample is every row but the queries */
	size_t ns0, nqs0; /* the sample and the queries before groups left */
	int order[VP_TUNE_MAX_CANDIDATES], rank[VP_TUNE_MAX_CANDIDATES], nrank = 0;
	uint64_t t0 = o->start_usec ? o->start_usec : vp_now_usec(), tg;
	int rc = 0;

	memset(res, 0, sizeof *res);
	res->best = -1;
	vp_rng_seed(&r, o->seed);
	/* 1000 queries, or a twentieth of a small base: held-out queries (and
	 * their groups, below) leave the index, and must not thin it much */
	nqs = o->nqueries ? o->nqueries : q ? 1000 : n / 20 < 1000 ? (n / 20 > 50 ? n / 20 : 50) : 1000;
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
	/* queries from the base are easier than real traffic (an allowance for
	 * that); given queries are real traffic (none) */
	need = o->target_recall + (q ? 0 : VP_TUNE_SHIFT * (1 - o->target_recall));
	res->need = need;
	nk = nqs * o->k;
	perm = sample_rows(n, ns + (q ? 0 : nqs), &r);
	xs = malloc(ns * d * sizeof *xs);
	qs = malloc(nqs * d * sizeof *qs);
	work = malloc(n * d * sizeof *work + 1);
	gt = malloc(nk * sizeof *gt);
	gtf = malloc(nk * sizeof *gtf);
	dist = malloc(nk * sizeof *dist);
	ids = malloc(nk * sizeof *ids);
	per = malloc(nqs * sizeof *per);
	if (!perm || !xs || !qs || !work || !gt || !gtf ||
	    !dist || !ids || !per) {
		rc = vp_seterr(err, VP_E_NOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < nqs; i++)
		memcpy(qs + i * d, q ? q + i * d : x + (size_t)perm[ns + i] * d, d * sizeof *qs);
	/* keep the sample in row order: the ids of a trial are positions */
	qsort(perm, ns, sizeof *perm, cmp_u32);
	for (size_t i = 0; i < ns; i++)
		memcpy(xs + i * d, x + (size_t)perm[i] * d, d * sizeof *xs);
	if (o->metric == VP_METRIC_COSINE)
		for (size_t i = 0; i < nqs; i++)
			vp_normalize(qs + i * d, d);
	/* queries from the base: hold out each one's group of siblings too
	 * when most of them have one (see siblings()) */
	whole = ns == n - (q ? 0 : nqs);
	ns0 = ns;
	nqs0 = nqs;
	if (!q && o->metric == VP_METRIC_L2) {
		size_t before = ns;
		long g = hold_out_groups(xs, &ns, d, qs, &nqs, o->threads, 1, 1, err);
		if (g < 0) {
			rc = err->code;
			goto out;
		}
		groups = 2 * (size_t)g >= nqs0;
		if (groups) {
			vp_tune_say(o, "%.0f%% of the held-out queries have a group of near neighbours "
			    "well apart from the rest: the base is made of separate groups, and "
			    "real queries may come from groups it lacks, so each query's group "
			    "is held out too (%zu rows, with %zu of the queries)",
			    100.0 * (double)g / (double)nqs0, before - ns, nqs);
			nk = nqs * o->k;
		} else {
			vp_tune_say(o, "%.0f%% of the held-out queries have a group of near neighbours well "
			    "apart from the rest (under half): they are held out one by one",
			    100.0 * (double)g / (double)nqs0);
		}
	}
	e = (struct evalctx){ xs, qs, ns, nqs, d, n, gt, dist, ids, per, work, o,
			      (double)n / (double)ns, need };
	tg = vp_now_usec();
	if ((rc = truth(&e, gt, o->threads, err)))
		goto out;
	/* the scan on the full base costs about n / ns times this one */
	truth_s = since(tg) * (double)n / (double)ns;
	res->sample = ns;
	res->nq = nqs;
	res->scale = e.scale;
	vp_tune_say(o, "evaluating on %zu of %zu vectors with %zu %s queries; QPS, memory and "
	    "build time extrapolated x%.2f to the full size", ns, n, nqs,
	    q ? "given" : "held-out", res->scale);
	if (q)
		vp_tune_say(o, "a point meets the target when the low end of its 90%% recall interval "
		    "(bootstrap over the queries) reaches %.4f", need);
	else
		vp_tune_say(o, "a point meets the target when the low end of its 90%% recall interval "
		    "(bootstrap over the queries) reaches %.4f: the target plus %.0f%% of the "
		    "misses it allows, for queries from outside the base (pass real ones with -q)",
		    need, 100 * VP_TUNE_SHIFT);
	make_candidates(n, d, st, o, res);
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
		double left = o->time_budget - since(t0);
		/* stop while the best so far can still be checked on the full
		 * base, and before an evaluation as long as the longest so far
		 * would overrun */
		if (o->time_budget > 0) {
			double keep = 0, longest = 0;
			for (int t = 0; t < res->ncand; t++)
				if (res->cand[t].evaluated && res->cand[t].cost_s > longest)
					longest = res->cand[t].cost_s;
			if (res->best >= 0 && !o->no_full_check && !whole)
				keep = full_cost(&res->cand[res->best], truth_s, nqs);
			if (left <= keep + longest) {
				vp_tune_say(o, "time budget of %.0f s: %d evaluations on the sample, %.0f s "
				    "kept for the check on the full base", o->time_budget, it, keep);
				break;
			}
		}
		/* bayes: three random starts, then TPE proposals */
		ci = (o->method == VP_TUNE_BAYES && it >= 3) ? tpe_pick(res, order, res->ncand)
							     : order[it];
		if (ci < 0 || res->cand[ci].evaluated) {
			/* TPE may point at an evaluated one: take the next unevaluated */
			ci = -1;
			for (int t = 0; t < res->ncand && ci < 0; t++)
				if (!res->cand[order[t]].evaluated)
					ci = order[t];
			if (ci < 0)
				break;
		}
		if ((rc = evaluate(&e, &res->cand[ci], 0, err)))
			goto out;
		res->cand[ci].order = ++res->nevaluated;
		if (res->best < 0 || better(&res->cand[ci], &res->cand[res->best]))
			res->best = ci;
		if (o->report)
			o->report(o->ctx, &res->cand[ci], res->nevaluated,
				  res->cand[res->best].feasible ? res->cand[res->best].objective : NAN);
	}
	/* the check on the full base: feasible candidates (below, in which
	 * order), as many as the time left allows (at most four), each built on
	 * every row but the held-out queries and swept again from its sample
	 * value */
	for (int i = 0; i < res->ncand; i++)
		if (res->cand[i].evaluated && res->cand[i].feasible)
			rank[nrank++] = i;
	for (int i = 1; i < nrank; i++)
		for (int j = i; j > 0 && better(&res->cand[rank[j]], &res->cand[rank[j - 1]]); j--) {
			int t = rank[j];
			rank[j] = rank[j - 1];
			rank[j - 1] = t;
		}
	if (whole) {
		/* the sample was every row but the queries: already full size */
		for (int i = 0; i < res->ncand; i++)
			res->cand[i].full = res->cand[i].evaluated;
		res->nfull = nrank;
		if (nrank)
			res->best = rank[0];
	} else if (nrank && !o->no_full_check) {
		size_t nf = n - (q ? 0 : nqs), j = 0;
		xf = malloc(nf * d * sizeof *xf);
		if (!xf) {
			rc = vp_seterr(err, VP_E_NOMEM, "out of memory");
			goto out;
		}
		/* every row but the held-out queries (perm[ns0..], sorted) */
		if (!q)
			qsort(perm + ns0, nqs0, sizeof *perm, cmp_u32);
		for (size_t i = 0, h = ns0; i < n; i++) {
			if (!q && h < ns0 + nqs0 && perm[h] == i) {
				h++;
				continue;
			}
			memcpy(xf + j++ * d, x + i * d, d * sizeof *xf);
		}
		if (groups) {
			/* every query's group, whatever it costs: the queries
			 * are the sample's */
			size_t before = nf, nqa = nqs;
			long g = hold_out_groups(xf, &nf, d, qs, &nqa, o->threads, 0, 0, err);
			if (g < 0) {
				rc = err->code;
				goto out;
			}
			vp_tune_say(o, "full base: %zu rows of the queries' groups held out "
			    "(%ld of %zu queries have one)", before - nf, g, nqs);
		}
		e.x = xf;
		e.nx = nf;
		e.n = nf;
		e.scale = 1;
		e.gt = gtf;
		/* the order of the checks: the best of each type first (the
		 * extrapolation of QPS from the sample is roughest across
		 * types: an IVF scan of nprobe lists reads as many rows at full
		 * size as on the sample, a graph walk grows with log n), then
		 * the rest by rank */
		int pick[VP_TUNE_MAX_CANDIDATES], npick = 0;
		for (int pass = 0; pass < 2; pass++)
			for (int t = 0; t < nrank; t++) {
				int first = 1;
				for (int u = 0; u < t; u++)
					first &= res->cand[rank[u]].type != res->cand[rank[t]].type;
				if (first == !pass)
					pick[npick++] = rank[t];
			}
		for (int t = 0; t < npick && res->nfull < 4; t++) {
			struct vp_tune_cand *c = &res->cand[pick[t]], save = *c;
			double cost = full_cost(c, truth_s, nqs);
			const struct vp_family *fam = vp_family_of(c->type);
			/* an index without a sweep (FLAT) is known exactly
			 * from the sample */
			if (!fam->nsweep && t > 0)
				continue;
			if (o->time_budget > 0 && since(t0) + cost > o->time_budget) {
				if (!res->nfull)
					vp_tune_say(o, "no time left to check %s on the full base (about %.0f s): "
					    "the figures are the sample's, and recall at full size is "
					    "likely lower; give a longer --time-budget",
					    vp_index_type_name(c->type), cost);
				continue;
			}
			if (!res->nfull && (rc = truth(&e, gtf, o->threads, err)))
				goto out;
			if ((rc = evaluate(&e, c, value_index(c, save.sparam), err)))
				goto out;
			c->full = 1;
			c->order = save.order;
			res->nfull++;
			vp_tune_say(o, "full base, %s %s: recall %.4f [%.4f, %.4f] at %s=%lld (the sample "
			    "said %.4f at %lld), %.0f qps measured", vp_index_type_name(c->type),
			    fam->unit, c->recall, c->recall_lo, c->recall_hi,
			    fam->sweep_param >= 0 ? vp_param_defs[fam->sweep_param].name : "-",
			    (long long)c->sparam,
			    save.recall, (long long)save.sparam, c->qps);
			if (o->report)
				o->report(o->ctx, c, res->nevaluated, NAN);
		}
		/* a type whose every checked candidate missed the target on
		 * the full base is not trusted on its sample figures either */
		for (int t = 0; t < nrank; t++) {
			struct vp_tune_cand *c = &res->cand[rank[t]];
			int tried = 0, held = 0;
			for (int u = 0; u < nrank; u++)
				if (res->cand[rank[u]].type == c->type && res->cand[rank[u]].full) {
					tried = 1;
					held |= res->cand[rank[u]].feasible;
				}
			if (!c->full && tried && !held)
				c->feasible = 0;
		}
		/* the best: met the target on the full base, before met it on
		 * the sample only (not checked), before the rest */
		res->best = -1;
		for (int t = 0; t < nrank; t++) {
			const struct vp_tune_cand *c = &res->cand[rank[t]], *b;
			if (res->best < 0) {
				res->best = rank[t];
				continue;
			}
			b = &res->cand[res->best];
			if (standing(c) > standing(b) ||
			    (standing(c) == standing(b) && better(c, b)))
				res->best = rank[t];
		}
	} else if (nrank) {
		res->best = rank[0];
	}
	if (res->best >= 0 && !res->cand[res->best].feasible)
		res->best = -1;
out:
	res->seconds = since(t0);
	free(perm);
	free(xs);
	free(qs);
	free(work);
	free(xf);
	free(gt);
	free(gtf);
	free(dist);
	free(ids);
	free(per);
	return rc;
}
