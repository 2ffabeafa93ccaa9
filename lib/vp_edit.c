/* vp_edit: deletes, upserts, compaction and shards (vp_edit.h). */
#include "vp_edit.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vp_family.h"
#include "vp_sys.h"
#include "vp_warm.h"

static inline int is_dead(const struct vp_segment *g, uint64_t off)
{
	return g->dead && (g->dead[off >> 6] >> (off & 63) & 1);
}

static inline int64_t ext_id(const struct vp_segment *g, uint64_t off)
{
	return g->ext ? g->ext[off] : (int64_t)(g->meta.id_base + off);
}

uint64_t vp_edit_nlive(const struct vp_searcher *s)
{
	uint64_t n = 0;
	for (size_t g = 0; g < s->nseg; g++)
		n += s->seg[g].meta.count - s->seg[g].ndead;
	return n;
}

static int cmp_loc(const void *a, const void *b)
{
	int64_t x = ((const struct vp_idloc *)a)->id, y = ((const struct vp_idloc *)b)->id;
	return (x > y) - (x < y);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

int vp_edit_live(const struct vp_searcher *s, struct vp_idloc **out, size_t *n,
		 struct vp_error *err)
{
	size_t m = 0, cap = vp_edit_nlive(s);
	struct vp_idloc *v = malloc((cap ? cap : 1) * sizeof *v);
	int sorted = 1;
	if (!v)
		return vp_seterr(err, VP_E_NOMEM, "out of memory");
	for (size_t g = 0; g < s->nseg; g++) {
		const struct vp_segment *sg = &s->seg[g];
		for (uint64_t off = 0; off < sg->meta.count; off++)
			if (!is_dead(sg, off) && m < cap) {
				v[m] = (struct vp_idloc){ ext_id(sg, off), (uint32_t)g,
							  (uint32_t)off };
				sorted &= m == 0 || v[m - 1].id < v[m].id;
				m++;
			}
	}
	/* an index never edited has its ids in order already */
	if (!sorted)
		qsort(v, m, sizeof *v, cmp_loc);
	for (size_t i = 1; i < m; i++)
		if (v[i].id == v[i - 1].id) {
			int64_t id = v[i].id;
			free(v);
			return vp_seterr(err, VP_E_CORRUPT, "%s: corrupt index: id %lld "
					 "is live twice", s->ix.path, (long long)id);
		}
	*out = v;
	*n = m;
	return 0;
}

int64_t vp_edit_next_id(const struct vp_searcher *s)
{
	int64_t next = (int64_t)s->ix.hdr.count;
	for (size_t g = 0; g < s->nseg; g++) {
		const struct vp_segment *sg = &s->seg[g];
		for (uint64_t off = 0; sg->ext && off < sg->meta.count; off++)
			if (sg->ext[off] >= next)
				next = sg->ext[off] + 1;
	}
	return next;
}

int vp_edit_check_ids(const int64_t *ids, size_t n, const char *name,
		      struct vp_error *err)
{
	int64_t *c = malloc((n ? n : 1) * sizeof *c);
	if (!c)
		return vp_seterr(err, VP_E_NOMEM, "out of memory");
	memcpy(c, ids, n * sizeof *c);
	qsort(c, n, sizeof *c, cmp_i64);
	for (size_t i = 0; i < n; i++)
		if (c[i] < 0 || (i && c[i] == c[i - 1])) {
			int64_t x = c[i];
			free(c);
			return vp_seterr(err, VP_E_FORMAT, x < 0 ? "%s: id %lld is negative" :
					 "%s: id %lld is given twice", name, (long long)x);
		}
	free(c);
	return 0;
}

static const struct vp_idloc *find(const struct vp_idloc *v, size_t n, int64_t id)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (v[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && v[lo].id == id ? &v[lo] : NULL;
}

/* New tombstone bitmaps (per segment, NULL where unchanged) with ids set.
 * missing: what to do with an id that is not live: 0 fail, 1 skip. */
static int mark(const struct vp_searcher *s, const int64_t *ids, size_t n,
		int skip_missing, uint64_t ***bm_out, size_t *marked,
		struct vp_error *err)
{
	struct vp_idloc *live;
	size_t nlive, cnt = 0;
	uint64_t **bm = calloc(s->nseg ? s->nseg : 1, sizeof *bm);
	int rc = 0;
	if (!bm)
		return vp_seterr(err, VP_E_NOMEM, "out of memory");
	if ((rc = vp_edit_live(s, &live, &nlive, err))) {
		free(bm);
		return rc;
	}
	for (size_t i = 0; i < n && !rc; i++) {
		const struct vp_idloc *l = find(live, nlive, ids[i]);
		uint64_t words;
		if (!l) {
			if (!skip_missing)
				rc = vp_seterr(err, VP_E_FORMAT, "%s: id %lld is not in the "
					       "index (or was deleted already)", s->ix.path,
					       (long long)ids[i]);
			continue;
		}
		words = (s->seg[l->seg].meta.count + 63) / 64;
		if (!bm[l->seg]) {
			if (!(bm[l->seg] = calloc(words, 8))) {
				rc = vp_seterr(err, VP_E_NOMEM, "out of memory");
				break;
			}
			if (s->seg[l->seg].dead)
				memcpy(bm[l->seg], s->seg[l->seg].dead, words * 8);
		}
		/* the same id twice in one request deletes it once */
		if (!(bm[l->seg][l->off >> 6] >> (l->off & 63) & 1)) {
			bm[l->seg][l->off >> 6] |= 1ull << (l->off & 63);
			cnt++;
		}
	}
	free(live);
	if (rc) {
		for (size_t g = 0; g < s->nseg; g++)
			free(bm[g]);
		free(bm);
		return rc;
	}
	*bm_out = bm;
	*marked = cnt;
	return 0;
}

static void free_marks(const struct vp_searcher *s, uint64_t **bm)
{
	for (size_t g = 0; bm && g < s->nseg; g++)
		free(bm[g]);
	free(bm);
}

int vp_edit_delete(struct vp_index_writer *w, const struct vp_searcher *s,
		   const int64_t *ids, size_t n, size_t *deleted,
		   struct vp_error *err)
{
	struct vp_build_opts o;
	uint64_t **bm;
	int rc;
	if (n == 0)
		return vp_seterr(err, VP_E_FORMAT, "no ids to delete");
	if ((rc = mark(s, ids, n, 0, &bm, deleted, err)))
		return rc;
	vp_build_opts_init(&o);
	o.tombstones = bm;
	rc = vp_build_append(w, &s->ix, NULL, 0, s->ix.hdr.dim, &o, err);
	free_marks(s, bm);
	return rc;
}

int vp_edit_append(struct vp_index_writer *w, const struct vp_searcher *s,
		   float *data, size_t n, uint32_t dim, const struct vp_build_opts *o,
		   int upsert, size_t *replaced, struct vp_error *err)
{
	struct vp_build_opts oo = *o;
	uint64_t **bm = NULL;
	int64_t *gen = NULL;
	int rc;

	*replaced = 0;
	if (o->ids) {
		struct vp_idloc *live;
		size_t nlive;
		if ((rc = vp_edit_check_ids(o->ids, n, "--ids", err)))
			return rc;
		if (!upsert) {
			if ((rc = vp_edit_live(s, &live, &nlive, err)))
				return rc;
			for (size_t i = 0; i < n && !rc; i++)
				if (find(live, nlive, o->ids[i]))
					rc = vp_seterr(err, VP_E_FORMAT, "%s: id %lld is in the "
						       "index already (vp-build --upsert "
						       "replaces rows)", s->ix.path,
						       (long long)o->ids[i]);
			free(live);
			if (rc)
				return rc;
		} else {
			if ((rc = mark(s, o->ids, n, 1, &bm, replaced, err)))
				return rc;
			oo.tombstones = bm;
		}
	} else {
		/* ids continue from the largest ever used: an id deleted or
		 * held by a shard's rows is never handed out again */
		int64_t next = vp_edit_next_id(s);
		if (next != (int64_t)s->ix.hdr.count) {
			if (!(gen = malloc((n ? n : 1) * sizeof *gen)))
				return vp_seterr(err, VP_E_NOMEM, "out of memory");
			for (size_t i = 0; i < n; i++)
				gen[i] = next + (int64_t)i;
			oo.ids = gen;
		}
	}
	rc = vp_build_append(w, &s->ix, data, n, dim, &oo, err);
	free_marks(s, bm);
	free(gen);
	return rc;
}

/* The "config" section of the old index as text, for the new one. */
static char *config_text(const struct vp_searcher *s)
{
	const struct vp_section *c = vp_index_find(&s->ix, "config", 0);
	char *t;
	if (!c || c->length > (1u << 20))
		return NULL;
	if ((t = malloc(c->length + 1))) {
		memcpy(t, vp_index_data(&s->ix, c), c->length);
		t[c->length] = 0;
	}
	return t;
}

/* Compaction by rebuilding from the live rows' originals, in id order. */
static int compact_rebuild(struct vp_index_writer *w, struct vp_searcher *s,
			   const struct vp_build_opts *o, struct vp_error *err)
{
	const struct vp_family *fam = s->fam;
	size_t d = s->ix.hdr.dim, nlive, *start = NULL;
	struct vp_idloc *live = NULL;
	struct vp_build_opts oo = *o;
	float *data = NULL, *buf = NULL;
	int64_t *ids = NULL;
	int32_t *labels = NULL;
	uint32_t *inv = NULL, *order = NULL;
	int rc, dense = 1;

	if ((rc = vp_edit_live(s, &live, &nlive, err)))
		return rc;
	if (nlive == 0) {
		free(live);
		return vp_seterr(err, VP_E_FORMAT, "%s: every row is deleted; nothing "
				 "to compact", s->ix.path);
	}
	data = malloc(nlive * d * sizeof *data);
	ids = malloc(nlive * sizeof *ids);
	labels = s->seg[0].labels ? malloc(nlive * sizeof *labels) : NULL;
	order = malloc(nlive * sizeof *order);
	start = calloc(s->nseg + 1, sizeof *start);
	if (!data || !ids || !order || !start || (s->seg[0].labels && !labels)) {
		rc = vp_seterr(err, VP_E_NOMEM, "out of memory");
		goto out;
	}
	/* the live rows grouped by segment (a counting sort), so each
	 * segment's originals are read once */
	for (size_t i = 0; i < nlive; i++)
		start[live[i].seg + 1]++;
	for (size_t g = 0; g < s->nseg; g++)
		start[g + 1] += start[g];
	for (size_t i = 0; i < nlive; i++)
		order[start[live[i].seg]++] = (uint32_t)i;
	for (size_t g = s->nseg; g > 0; g--)
		start[g] = start[g - 1];
	start[0] = 0;
	for (size_t g = 0; g < s->nseg && !rc; g++) {
		const struct vp_segment *sg = &s->seg[g];
		size_t cnt = sg->meta.count;
		const float *rows = sg->vectors;
		if (start[g] == start[g + 1])
			continue;
		if (fam->originals) {
			float *nb = realloc(buf, cnt * d * sizeof *nb);
			if (!nb) {
				rc = vp_seterr(err, VP_E_NOMEM, "out of memory");
				break;
			}
			buf = nb;
			if ((rc = fam->originals(s, g, buf, err)))
				break;
			rows = buf;
		} else if (!rows) {
			rc = vp_seterr(err, VP_E_UNSUPP, "%s keeps no vectors to compact "
				       "from", s->ix.path);
			break;
		}
		/* rows stored in another order (a reordered graph): offset ->
		 * row, for the labels and the vectors (the originals op hands
		 * those back by offset already) */
		free(inv);
		inv = NULL;
		if (sg->rowid) {
			if (!(inv = malloc(cnt * sizeof *inv))) {
				rc = vp_seterr(err, VP_E_NOMEM, "out of memory");
				break;
			}
			for (size_t r = 0; r < cnt; r++)
				inv[sg->rowid[r]] = (uint32_t)r;
		}
		for (size_t j = start[g]; j < start[g + 1]; j++) {
			size_t i = order[j], off = live[i].off, row = inv ? inv[off] : off;
			memcpy(data + i * d, rows + (fam->originals ? off : row) * d,
			       d * sizeof *data);
			ids[i] = live[i].id;
			if (labels)
				labels[i] = sg->labels ? sg->labels[row] : 0;
		}
	}
	if (rc)
		goto out;
	for (size_t i = 0; i < nlive; i++)
		dense &= ids[i] == (int64_t)i;
	oo.type = (int)s->ix.hdr.type;
	oo.metric = (int)s->ix.hdr.metric;
	oo.seed = s->ix.hdr.seed;
	for (int i = 0; i < VP_P_COUNT && i < VP_INDEX_NPARAMS; i++)
		oo.params.val[i] = s->ix.hdr.params[i];
	oo.ids = dense ? NULL : ids;
	oo.labels = labels;
	oo.tombstones = NULL;
	oo.config_text = config_text(s);
	rc = vp_build_index(w, data, nlive, (uint32_t)d, &oo, err);
	free((void *)oo.config_text);
out:
	free(live), free(data), free(ids), free(labels), free(order), free(start);
	free(buf), free(inv);
	return rc;
}

/* Compaction by the family's own rewrite of each segment (IVF lists
 * without their deleted entries); segments left empty disappear. */
static int compact_segments(struct vp_index_writer *w, struct vp_searcher *s,
			    int threads, const struct vp_heat *heat, struct vp_error *err)
{
	struct vp_index_header h = s->ix.hdr;
	struct vp_sections ss = { 0 };
	uint64_t base = 0, t0 = vp_now_usec();
	uint32_t nseg = 0;
	char *cfg = config_text(s);
	int rc = 0;

	for (size_t g = 0; g < s->nseg && !rc; g++) {
		const struct vp_segment *sg = &s->seg[g];
		uint64_t cnt = sg->meta.count, nl = 0;
		uint32_t *keep = malloc((cnt ? cnt : 1) * sizeof *keep);
		int64_t *ids = NULL;
		int32_t *labels = NULL;
		uint32_t *rows = NULL;
		struct vp_segment_meta *meta = NULL;
		int dense = 1;
		if (!keep) {
			rc = vp_seterr(err, VP_E_NOMEM, "out of memory");
			break;
		}
		for (uint64_t off = 0; off < cnt; off++)
			keep[off] = is_dead(sg, off) ? UINT32_MAX : (uint32_t)nl++;
		if (nl == 0) {
			free(keep);
			continue;
		}
		ids = malloc(nl * sizeof *ids);
		labels = sg->labels ? malloc(nl * sizeof *labels) : NULL;
		meta = calloc(1, sizeof *meta);
		if (!ids || !meta || (sg->labels && !labels)) {
			free(keep), free(ids), free(labels), free(meta);
			rc = vp_seterr(err, VP_E_NOMEM, "out of memory");
			break;
		}
		for (uint64_t off = 0; off < cnt; off++)
			if (keep[off] != UINT32_MAX) {
				ids[keep[off]] = ext_id(sg, off);
				dense &= ids[keep[off]] == (int64_t)(base + keep[off]);
				if (labels && !sg->rowid)
					labels[keep[off]] = sg->labels[off];
			}
		rc = s->fam->compact(s, g, keep, nl, nseg, threads, heat ? &heat[g] : NULL, &ss,
				     &rows, err);
		if (!rc && rows) {
			/* rows in the family's own order: each one's offset, and
			 * the labels in that order */
			uint32_t *rid = malloc(nl * sizeof *rid);
			if (!rid)
				rc = vp_seterr(err, VP_E_NOMEM, "out of memory");
			for (uint64_t r = 0; rid && r < nl; r++) {
				rid[r] = keep[sg->rowid ? sg->rowid[rows[r]] : rows[r]];
				if (labels)
					labels[r] = sg->labels[rows[r]];
			}
			if (rid && vp_sections_add(&ss, "row_ids", nseg, 64, rid, nl * 4, 1))
				rc = vp_seterr(err, VP_E_NOMEM, "out of memory");
		}
		free(rows);
		free(keep);
		if (!rc && labels && vp_sections_labels(&ss, labels, nl, nseg))
			rc = vp_seterr(err, VP_E_NOMEM, "out of memory");
		free(labels);
		if (!rc && !dense) {
			rc = vp_sections_add(&ss, "ids", nseg, 64, ids, nl * 8, 1)
				     ? vp_seterr(err, VP_E_NOMEM, "out of memory") : 0;
			ids = NULL;
		}
		free(ids);
		if (!rc) {
			meta->count = nl;
			meta->id_base = base;
			meta->build_usec = sg->meta.build_usec;
			rc = vp_sections_add(&ss, "segment", nseg, 64, meta, sizeof *meta, 1)
				     ? vp_seterr(err, VP_E_NOMEM, "out of memory") : 0;
		} else
			free(meta);
		base += nl;
		nseg++;
	}
	if (!rc && nseg == 0)
		rc = vp_seterr(err, VP_E_FORMAT, "%s: every row is deleted; nothing to "
			       "compact", s->ix.path);
	if (!rc && cfg && vp_sections_add(&ss, "config", 0, 64, cfg, strlen(cfg), 0))
		rc = vp_seterr(err, VP_E_NOMEM, "out of memory");
	if (!rc) {
		h.count = base;
		h.created = (uint64_t)time(NULL);
		h.build_usec += vp_now_usec() - t0;
		rc = vp_index_writer_commit(w, &h, ss.s, ss.n, err);
	}
	vp_sections_free(&ss);
	free(cfg);
	return rc;
}

/* The first segment with more rows deleted than the family mends around
 * (a graph mended around many holes is worse than a new one), or nseg. */
static size_t too_dead(const struct vp_searcher *s)
{
	size_t g = 0;
	while (g < s->nseg && (double)s->seg[g].ndead <=
	       s->fam->compact_max_dead * (double)s->seg[g].meta.count)
		g++;
	return g;
}

int vp_edit_compact(struct vp_index_writer *w, struct vp_searcher *s,
		    const struct vp_build_opts *o, int retrain, struct vp_error *err)
{
	/* the family's own compaction while few enough rows are deleted (a
	 * graph mended around many holes is worse than a new one); a graph
	 * of several segments is rebuilt as one, which searches faster,
	 * while IVF keeps its segments and codes unless retrained */
	int mend = s->fam->compact && !retrain &&
		   (s->nseg == 1 || s->fam->compact_max_dead >= 1.0) && too_dead(s) == s->nseg;
	if (mend)
		return compact_segments(w, s, o->threads, NULL, err);
	return compact_rebuild(w, s, o, err);
}

int vp_edit_can_relayout(const struct vp_searcher *s, struct vp_error *err)
{
	if (!s->fam->compact || !s->fam->relayout)
		return vp_seterr(err, VP_E_UNSUPP, "%s: a relayout orders HNSW rows and IVF "
				 "lists; %s has neither", s->ix.path, s->fam->name);
	return 0;
}

int vp_edit_relayout(struct vp_index_writer *w, struct vp_searcher *s,
		     const struct vp_heat *heat, int threads, struct vp_error *err)
{
	int rc = vp_edit_can_relayout(s, err);
	size_t g;
	if (rc)
		return rc;
	/* the rebuild of --compact first, where it would rebuild */
	if ((g = too_dead(s)) < s->nseg)
		return vp_seterr(err, VP_E_UNSUPP, "%s: segment %zu has %llu of %llu rows "
				 "deleted; compact it first (vp-build --compact)",
				 s->ix.path, g, (unsigned long long)s->seg[g].ndead,
				 (unsigned long long)s->seg[g].meta.count);
	return compact_segments(w, s, threads, heat, err);
}

int vp_shard_has(int64_t id, uint64_t count, uint32_t i, uint32_t n, int by_hash)
{
	if (by_hash) {
		/* splitmix64's finaliser: neighbouring ids land anywhere */
		uint64_t x = (uint64_t)id + 0x9e3779b97f4a7c15ull;
		x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
		x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
		x ^= x >> 31;
		return x % n == i;
	}
	/* contiguous ranges: shard i holds [i*count/n, (i+1)*count/n) */
	return (uint64_t)id >= (unsigned __int128)count * i / n &&
	       (uint64_t)id < (unsigned __int128)count * (i + 1) / n;
}
