/*
 * vp_ivf_build: train the coarse quantizer, fill the inverted lists and
 * encode them (float, SQ8, PQ of the residual, or SCANN's 4-bit PQ of it
 * in fast-scan blocks).
 */
#include "vp_ivf.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vp_dist.h"
#include "vp_kmeans.h"
#include "vp_pq4.h"

size_t vp_pq_default_m(size_t d)
{
	for (size_t m = d / 8 < 64 ? d / 8 : 64; m >= 1; m--)
		if (d % m == 0)
			return m;
	return d;
}

size_t vp_scann_default_m(size_t d)
{
	return d % 4 == 0 ? d / 4 : d % 2 == 0 ? d / 2 : d;
}

void vp_ivf_built_release(struct vp_ivf_built *b)
{
	free(b->centroids);
	free(b->offsets);
	free(b->ids);
	free(b->data);
	free(b->norms);
	free(b->sq8_min);
	free(b->sq8_step);
	free(b->codebooks);
	free(b->sq8_codes);
	free(b->scodes);
	free(b->snorms);
	free(b->serr);
	free(b->pq4_bias);
	memset(b, 0, sizeof *b);
}

/* One sub-quantizer s: its codebook of ksub centroids trained on the
 * sub-vectors of the residuals, and each residual's code.  sub (n x dsub)
 * and as (n) are scratch. */
static int train_encode_sub(const float *res, size_t n, size_t d, size_t m, size_t ksub,
			    size_t s, int threads, uint64_t seed, float *codebooks,
			    uint8_t *codes, float *sub, uint32_t *as, struct vp_error *err)
{
	size_t dsub = d / m;
	float *cb = codebooks + s * ksub * dsub;
	int rc;
	for (size_t i = 0; i < n; i++)
		memcpy(sub + i * dsub, res + i * d + s * dsub, dsub * sizeof *sub);
	rc = vp_kmeans(sub, n, dsub, ksub, threads, seed + s, cb, err);
	if (!rc)
		rc = vp_kmeans_assign(sub, n, dsub, cb, ksub, threads, as, NULL, err);
	for (size_t i = 0; i < n && !rc; i++)
		codes[i * m + s] = (uint8_t)as[i];
	return rc;
}

/* PQ: m codebooks of ksub centroids trained on sub-vectors of the
 * residuals, then each residual encoded as the nearest centroid of each
 * sub-space.  IVF_PQ (256 centroids) trains them one after the other on
 * every thread; SCANN's (16 centroids of 2 dimensions) are too small to
 * share out (measured: 60% of a build's time spent by OpenMP threads
 * waiting at barriers), so each thread trains whole sub-quantizers.  Each
 * is trained on one thread from its own seed either way, so the result
 * does not depend on the thread count. */
static int train_encode_pq(const float *res, size_t n, size_t d, size_t m, size_t ksub,
			   int threads, uint64_t seed, float *codebooks,
			   uint8_t *codes, struct vp_error *err)
{
	size_t dsub = d / m;
	int rc = 0, nt = ksub <= VP_PQ4_KSUB && threads > 1 ? threads : 1;

	if (nt == 1) {
		float *sub = malloc(n * dsub * sizeof *sub);
		uint32_t *as = malloc(n * sizeof *as);
		if (!sub || !as)
			rc = vp_seterr(err, VP_E_NOMEM, "out of memory");
		for (size_t s = 0; s < m && !rc; s++)
			rc = train_encode_sub(res, n, d, m, ksub, s, threads, seed, codebooks,
					      codes, sub, as, err);
		free(sub);
		free(as);
		return rc;
	}
#pragma omp parallel num_threads(nt)
	{
		float *sub = malloc(n * dsub * sizeof *sub);
		uint32_t *as = malloc(n * sizeof *as);
		struct vp_error e = { 0 };
		int r = sub && as ? 0 : vp_seterr(&e, VP_E_NOMEM, "out of memory");
#pragma omp for schedule(dynamic, 1)
		for (size_t s = 0; s < m; s++)
			if (!r && !__atomic_load_n(&rc, __ATOMIC_RELAXED))
				r = train_encode_sub(res, n, d, m, ksub, s, 1, seed, codebooks,
						     codes, sub, as, &e);
		if (r) {
			/* the first failure is the one reported */
#pragma omp critical(vp_pq_train)
			if (!rc) {
				rc = r;
				if (err)
					*err = e;
			}
		}
		free(sub);
		free(as);
	}
	return rc;
}

