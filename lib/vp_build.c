/* vp_build: segmenting, appending, and the sections every segment has; the
 * family row (vp_family.h) adds its own. */
#include "vp_build.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vp_dist.h"
#include "vp_family.h"
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

static int add(struct vp_sections *ss, const char *name, uint32_t seg,
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

void vp_sections_free(struct vp_sections *ss)
{
	for (size_t i = 0; i < ss->nown; i++)
		free(ss->own[i]);
	free(ss->own);
	free(ss->s);
}

int vp_sections_add(struct vp_sections *ss, const char *name, uint32_t seg,
		    uint32_t align, const void *data, uint64_t len, int owned)
{
	int rc = add(ss, name, seg, align, data, len, owned);
	if (rc && owned)
		free((void *)data);
	return rc;
}

int vp_sections_labels(struct vp_sections *ss, const int32_t *labels, size_t n,
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

static int add_cb(void *ctx, const char *name, uint32_t seg, uint32_t align,
		  const void *data, uint64_t len, int owned)
{
	return add(ctx, name, seg, align, data, len, owned);
}

/* One segment: the float rows when the family keeps them, the family's
 * own sections, the labels, the segment's metadata. */
static int build_segment(struct vp_sections *ss, float *data, size_t n,
			 uint32_t dim, const struct vp_build_opts *o,
			 uint32_t seg, uint64_t id_base, int64_t *params,
			 const int32_t *labels, const int64_t *ids,
			 struct vp_error *err)
{
	const struct vp_family *fam = vp_family_of(o->type);
	uint64_t t0 = vp_now_usec(), bytes = (uint64_t)n * dim * sizeof(float);
	struct vp_segment_meta *meta;
	struct vp_family_build b = { data, n, dim, seg, o, add_cb, ss, params, NULL };
	int rc;

	if (fam->keeps_vectors && add(ss, "vectors", seg, 4096, data, bytes, 0))
		return vp_seterr(err, VP_E_NOMEM, "out of memory");
	if ((rc = fam->build(&b, err))) {
		free(b.order);
		return rc;
	}
	if (b.order) {
		/* the rows were reordered: their ids, and labels to match */
		int32_t *moved = labels ? malloc(n * sizeof *moved + 1) : NULL;
		if (add(ss, "row_ids", seg, 64, b.order, n * 4, 1) || (labels && !moved)) {
			free(moved);
			return vp_seterr(err, VP_E_NOMEM, "out of memory");
		}
		for (size_t r = 0; labels && r < n; r++)
			moved[r] = labels[b.order[r]];
		rc = labels ? vp_sections_labels(ss, moved, n, seg) : 0;
		free(moved);
		if (rc)
			return vp_seterr(err, VP_E_NOMEM, "out of memory");
	} else if (labels && vp_sections_labels(ss, labels, n, seg))
		return vp_seterr(err, VP_E_NOMEM, "out of memory");
	if (ids && add(ss, "ids", seg, 64, ids, (uint64_t)n * 8, 0))
		return vp_seterr(err, VP_E_NOMEM, "out of memory");
	meta = calloc(1, sizeof *meta);
	if (!meta || add(ss, "segment", seg, 64, meta, sizeof *meta, 1)) {
		free(meta);
		return vp_seterr(err, VP_E_NOMEM, "out of memory");
	}
	meta->count = n;
	meta->id_base = id_base;
	meta->build_usec = vp_now_usec() - t0;
	return 0;
}

/* Builds segments for rows [0, n) of data, numbered from seg0, ids from
 * id0. */
static int build_segments(struct vp_sections *ss, float *data, size_t n,
			  uint32_t dim, const struct vp_build_opts *o,
			  uint32_t seg0, uint64_t id0, int64_t *params,
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
				       params, o->labels ? o->labels + i : NULL,
				       o->ids ? o->ids + i : NULL, err);
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
	struct vp_sections ss = { 0 };
	uint64_t t0 = vp_now_usec(), bytes;
	const struct vp_family *fam = vp_family_of(o->type);
	int rc;

	if (n == 0)
		return vp_seterr(err, VP_E_FORMAT, "no vectors to index");
	if (!fam)
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
	/* the header records what was built, auto values resolved */
	if (fam->resolve)
		fam->resolve(h.params, dim);
	rc = build_segments(&ss, data, n, dim, o, 0, 0, h.params, err);
	if (!rc && o->config_text)
		rc = add(&ss, "config", 0, 64, o->config_text, strlen(o->config_text), 0)
			     ? vp_seterr(err, VP_E_NOMEM, "out of memory") : 0;
	if (!rc) {
		h.build_usec = vp_now_usec() - t0;
		rc = vp_index_writer_commit(w, &h, ss.s, ss.n, err);
	}
	vp_sections_free(&ss);
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
	struct vp_sections ss = { 0 };
	uint64_t t0 = vp_now_usec();
	long nseg;
	int rc = 0;

	if (dim != old->hdr.dim)
		return vp_seterr(err, VP_E_DIM, "new vectors have dimension %u, "
				 "index %s has %u", dim, old->path, old->hdr.dim);
	if (n == 0 && !o->tombstones)
		return vp_seterr(err, VP_E_FORMAT, "no vectors to append");
	nseg = vp_index_segments(old, &metas, err);
	if (nseg < 0)
		return (int)nseg;
	if (n && !vp_index_find(old, "labels", 0) != !o->labels) {
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
		/* a segment whose tombstones change gets new ones below */
		if (o->tombstones && s->segment < (uint32_t)nseg &&
		    o->tombstones[s->segment] && !strcmp(s->name, "tombstones"))
			continue;
		/* each section keeps its alignment: page-aligned ones (rows
		 * read from the mapping) stay page-aligned */
		if (add(&ss, s->name, s->segment, s->offset % 4096 == 0 ? 4096 : 64,
			vp_index_data(old, s), s->length, 0))
			rc = vp_seterr(err, VP_E_NOMEM, "out of memory");
	}
	for (long g = 0; o->tombstones && g < nseg && !rc; g++)
		if (o->tombstones[g] &&
		    add(&ss, "tombstones", (uint32_t)g, 64, o->tombstones[g],
			(metas[g].count + 63) / 64 * 8, 0))
			rc = vp_seterr(err, VP_E_NOMEM, "out of memory");
	if (!rc && n)
		rc = build_segments(&ss, data, n, dim, &oo, (uint32_t)nseg,
				    old->hdr.count, h.params, err);
	if (!rc) {
		h.count = old->hdr.count + n;
		h.created = (uint64_t)time(NULL);
		h.build_usec = old->hdr.build_usec + (vp_now_usec() - t0);
		rc = vp_index_writer_commit(w, &h, ss.s, ss.n, err);
	}
out:
	free(metas);
	vp_sections_free(&ss);
	return rc;
}
