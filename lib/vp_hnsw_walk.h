/*
 * vp_hnsw_walk.h: the body of the graph walk, included once per SIMD level
 * by vp_hnsw_walk*.c after defining
 *   WALK_NAME                   the function's name
 *   code_l2(a, b, stride)       int32 sum of (a[j] - b[j])^2 over two codes
 *   code_ip(q, c, stride)       int32 sum of (int8)q[j] * c[j]
 * so the kernels are inlined into the loop instead of called through a
 * pointer: a query computes a few thousand distances of 30-60 ns each, and
 * a call per distance is a measurable share of that.  With WALK_FLOAT
 * defined instead of the kernels, the same walk runs on the float vectors
 * (an index without codes), through the distance kernels of s->kern.
 *
 * Level 0 follows the prefetch pattern of the best graph libraries: first
 * gather the neighbours not yet visited, then score them while the codes
 * of the next ones are on their way (h->po rows ahead, h->pl lines each),
 * and fetch the links of a node as soon as it enters the candidate list.
 */

#ifdef WALK_FLOAT
static inline float walk_dist(const struct vp_hnsw *h, const struct vp_hstate *s,
			      const void *q, uint32_t i)
{
	return vp_hnsw_dist(s->kern, h->metric, q, h->x + (size_t)i * h->d, h->d);
}

static inline void walk_prefetch(const struct vp_hnsw *h, uint32_t i)
{
	/* the first lines are needed first; the hardware prefetcher follows */
	const char *c = (const char *)(h->x + (size_t)i * h->d);
	for (uint32_t l = 0; l < 4 && 64 * l < 4 * h->d; l++)
		__builtin_prefetch(c + 64 * l);
}
#else
static inline float walk_dist(const struct vp_hnsw *h, const struct vp_hstate *s,
			      const void *q, uint32_t i)
{
	const uint8_t *c = h->codes + (size_t)i * h->gc.stride;
	(void)s;
	return h->metric == VP_METRIC_L2 ? (float)code_l2(q, c, h->gc.stride)
					 : -(float)code_ip(q, c, h->gc.stride);
}

static inline void walk_prefetch(const struct vp_hnsw *h, uint32_t i)
{
	const char *c = (const char *)(h->codes + (size_t)i * h->gc.stride);
	for (uint32_t l = 0; l < h->pl; l++)
		__builtin_prefetch(c + 64 * l);
}
#endif

/* With a filter, the walk of the float search on codes: a candidate heap
 * bounded by the list of the cap closest rows that PASS, so a selective
 * filter walks on until it has found them (a list over all rows, as
 * unfiltered, would stop with a tenth of them at 10% selectivity); rows
 * that fail still guide.  Returns SIZE_MAX when a heap cannot grow. */
static size_t walk_filtered(const struct vp_hnsw *h, struct vp_hstate *s,
			    const void *qc, uint32_t ep, float dep, size_t cap,
			    size_t want, const struct vp_fctx *fc, uint32_t *trace,
			    uint32_t *out, float *outd)
{
	const size_t stride0 = 1 + h->M0;
	struct vp_nheap *cand = &s->cand, *res = &s->res;
	size_t got;

	cand->n = res->n = 0;
	vp_nheap_push(cand, dep, ep);
	if (vp_fctx_match(fc, ep))
		vp_nheap_push(res, -dep, ep);
	while (cand->n) {
		float dc = cand->d[0], bound;
		uint32_t c = cand->id[0], cnt;
		const uint32_t *l;
		if (res->n >= cap && dc > -res->d[0])
			break;
		vp_nheap_pop(cand);
		if (trace)
			vp_trace_add(trace, c);
		l = h->l0 + (size_t)c * stride0;
		cnt = l[0];
		if (cand->n + cnt + 1 > cand->cap &&
		    vp_nheap_reserve(cand, 2 * (cand->n + cnt + 1)))
			return SIZE_MAX;
		for (uint32_t j = 1; j <= cnt && j <= h->po; j++)
			walk_prefetch(h, l[j]);
		bound = res->n >= cap ? -res->d[0] : INFINITY;
		for (uint32_t j = 1; j <= cnt; j++) {
			uint32_t v = l[j];
			float dv;
			if (j + h->po <= cnt)
				walk_prefetch(h, l[j + h->po]);
			if (vp_visited_test_set(&s->vis, v))
				continue;
			if (trace)
				vp_trace_add(trace, v);
			dv = walk_dist(h, s, qc, v);
			if (dv < bound) {
				vp_nheap_push(cand, dv, v);
				if (!vp_fctx_match(fc, v))
					continue;
				vp_nheap_push(res, -dv, v);
				if (res->n > cap)
					vp_nheap_pop(res);
				bound = res->n >= cap ? -res->d[0] : INFINITY;
			}
		}
	}
	while (res->n > want)
		vp_nheap_pop(res);
	got = res->n;
	for (size_t r = got; r-- > 0;) {
		out[r] = res->id[0];
		if (outd)
			outd[r] = -res->d[0];
		vp_nheap_pop(res);
	}
	return got;
}