/* SQ8 (IVF_SQ8's lists, SCANN's keep=sq8): per dimension, the min and the
 * step over the n rows of x; sq8_encode writes one row's d codes. */
static void sq8_train(const float *x, size_t n, size_t d, float *mn, float *step)
{
	/* row by row, one pass in memory order (a column at a time read the
	 * rows d times: 0.9 s on Fashion-MNIST) */
	for (size_t j = 0; j < d; j++) {
		mn[j] = INFINITY;
		step[j] = -INFINITY; /* the maximum, until the end */
	}
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < d; j++) {
			float v = x[i * d + j];
			mn[j] = v < mn[j] ? v : mn[j];
			step[j] = v > step[j] ? v : step[j];
		}
	for (size_t j = 0; j < d; j++)
		step[j] = (step[j] - mn[j]) / 255.0f;
}

static void sq8_encode(const float *v, size_t d, const float *mn, const float *step,
		       uint8_t *c)
{
	for (size_t j = 0; j < d; j++) {
		float s = step[j], t = s > 0 ? (v[j] - mn[j]) / s : 0;
		long q = lrintf(t);
		c[j] = (uint8_t)(q < 0 ? 0 : q > 255 ? 255 : q);
	}
}

/* SCANN: the list-ordered codes (b->data, n x m) packed list by list into
 * fast-scan blocks, and what keep asks for beside them (the float rows
 * are the caller's "vectors" section).  Returns 0 or -1 (no memory). */
static int scann_finish(const float *x, size_t n, size_t d, size_t m, int keep,
			int l2tab, struct vp_ivf_built *b)
{
	size_t nb = 0, bb = vp_pq4_block_bytes(m), ds = d / m;
	uint8_t *codes = b->data, *blk;
	/* L2 (and cosine, ranked as L2): |q - c - y|^2 = |q - c|^2 - 2<q, y>
	 * + (2<c, y> + |y|^2); the last term depends on the entry alone, so
	 * it is summed here once, and a query's table is -2<q, y> alone: one
	 * table a query instead of one a probed list */
	if (l2tab) {
		float *t = malloc(m * VP_PQ4_KSUB * sizeof *t);
		b->pq4_bias = malloc((n ? n : 1) * sizeof *b->pq4_bias);
		if (!t || !b->pq4_bias) {
			free(t);
			return -1;
		}
		for (size_t l = 0; l < b->nlist; l++) {
			const float *c = b->centroids + l * d;
			for (size_t sq = 0; sq < m; sq++)
				for (size_t j = 0; j < VP_PQ4_KSUB; j++) {
					const float *y = b->codebooks + (sq * VP_PQ4_KSUB + j) * ds;
					double e = 0;
					for (size_t u = 0; u < ds; u++)
						e += (double)y[u] * (2.0 * c[sq * ds + u] + y[u]);
					t[sq * VP_PQ4_KSUB + j] = (float)e;
				}
			for (uint64_t p = b->offsets[l]; p < b->offsets[l + 1]; p++) {
				double e = 0;
				for (size_t sq = 0; sq < m; sq++)
					e += t[sq * VP_PQ4_KSUB + codes[p * m + sq]];
				b->pq4_bias[p] = (float)e;
			}
		}
		free(t);
	}
	for (size_t l = 0; l < b->nlist; l++)
		nb += vp_pq4_blocks(b->offsets[l + 1] - b->offsets[l]);
	if (!(blk = malloc(nb * bb + 1)))
		return -1;
	nb = 0;
	for (size_t l = 0; l < b->nlist; l++) {
		size_t len = b->offsets[l + 1] - b->offsets[l];
		vp_pq4_pack(codes + b->offsets[l] * m, len, m, blk + nb * bb);
		nb += vp_pq4_blocks(len);
	}
	free(codes);
	b->data = blk;
	b->data_bytes = nb * bb;
	if (keep == VP_SCANN_KEEP_SQ8) {
		b->sq8_min = malloc(d * sizeof(float));
		b->sq8_step = malloc(d * sizeof(float));
		b->sq8_codes = malloc(n * d + 1);
		if (!b->sq8_min || !b->sq8_step || !b->sq8_codes)
			return -1;
		sq8_train(x, n, d, b->sq8_min, b->sq8_step);
		for (size_t i = 0; i < n; i++)
			sq8_encode(x + i * d, d, b->sq8_min, b->sq8_step, b->sq8_codes + i * d);
	}
	return 0;
}

