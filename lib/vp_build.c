/* vp_build: per-type section layout of a segment, segmenting and appending. */
#include "vp_build.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vp_dist.h"
#include "vp_ivf.h"
#include "vp_sys.h"

void vp_build_opts_init(struct vp_build_opts *o)
{
	memset(o, 0, sizeof *o);
	o->type = VP_TYPE_FLAT;
	o->metric = VP_METRIC_L2;
	o->threads = 1;
	o->seed = VP_SEED_DEFAULT;
	vp_params_defaults(&o->params);
}

/* The sections of a build in progress and the buffers they point into. */
struct sections {
	struct vp_section_src *s;
	size_t n, cap;
	void **own;
	size_t nown, owncap;
};

static int add(struct sections *ss, const char *name, uint32_t seg,
	       uint32_t align, const void *data, uint64_t len, int owned)
{
	if (ss->n == ss->cap) {
		size_t c = ss->cap ? 2 * ss->cap : 16;
		struct vp_section_src *p = realloc(ss->s, c * sizeof *p);
		if (!p)
			return VP_E_NOMEM;
		ss->s = p;
		ss->cap = c;
	}
	if (owned) {
		if (ss->nown == ss->owncap) {
			size_t c = ss->owncap ? 2 * ss->owncap : 16;
			void **p = realloc(ss->own, c * sizeof *p);
			if (!p)
				return VP_E_NOMEM;
			ss->own = p;
			ss->owncap = c;
		}
		ss->own[ss->nown++] = (void *)data;
	}
	ss->s[ss->n++] = (struct vp_section_src){ name, seg, align, data, len };
	return 0;
}

static void sections_free(struct sections *ss)
{
	for (size_t i = 0; i < ss->nown; i++)
		free(ss->own[i]);
	free(ss->own);
	free(ss->s);
}

/* Builds one segment of n rows (ids from id_base) and adds its sections. */
/* Adds a segment's "labels" and "label_hist" sections. */
static int add_labels(struct sections *ss, const int32_t *labels, size_t n,
		      uint32_t seg)
{
	int32_t lo = INT32_MAX, hi = INT32_MIN;
	int32_t *copy = malloc(n * sizeof *copy);
	struct vp_label_hist *h;
	uint64_t *cnt;
	uint32_t bins;
	if (!copy)
		return VP_E_NOMEM;
	memcpy(copy, labels, n * sizeof *copy);
	for (size_t i = 0; i < n; i++) {
		lo = labels[i] < lo ? labels[i] : lo;
		hi = labels[i] > hi ? labels[i] : hi;
	}
	bins = (int64_t)hi - lo + 1 <= VP_LABEL_HIST_MAX ? (uint32_t)((int64_t)hi - lo + 1) : 0;
	h = calloc(1, sizeof *h + bins * sizeof *cnt);
	if (!h) {
		free(copy);
		return VP_E_NOMEM;
	}
	h->lo = lo;
	h->bins = bins;
	cnt = (uint64_t *)(h + 1);
	for (size_t i = 0; i < n && bins; i++)
		cnt[labels[i] - lo]++;
	if (add(ss, "labels", seg, 64, copy, n * sizeof *copy, 1)) {
		free(h);
		return VP_E_NOMEM;
	}
	return add(ss, "label_hist", seg, 64, h, sizeof *h + bins * sizeof *cnt, 1);
}

/* The graph's traversal codes (vp_gcode.h): "hnsw_gcp" holds the stride,
 * the scale and the offsets, "hnsw_gcode" the padded rows. */
static int add_gcodes(struct sections *ss, const float *data, size_t n,
		      uint32_t dim, uint32_t seg, const uint8_t **out, uint32_t **head)
{
	size_t stride = vp_gcode_stride(dim);
	uint32_t *p = calloc(1, VP_HNSW_GCP_HEAD + 4 * (size_t)dim);
	uint8_t *codes = malloc(n * stride + 1);
	struct vp_gcode g = { dim, stride, 1.0f, NULL };

	if (!p || !codes) {
		free(p);
		free(codes);
		return VP_E_NOMEM;
	}
	p[0] = (uint32_t)stride;
	vp_gcode_train(data, n, dim, (float *)(p + 4), &g.scale);
	memcpy(p + 1, &g.scale, sizeof g.scale);
	g.lo = (const float *)(p + 4);
	vp_gcode_encode(&g, data, n, codes);
	if (add(ss, "hnsw_gcp", seg, 64, p, VP_HNSW_GCP_HEAD + 4 * (size_t)dim, 1)) {
		free(codes);
		return VP_E_NOMEM;
	}
	*out = codes;
	*head = p;
	return add(ss, "hnsw_gcode", seg, 4096, codes, n * stride, 1) ? VP_E_NOMEM : 0;
}