size_t WALK_NAME(const struct vp_hnsw *h, struct vp_hstate *s,
		 const void *qc, size_t ef, size_t want,
		 const struct vp_fctx *fc, uint32_t *trace, uint32_t *out, float *outd)
{
	const size_t stride0 = 1 + h->M0;
	struct vp_lpool *p = &s->pool;
	const size_t cap = ef > want ? ef : want;
	uint32_t ep = h->entry, buf[2 * VP_HNSW_M_MAX];
	float dep = walk_dist(h, s, qc, ep);
	size_t got = 0;

	for (uint32_t lc = h->maxlevel; lc > 0; lc--) {
		int changed = 1;
		while (changed) {
			const uint32_t *l = h->upper +
				((size_t)h->upoff[ep] + lc - 1) * (1 + h->M);
			changed = 0;
			for (uint32_t j = 1; j <= l[0]; j++) {
				float dn = walk_dist(h, s, qc, l[j]);
				if (dn < dep) {
					dep = dn;
					ep = l[j];
					changed = 1;
				}
			}
		}
	}
	if (trace) {
		trace[0] = 1;
		trace[1] = vp_hnsw_region_shift(h);
		vp_trace_add(trace, ep);
	}
	vp_visited_next(&s->vis);
	s->nearly = 0;
	if (fc) {
		vp_visited_test_set(&s->vis, ep);
		got = walk_filtered(h, s, qc, ep, dep, cap, want, fc, trace, out, outd);
		if (trace && got != SIZE_MAX)
			trace[0] = 1 + vp_trace_compact(trace + 2, trace[0] - 1);
		return got;
	}
#ifndef WALK_FLOAT
	size_t steps = 0;
#endif
	p->d[0] = dep;
	p->id[0] = ep;
	p->n = 1;
	p->cur = 0;
	vp_visited_test_set(&s->vis, ep);
	while (p->cur < p->n) {
		uint32_t u = vp_lpool_pop(p), nb = 0;
		const uint32_t *l = h->l0 + (size_t)u * stride0;
#ifndef WALK_FLOAT
		/* a quarter into the walk, the best want of the pool are most
		 * of what will be re-ranked with the floats (Fashion-MNIST, ef
		 * 64: 15.4 of 16; 2.0 at the first node, 13.3 at an eighth): their
		 * cold rows are asked for now, so the disk reads them while the
		 * walk goes on.  Asking at each entry into the best want instead
		 * asked for twice the rows and cost a cold-started p99 20% */
		if (++steps == (cap >= 8 ? cap / 4 : 2) && h->pf.seen)
			for (size_t i = 0; i < want && i < p->n; i++) {
				uint32_t r = p->id[i] & ~VP_LPOOL_DONE;
				vp_prefetch(&h->pf, h->x + (size_t)r * h->d, h->d * 4);
				if (trace && s->nearly < sizeof s->early / sizeof *s->early)
					s->early[s->nearly++] = r;
			}
#endif
		if (trace)
			vp_trace_add(trace, u);
		for (uint32_t j = 1; j <= l[0]; j++)
			if (!vp_visited_test_set(&s->vis, l[j]))
				buf[nb++] = l[j];
		for (uint32_t j = 0; j < nb && j < h->po; j++)
			walk_prefetch(h, buf[j]);
		for (uint32_t j = 0; j < nb; j++) {
			uint32_t v = buf[j];
			float dv;
			if (j + h->po < nb)
				walk_prefetch(h, buf[j + h->po]);
			if (trace)
				vp_trace_add(trace, v);
			dv = walk_dist(h, s, qc, v);
			if (vp_lpool_insert(p, cap, dv, v))
				__builtin_prefetch(h->l0 + (size_t)v * stride0);
		}
	}
	if (trace)
		trace[0] = 1 + vp_trace_compact(trace + 2, trace[0] - 1);
	/* out may be p->id itself: in place, front to back */
	got = p->n < want ? p->n : want;
	for (size_t i = 0; i < got; i++) {
		out[i] = p->id[i] & ~VP_LPOOL_DONE;
		if (outd)
			outd[i] = p->d[i];
	}
	return got;
}