/* Score-aware ("anisotropic") codes: Guo et al., "Accelerating
 * large-scale inference with anisotropic vector quantization" (ICML
 * 2020).  For inner products, the error of a code along its datapoint x
 * changes the scores of the queries that matter (those with <q, x> past a
 * threshold T |x|) far more than the error across it, so the code of x
 * minimises |e|^2 + (eta - 1) <e, x/|x|>^2 rather than |e|^2, with e the
 * residual's quantization error and eta = (d - 1) T^2 / (1 - T^2) (the
 * paper's Theorem 3.4, for large d).  The codebooks stay the k-means ones
 * (the paper also refits them); each datapoint's codes start from the
 * nearest and are improved sub-quantizer by sub-quantizer, two rounds,
 * each step choosing the codeword of least loss given the others (so the
 * loss never rises).  Rows in list order: x of entry p is row ids[p]. */
static void anisotropic_codes(const float *x, const uint32_t *ids, const float *res, size_t n,
			      size_t d, size_t m, size_t ksub, double t, int threads,
			      const float *cb, uint8_t *codes)
{
	const size_t ds = d / m;
	/* eta below 1 would favour the error along x: no better than plain */
	double eta = t >= 1 ? 1e9 : (double)(d - 1) * t * t / (1 - t * t);
	eta = eta < 1 ? 1 : eta;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 256)
	for (size_t p = 0; p < n; p++) {
		const float *xv = x + (size_t)ids[p] * d, *r = res + p * d;
		uint8_t *c = codes + p * m;
		double nx = 0, ep = 0;
		for (size_t j = 0; j < d; j++)
			nx += (double)xv[j] * xv[j];
		if (nx <= 0)
			continue; /* no direction: plain codes */
		nx = 1 / sqrt(nx);
		/* e . xhat over the whole vector, kept up to date */
		for (size_t s = 0; s < m; s++) {
			const float *y = cb + (s * ksub + c[s]) * ds;
			for (size_t u = 0; u < ds; u++)
				ep += (r[s * ds + u] - y[u]) * xv[s * ds + u] * nx;
		}
		for (int round = 0; round < 2; round++)
			for (size_t s = 0; s < m; s++) {
				const float *rs = r + s * ds, *xs = xv + s * ds;
				double base, best = INFINITY, bestp = 0;
				size_t bc = c[s];
				/* ep without this sub-vector's part */
				const float *y0 = cb + (s * ksub + c[s]) * ds;
				base = ep;
				for (size_t u = 0; u < ds; u++)
					base -= (rs[u] - y0[u]) * xs[u] * nx;
				for (size_t k = 0; k < ksub; k++) {
					const float *y = cb + (s * ksub + k) * ds;
					double e2 = 0, epk = 0, loss;
					for (size_t u = 0; u < ds; u++) {
						double e = rs[u] - y[u];
						e2 += e * e;
						epk += e * xs[u] * nx;
					}
					/* |e|^2 changes by this block's; <e, xhat> by epk */
					loss = e2 + (eta - 1) * (base + epk) * (base + epk);
					if (loss < best) {
						best = loss;
						bc = k;
						bestp = epk;
					}
				}
				c[s] = (uint8_t)bc;
				ep = base + bestp;
			}
	}
}