static int build_segment(struct sections *ss, float *data, size_t n,
			 uint32_t dim, const struct vp_build_opts *o,
			 uint32_t seg, uint64_t id_base, int64_t *pq_m,
			 const int32_t *labels, struct vp_error *err)
{
	uint64_t t0 = vp_now_usec(), bytes = (uint64_t)n * dim * sizeof(float);
	struct vp_segment_meta *meta = calloc(1, sizeof *meta);
	int rc = 0;

	if (!meta)
		return vp_seterr(err, VP_E_NOMEM, "out of memory");
	if (o->type != VP_TYPE_IVF_FLAT && o->type != VP_TYPE_IVF_SQ8)
		rc = add(ss, "vectors", seg, 4096, data, bytes, 0);
	if (!rc && o->type == VP_TYPE_FLAT) {
		float *norms = malloc(n * sizeof *norms);
		if (!norms) {
			free(meta);
			return vp_seterr(err, VP_E_NOMEM, "out of memory");
		}
		vp_sqnorms(data, n, dim, norms);
		rc = add(ss, "norms", seg, 64, norms, n * sizeof *norms, 1);
	} else if (!rc && o->type == VP_TYPE_HNSW) {
		struct vp_hnsw_graph g;
		uint32_t *hm = malloc(4 * sizeof *hm);
		const uint8_t *codes = NULL;
		uint32_t *gcp = NULL;
		if (!hm || (vp_hnsw_quant_resolve(o->params.val[VP_P_QUANT], dim) ==
			    VP_HNSW_QUANT_SQ8 &&
			    add_gcodes(ss, data, n, dim, seg, &codes, &gcp))) {
			free(hm);
			free(meta);
			return vp_seterr(err, VP_E_NOMEM, "out of memory");
		}
		/* the build walks the codes too, but not for inner product,
		 * whose code scores are not distances between two nodes */
		rc = vp_hnsw_build(data, n, dim, o->metric,
				   (int)o->params.val[VP_P_HNSW_M],
				   (int)o->params.val[VP_P_EFC], o->threads,
				   o->seed + seg, o->metric == VP_METRIC_IP ? NULL : codes,
				   vp_gcode_stride(dim), o->progress, o->progress_ctx, &g, err);
		if (!rc && codes) {
			/* how many candidates a search must re-rank on this data */
			struct vp_hnsw view;
			float scale, ratio;
			memcpy(&scale, gcp + 1, sizeof scale);
			struct vp_gcode gc = { dim, vp_gcode_stride(dim), scale, (const float *)(gcp + 4) };
			vp_hnsw_view(&view, &g, data, dim, o->metric, codes, &gc);
			ratio = vp_hnsw_calibrate(&view, o->seed + seg);
			memcpy(gcp + 2, &ratio, sizeof ratio);
		}
		if (rc) {
			free(hm);
			free(meta);
			return rc;
		}
		hm[0] = g.entry;
		hm[1] = g.maxlevel;
		hm[2] = g.M;
		hm[3] = g.M0;
		if (add(ss, "hnsw_meta", seg, 64, hm, 16, 1) ||
		    add(ss, "hnsw_levels", seg, 64, g.levels, n, 1) ||
		    add(ss, "hnsw_l0", seg, 4096, g.l0, n * (1 + g.M0) * 4, 1) ||
		    add(ss, "hnsw_upoff", seg, 64, g.upoff, n * 4, 1) ||
		    add(ss, "hnsw_upper", seg, 64, g.upper, g.nblocks * (1 + g.M) * 4, 1))
			rc = VP_E_NOMEM;
	} else if (!rc) {
		struct vp_ivf_built b;
		size_t nl = (size_t)o->params.val[VP_P_NLIST];
		rc = vp_ivf_build(data, n, dim, o->type, o->metric, nl,
				  (size_t)o->params.val[VP_P_PQ_M], o->threads,
				  o->seed + seg, &b, err);
		if (rc) {
			free(meta);
			return rc;
		}
		*pq_m = b.m;
		if (add(ss, "ivf_centroids", seg, 64, b.centroids, (uint64_t)nl * dim * 4, 1) ||
		    add(ss, "ivf_offsets", seg, 64, b.offsets, (nl + 1) * 8, 1) ||
		    add(ss, "ivf_ids", seg, 64, b.ids, n * 4, 1) ||
		    add(ss, "ivf_data", seg, 4096, b.data, b.data_bytes, 1) ||
		    (b.norms && add(ss, "ivf_norms", seg, 64, b.norms, n * 4, 1)) ||
		    (b.sq8_min && add(ss, "sq8_min", seg, 64, b.sq8_min, dim * 4, 1)) ||
		    (b.sq8_step && add(ss, "sq8_step", seg, 64, b.sq8_step, dim * 4, 1)) ||
		    (b.codebooks && add(ss, "pq_codebooks", seg, 64, b.codebooks,
					(uint64_t)dim * VP_PQ_KSUB * 4, 1)))
			rc = VP_E_NOMEM;
	}
	if (rc) {
		free(meta);
		return rc == VP_E_NOMEM ? vp_seterr(err, rc, "out of memory") : rc;
	}
	if (labels && add_labels(ss, labels, n, seg)) {
		free(meta);
		return vp_seterr(err, VP_E_NOMEM, "out of memory");
	}
	meta->count = n;
	meta->id_base = id_base;
	meta->build_usec = vp_now_usec() - t0;
	return add(ss, "segment", seg, 64, meta, sizeof *meta, 1) == 0
		       ? 0 : vp_seterr(err, VP_E_NOMEM, "out of memory");
}