void vp_sq8_inorms(const uint8_t *codes, size_t n, size_t d, const float *step, float *out)
{
	for (size_t p = 0; p < n; p++) {
		double t = 0;
		for (size_t j = 0; j < d; j++) {
			double e = (double)step[j] * codes[p * d + j];
			t += e * e;
		}
		out[p] = (float)t;
	}
}

int vp_ivf_screen(const float *x, size_t n, size_t d, int threads, struct vp_ivf_built *b,
		  struct vp_error *err)
{
	b->sq8_min = malloc(d * sizeof(float));
	b->sq8_step = malloc(d * sizeof(float));
	b->scodes = malloc(n * d + 1);
	b->snorms = malloc((n ? n : 1) * sizeof *b->snorms);
	b->serr = malloc((n ? n : 1) * sizeof *b->serr);
	if (!b->sq8_min || !b->sq8_step || !b->scodes || !b->snorms || !b->serr)
		return vp_seterr(err, VP_E_NOMEM, "out of memory");
	sq8_train(x, n, d, b->sq8_min, b->sq8_step);
#pragma omp parallel for num_threads(threads < 1 ? 1 : threads) schedule(static)
	for (size_t p = 0; p < n; p++) {
		const float *v = x + (size_t)b->ids[p] * d;
		uint8_t *c = b->scodes + p * d;
		double e = 0;
		sq8_encode(v, d, b->sq8_min, b->sq8_step, c);
		/* the decoding as the scan's bound takes it: min + step c,
		 * exact in double (a float product fits) */
		for (size_t j = 0; j < d; j++) {
			double r = (double)v[j] - ((double)b->sq8_min[j] +
						   (double)b->sq8_step[j] * c[j]);
			e += r * r;
		}
		/* rounded up, so that it stays a bound in float */
		b->serr[p] = nextafterf((float)(sqrt(e) * (1.0 + 1e-7)), INFINITY);
	}
	vp_sq8_inorms(b->scodes, n, d, b->sq8_step, b->snorms);
	return 0;
}

int vp_ivf_build(const float *x, size_t n, size_t d, int type, int metric,
		 size_t nlist, size_t m, int keep, double aniso, int threads, uint64_t seed,
		 struct vp_ivf_built *b, struct vp_error *err)
{
	size_t ksub = type == VP_TYPE_SCANN ? VP_PQ4_KSUB : VP_PQ_KSUB;
	uint32_t *assign = NULL;
	uint64_t *fill = NULL;
	int rc;

	/* lists are made with L2 for every metric */
	memset(b, 0, sizeof *b);
	if (nlist > n)
		return vp_seterr(err, VP_E_ARG, "nlist %zu is more than the %zu "
				 "vectors", nlist, n);
	if (type == VP_TYPE_IVF_PQ || type == VP_TYPE_SCANN) {
		if (m == 0)
			m = type == VP_TYPE_SCANN ? vp_scann_default_m(d) : vp_pq_default_m(d);
		if (m > d || d % m)
			return vp_seterr(err, VP_E_ARG, "m=%zu does not divide the "
					 "dimension %zu", m, d);
		if (n < ksub)
			return vp_seterr(err, VP_E_ARG, "%s needs at least %zu "
					 "vectors to train its codebooks",
					 type == VP_TYPE_SCANN ? "SCANN" : "IVF_PQ", ksub);
	}
	b->nlist = (uint32_t)nlist;
	b->m = (uint32_t)m;
	b->centroids = malloc(nlist * d * sizeof *b->centroids);
	b->offsets = calloc(nlist + 1, sizeof *b->offsets);
	b->ids = malloc(n * sizeof *b->ids);
	assign = malloc(n * sizeof *assign);
	fill = calloc(nlist, sizeof *fill);
	if (!b->centroids || !b->offsets || !b->ids || !assign || !fill)
		goto nomem;
	if ((rc = vp_kmeans(x, n, d, nlist, threads, seed, b->centroids, err)) ||
	    (rc = vp_kmeans_assign(x, n, d, b->centroids, nlist, threads, assign,
				   NULL, err)))
		goto fail;
	/* counting sort into lists, rows in order within a list */
	for (size_t i = 0; i < n; i++)
		b->offsets[assign[i] + 1]++;
	for (size_t l = 0; l < nlist; l++)
		b->offsets[l + 1] += b->offsets[l];
	for (size_t i = 0; i < n; i++)
		b->ids[b->offsets[assign[i]] + fill[assign[i]]++] = (uint32_t)i;

	if (type == VP_TYPE_IVF_FLAT) {
		float *v = malloc(n * d * sizeof *v);
		b->norms = malloc(n * sizeof *b->norms);
		b->data = v;
		if (!v || !b->norms)
			goto nomem;
		for (size_t p = 0; p < n; p++)
			memcpy(v + p * d, x + (size_t)b->ids[p] * d, d * sizeof *v);
		vp_sqnorms(v, n, d, b->norms);
		b->data_bytes = n * d * sizeof *v;
	} else if (type == VP_TYPE_IVF_SQ8) {
		uint8_t *c = malloc(n * d);
		b->sq8_min = malloc(d * sizeof(float));
		b->sq8_step = malloc(d * sizeof(float));
		b->data = c;
		if (!c || !b->sq8_min || !b->sq8_step)
			goto nomem;
		sq8_train(x, n, d, b->sq8_min, b->sq8_step);
		for (size_t p = 0; p < n; p++)
			sq8_encode(x + (size_t)b->ids[p] * d, d, b->sq8_min, b->sq8_step,
				   c + p * d);
		b->data_bytes = n * d;
		/* the codes' weighted norms, for the integer L2 scan */
		if (!(b->norms = malloc(n * sizeof *b->norms)))
			goto nomem;
		vp_sq8_inorms(c, n, d, b->sq8_step, b->norms);
	} else {
		float *res = malloc(n * d * sizeof *res);
		uint8_t *codes = malloc(n * m);
		b->codebooks = malloc(m * ksub * (d / m) * sizeof(float));
		if (!res || !codes || !b->codebooks) {
			free(res);
			free(codes);
			goto nomem;
		}
		/* residuals in list order, so codes land in list order */
		for (size_t p = 0; p < n; p++) {
			const float *v = x + (size_t)b->ids[p] * d;
			const float *c = b->centroids + (size_t)assign[b->ids[p]] * d;
			for (size_t j = 0; j < d; j++)
				res[p * d + j] = v[j] - c[j];
		}
		rc = train_encode_pq(res, n, d, m, ksub, threads, seed + 1, b->codebooks,
				     codes, err);
		if (!rc && aniso > 0)
			anisotropic_codes(x, b->ids, res, n, d, m, ksub, aniso, threads,
					  b->codebooks, codes);
		free(res);
		b->data = codes;
		b->data_bytes = n * m;
		if (rc)
			goto fail;
		if (type == VP_TYPE_SCANN &&
		    (rc = scann_finish(x, n, d, m, keep, metric != VP_METRIC_IP, b)))
			goto nomem;
	}
	free(assign);
	free(fill);
	return 0;
nomem:
	rc = vp_seterr(err, VP_E_NOMEM, "out of memory");
fail:
	free(assign);
	free(fill);
	vp_ivf_built_release(b);
	return rc;
}