/* Builds segments for rows [0, n) of data, numbered from seg0, ids from
 * id0. */
static int build_segments(struct sections *ss, float *data, size_t n,
			  uint32_t dim, const struct vp_build_opts *o,
			  uint32_t seg0, uint64_t id0, int64_t *pq_m,
			  struct vp_error *err)
{
	size_t per = o->segment_size ? (size_t)o->segment_size : n;
	uint32_t seg = seg0;
	if (o->metric == VP_METRIC_COSINE)
		for (size_t i = 0; i < n; i++)
			vp_normalize(data + i * dim, dim);
	for (size_t i = 0; i < n; i += per, seg++) {
		size_t m = n - i < per ? n - i : per;
		int rc = build_segment(ss, data + i * dim, m, dim, o, seg, id0 + i,
				       pq_m, o->labels ? o->labels + i : NULL, err);
		if (rc)
			return rc;
	}
	return 0;
}

int vp_build_index(struct vp_index_writer *w, float *data, size_t n,
		   uint32_t dim, const struct vp_build_opts *o,
		   struct vp_error *err)
{
	struct vp_index_header h;
	struct sections ss = { 0 };
	uint64_t t0 = vp_now_usec(), bytes;
	int64_t pq_m = 0;
	int rc;

	if (n == 0)
		return vp_seterr(err, VP_E_FORMAT, "no vectors to index");
	if (o->type < VP_TYPE_FLAT || o->type > VP_TYPE_HNSW)
		return vp_seterr(err, VP_E_UNSUPP, "unknown index type %d", o->type);
	if (vp_mul_ok((uint64_t)n, (uint64_t)dim * sizeof(float), &bytes))
		return vp_seterr(err, VP_E_ARG, "index too large");
	memset(&h, 0, sizeof h);
	h.metric = (uint32_t)o->metric;
	h.dim = dim;
	h.type = (uint32_t)o->type;
	h.count = n;
	h.seed = o->seed;
	h.created = (uint64_t)time(NULL);
	for (int i = 0; i < VP_P_COUNT && i < VP_INDEX_NPARAMS; i++)
		h.params[i] = o->params.val[i];
	/* the header records what was built, auto resolved */
	if (o->type == VP_TYPE_HNSW)
		h.params[VP_P_QUANT] = vp_hnsw_quant_resolve(o->params.val[VP_P_QUANT], dim);
	rc = build_segments(&ss, data, n, dim, o, 0, 0, &pq_m, err);
	if (!rc && o->config_text)
		rc = add(&ss, "config", 0, 64, o->config_text, strlen(o->config_text), 0)
			     ? vp_seterr(err, VP_E_NOMEM, "out of memory") : 0;
	if (!rc) {
		if (o->type == VP_TYPE_IVF_PQ)
			h.params[VP_P_PQ_M] = pq_m;
		h.build_usec = vp_now_usec() - t0;
		rc = vp_index_writer_commit(w, &h, ss.s, ss.n, err);
	}
	sections_free(&ss);
	return rc;
}

long vp_index_segments(const struct vp_index *ix, struct vp_segment_meta **metas,
		       struct vp_error *err)
{
	long nseg = 0;
	uint64_t next = 0;
	for (uint32_t i = 0; i < ix->nsections; i++)
		if (!strcmp(ix->sections[i].name, "segment"))
			nseg++;
	*metas = calloc(nseg ? (size_t)nseg : 1, sizeof **metas);
	if (!*metas)
		return vp_seterr(err, VP_E_NOMEM, "out of memory");
	if (nseg == 0) {
		(*metas)[0].count = ix->hdr.count;
		return 1;
	}
	for (long s = 0; s < nseg; s++) {
		const void *p;
		int rc = vp_index_need(ix, "segment", (uint32_t)s, sizeof **metas, &p, err);
		if (rc) {
			free(*metas);
			*metas = NULL;
			return rc;
		}
		memcpy(&(*metas)[s], p, sizeof **metas);
		if ((*metas)[s].id_base != next || (*metas)[s].count == 0 ||
		    (*metas)[s].count > ix->hdr.count - next) {
			free(*metas);
			*metas = NULL;
			return vp_seterr(err, VP_E_CORRUPT, "%s: corrupt index: segment "
					 "%ld does not continue the ids", ix->path, s);
		}
		next += (*metas)[s].count;
	}
	if (next != ix->hdr.count) {
		free(*metas);
		*metas = NULL;
		return vp_seterr(err, VP_E_CORRUPT, "%s: corrupt index: segments "
				 "hold %llu rows, header says %llu", ix->path,
				 (unsigned long long)next,
				 (unsigned long long)ix->hdr.count);
	}
	return nseg;
}

int vp_build_append(struct vp_index_writer *w, const struct vp_index *old,
		    float *data, size_t n, uint32_t dim,
		    const struct vp_build_opts *o, struct vp_error *err)
{
	struct vp_index_header h = old->hdr;
	struct vp_build_opts oo = *o;
	struct vp_segment_meta *metas, *m0 = NULL;
	struct sections ss = { 0 };
	uint64_t t0 = vp_now_usec();
	int64_t pq_m = 0;
	long nseg;
	int rc = 0;

	if (dim != old->hdr.dim)
		return vp_seterr(err, VP_E_DIM, "new vectors have dimension %u, "
				 "index %s has %u", dim, old->path, old->hdr.dim);
	if (n == 0)
		return vp_seterr(err, VP_E_FORMAT, "no vectors to append");
	nseg = vp_index_segments(old, &metas, err);
	if (nseg < 0)
		return (int)nseg;
	if (!vp_index_find(old, "labels", 0) != !o->labels) {
		free(metas);
		return vp_seterr(err, VP_E_ARG, "%s %s labels: give --labels for "
				 "every segment or for none", old->path,
				 o->labels ? "has no" : "has");
	}
	oo.type = (int)old->hdr.type;
	oo.metric = (int)old->hdr.metric;
	for (int i = 0; i < VP_P_COUNT && i < VP_INDEX_NPARAMS; i++)
		oo.params.val[i] = old->hdr.params[i];
	/* an index written without "segment" sections is one segment */
	if (!vp_index_find(old, "segment", 0)) {
		m0 = calloc(1, sizeof *m0);
		if (!m0 || add(&ss, "segment", 0, 64, m0, sizeof *m0, 1)) {
			free(m0);
			rc = vp_seterr(err, VP_E_NOMEM, "out of memory");
			goto out;
		}
		m0->count = old->hdr.count;
	}
	for (uint32_t i = 0; i < old->nsections && !rc; i++) {
		const struct vp_section *s = &old->sections[i];
		if (add(&ss, s->name, s->segment,
			!strcmp(s->name, "vectors") || !strcmp(s->name, "hnsw_l0") ||
			!strcmp(s->name, "ivf_data") ? 4096 : 64,
			vp_index_data(old, s), s->length, 0))
			rc = vp_seterr(err, VP_E_NOMEM, "out of memory");
	}
	if (!rc)
		rc = build_segments(&ss, data, n, dim, &oo, (uint32_t)nseg,
				    old->hdr.count, &pq_m, err);
	if (!rc) {
		h.count = old->hdr.count + n;
		h.created = (uint64_t)time(NULL);
		h.build_usec = old->hdr.build_usec + (vp_now_usec() - t0);
		rc = vp_index_writer_commit(w, &h, ss.s, ss.n, err);
	}
out:
	free(metas);
	sections_free(&ss);
	return rc;
}
