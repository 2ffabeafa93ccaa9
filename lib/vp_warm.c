/*
 * vp_warm: the warm-up planner.  See vp_warm.h.
 */
#define _GNU_SOURCE 1
#include "vp_warm.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vp_alog.h"
#include "vp_family.h"
#include "vp_sys.h"
#include <xxhash.h>

int vp_warm_strategy_parse(const char *s)
{
	static const char *const n[] = { "frequency", "recency", "correlation", "all" };
	for (int i = 0; i < 4; i++)
		if (!strcmp(s, n[i]))
			return i;
	return -1;
}

const char *vp_warm_strategy_name(int s)
{
	static const char *const n[] = { "frequency", "recency", "correlation", "all" };
	return s >= 0 && s < 4 ? n[s] : "?";
}

int vp_warm_budget_parse(const char *s, uint64_t size, uint64_t *bytes, struct vp_error *err)
{
	char *end;
	double v = strtod(s, &end);
	if (end == s || !(v >= 0) || !isfinite(v))
		return vp_seterr(err, VP_E_ARG, "--budget: '%s' is not a size or a percentage", s);
	if (*end == '%' && !end[1]) {
		if (v > 100)
			return vp_seterr(err, VP_E_ARG, "--budget: %s is over 100%%", s);
		*bytes = (uint64_t)(v / 100 * (double)size);
		return 0;
	}
	if (*end && end[1])
		return vp_seterr(err, VP_E_ARG, "--budget: '%s' is not a size or a percentage", s);
	switch (*end) {
	case 0: break;
	case 'k': case 'K': v *= 1024; break;
	case 'm': case 'M': v *= 1048576; break;
	case 'g': case 'G': v *= 1073741824; break;
	default: return vp_seterr(err, VP_E_ARG, "--budget: '%s' is not a size or a percentage", s);
	}
	if (v > 1.8e19)
		return vp_seterr(err, VP_E_ARG, "--budget: '%s' is too large", s);
	*bytes = (uint64_t)v;
	return 0;
}

void vp_warm_opts_init(struct vp_warm_opts *o)
{
	o->strategy = VP_WARM_ALL;
	o->budget = UINT64_MAX;
	o->half_life = 86400;
	o->at_minute = -1;
	o->now = 0;
	o->grain = VP_WARM_GRAIN_DEFAULT;
}

/* ------------------------------------------------------------ the units */

#define MAXR VP_FAMILY_UNIT_RANGES
struct unit {
	uint16_t seg, kind;
	uint32_t item;
	struct vp_warm_range r[MAXR];
	int nr;
	uint8_t rowr;       /* which of r are the unit's float rows (bits) */
	size_t stamp;       /* row pages: the query group that last counted it */
	uint64_t bytes;
	double freq, rec, co;
	int planned;
};

struct seg_units {
	size_t base, n;     /* units base .. base + n */
	int kind;
	uint32_t shift;     /* HNSW */
	/* a family that reads its rows one by one: a unit per page of the
	 * rows, units rbase .. rbase + rn, planned from VP_ALOG_ROWS records
	 * (has_rows) apart from the other units' compact parts */
	size_t rbase, rn;
	uint64_t roff, rowbytes, nrows, rpage0;
	const uint32_t *rowpos; /* where a logged row is (NULL: in order) */
	int has_rows;
	int carried;        /* the units hold the rows (rows_range >= 0) */
};

struct ctx {
	const struct vp_searcher *s;
	const struct vp_warm_opts *o;
	struct unit *u;
	size_t nu;
	struct seg_units *su;
	/* the log */
	uint64_t t;               /* time of the records being read */
	int timed;
	uint32_t cur_q;           /* query being read */
	int in_q;
	uint32_t *qunits;         /* unit ids of every query, concatenated */
	size_t nqu, capqu;
	size_t *qstart;           /* query i: qunits[qstart[i] .. qstart[i + 1]) */
	size_t nq, capq;
	int oom;
	uint64_t accesses;
	uint64_t ps;              /* page size */
};

static uint64_t off_of(const struct vp_searcher *s, const void *p)
{
	return (uint64_t)((const unsigned char *)p - s->ix.map);
}

static void add_range(struct unit *u, const struct vp_searcher *s, const void *p, uint64_t len)
{
	if (!p || !len || u->nr == MAXR)
		return;
	u->r[u->nr].off = off_of(s, p);
	u->r[u->nr].len = len;
	u->nr++;
	u->bytes += len;
}

/* The units of every segment, and the extents they cover (the rest of the
 * file is the always-needed part). */
static int make_units(struct ctx *c, struct vp_warm_range **ext, size_t *next)
{
	const struct vp_searcher *s = c->s;
	const struct vp_family *fam = s->fam;
	struct vp_family_units info;
	struct vp_family_unit *fu = NULL;
	size_t total = 0, ne = 0, most = 0;
	struct vp_warm_range *e;

	c->su = calloc(s->nseg ? s->nseg : 1, sizeof *c->su);
	if (!c->su)
		return VP_E_NOMEM;
	/* the family's units of each segment (vp_family.h) */
	for (size_t g = 0; g < s->nseg; g++) {
		fam->warm_units(s, g, &info, NULL);
		c->su[g].base = total;
		c->su[g].n = info.n;
		c->su[g].kind = fam->trace_kind;
		c->su[g].shift = info.shift;
		total += info.n;
		most = info.n > most ? info.n : most;
		if (info.rows && info.nrows && info.rowbytes) {
			struct seg_units *su = &c->su[g];
			su->roff = off_of(s, info.rows);
			su->rowbytes = info.rowbytes;
			su->nrows = info.nrows;
			su->rowpos = info.rowpos;
			su->rpage0 = su->roff / c->ps;
			su->rbase = total;
			su->rn = (su->roff + su->nrows * su->rowbytes - 1) / c->ps - su->rpage0 + 1;
			su->carried = info.rows_range >= 0;
			total += su->rn;
		}
	}
	c->u = calloc(total ? total : 1, sizeof *c->u);
	e = calloc(VP_FAMILY_UNIT_RANGES * (s->nseg ? s->nseg : 1), sizeof *e);
	fu = calloc(most ? most : 1, sizeof *fu);
	if (!c->u || !e || !fu) {
		free(e);
		free(fu);
		return VP_E_NOMEM;
	}
	c->nu = total;
	for (size_t g = 0; g < s->nseg; g++) {
		struct unit *u = c->u + c->su[g].base;
		fam->warm_units(s, g, &info, fu);
		for (size_t r = 0; r < info.n; r++) {
			u[r].seg = (uint16_t)g;
			u[r].kind = (uint16_t)fam->trace_kind;
			u[r].item = (uint32_t)r;
			u[r].rowr = 0;
			for (int j = 0; j < VP_FAMILY_UNIT_RANGES; j++) {
				if ((j == info.rows_range || j == info.rows_range2) &&
				    fu[r].p[j] && fu[r].len[j] && u[r].nr < MAXR)
					u[r].rowr |= (uint8_t)(1u << u[r].nr);
				add_range(&u[r], s, fu[r].p[j], fu[r].len[j]);
			}
		}
		for (size_t r = 0; r < c->su[g].rn; r++) {
			struct unit *w = &c->u[c->su[g].rbase + r];
			w->seg = (uint16_t)g;
			w->kind = VP_ALOG_ROWS;
			w->item = (uint32_t)r;
			w->rowr = 0;
			w->r[0] = (struct vp_warm_range){ (c->su[g].rpage0 + r) * c->ps, c->ps };
			w->nr = 1;
			w->bytes = c->ps;
		}
		for (int j = 0; j < VP_FAMILY_UNIT_RANGES; j++)
			if (info.ext[j] && info.extlen[j])
				e[ne++] = (struct vp_warm_range){ off_of(s, info.ext[j]), info.extlen[j] };
	}
	free(fu);
	*ext = e;
	*next = ne;
	return 0;
}

/* -------------------------------------------------------------- the log */

/* Makes room for one more element past n in *p (doubling from first);
 * sets c->oom and returns -1 when it cannot. */
static int room(struct ctx *c, void **p, size_t *cap, size_t n, size_t elem, size_t first)
{
	size_t nc;
	void *q;
	if (n < *cap)
		return 0;
	nc = *cap ? 2 * *cap : first;
	if (!(q = realloc(*p, nc * elem))) {
		c->oom = 1;
		return -1;
	}
	*p = q;
	*cap = nc;
	return 0;
}

static void push_unit(struct ctx *c, size_t id, double w_rec)
{
	struct unit *u = &c->u[id];
	u->freq += 1;
	u->rec += w_rec;
	c->accesses++;
	if (room(c, (void **)&c->qunits, &c->capqu, c->nqu, sizeof *c->qunits, 4096))
		return;
	c->qunits[c->nqu++] = (uint32_t)id;
}

/* The recency weight of an access at time t (timed: the log has times). */
static double weight_at(const struct vp_warm_opts *o, uint64_t t, int timed)
{
	if (!timed)
		return 1;
	if (o->at_minute >= 0) {
		/* the time-of-day profile: an hour either side, whatever the day */
		int m = (int)((t / 60) % 1440), d = abs(m - o->at_minute);
		if (d > 720)
			d = 1440 - d;
		return d <= 60 ? 1 : 0;
	}
	return t >= o->now ? 1 : pow(0.5, (double)(o->now - t) / o->half_life);
}

static double rec_weight(const struct ctx *c)
{
	return weight_at(c->o, c->t, c->timed);
}

static void on_record(void *ctx, uint32_t query, uint16_t seg, uint16_t kind,
		      const uint32_t *items, uint32_t n)
{
	struct ctx *c = ctx;
	struct seg_units *su;
	double w;

	if (c->oom)
		return;
	if (kind == VP_ALOG_TIME) {
		if (n >= 2) {
			c->t = items[0] | (uint64_t)items[1] << 32;
			c->timed = 1;
		}
		return;
	}
	if (kind == VP_ALOG_QUERY || kind > VP_ALOG_ROWS)
		return;
	if (seg >= c->s->nseg)
		return; /* a log of another index: what matches is used */
	/* a new query starts a new co-access group */
	if (!c->in_q || query != c->cur_q) {
		/* room for this start and the end marker after the last */
		if (room(c, (void **)&c->qstart, &c->capq, c->nq + 1, sizeof *c->qstart, 1024))
			return;
		c->qstart[c->nq++] = c->nqu;
		c->cur_q = query;
		c->in_q = 1;
	}
	su = &c->su[seg];
	w = rec_weight(c);
	if (kind == VP_ALOG_ROWS) {
		/* each page of the rows read, once a query */
		if (!su->rn)
			return;
		su->has_rows = 1;
		for (uint32_t i = 0; i < n; i++) {
			uint64_t a, b, r;
			if (items[i] >= su->nrows)
				continue;
			r = su->rowpos ? su->rowpos[items[i]] : items[i];
			a = (su->roff + r * su->rowbytes) / c->ps - su->rpage0;
			b = (su->roff + (r + 1) * su->rowbytes - 1) / c->ps - su->rpage0;
			for (uint64_t q = a; q <= b && q < su->rn; q++)
				if (c->u[su->rbase + q].stamp != c->nq) {
					c->u[su->rbase + q].stamp = c->nq;
					push_unit(c, su->rbase + q, w);
				}
		}
	} else if (kind == VP_ALOG_FLAT && su->kind == VP_ALOG_FLAT) {
		push_unit(c, su->base, w);
	} else if (kind == VP_ALOG_IVF && su->kind == VP_ALOG_IVF) {
		for (uint32_t i = 0; i < n; i++)
			if (items[i] < su->n)
				push_unit(c, su->base + items[i], w);
	} else if (kind == VP_ALOG_HNSW_REGIONS && su->kind == VP_ALOG_HNSW_REGIONS && n) {
		/* regions of another size (a log of an older build): mapped through
		 * the node range they cover */
		uint32_t ls = items[0], prev = UINT32_MAX;
		for (uint32_t i = 1; i < n; i++) {
			uint64_t lo = (uint64_t)items[i] << ls, hi = ((uint64_t)items[i] + 1) << ls;
			for (uint64_t r = lo >> su->shift; r < su->n && (r << su->shift) < hi; r++)
				if (r != prev) {
					push_unit(c, su->base + r, w);
					prev = (uint32_t)r;
				}
		}
	} else if (kind == VP_ALOG_HNSW && su->kind == VP_ALOG_HNSW_REGIONS) {
		/* older logs: the entry node only */
		for (uint32_t i = 0; i < n; i++) {
			uint64_t r = (uint64_t)items[i] >> su->shift;
			if (r < su->n)
				push_unit(c, su->base + r, w);
		}
	}
}

/* ------------------------------------------------------------- the plan */

static int by_score(const void *a, const void *b, void *ctx)
{
	const struct unit *u = ctx;
	const struct unit *x = &u[*(const uint32_t *)a], *y = &u[*(const uint32_t *)b];
	if (x->co != y->co)  /* used as the sort key, see rank() */
		return x->co < y->co ? 1 : -1;
	return *(const uint32_t *)a < *(const uint32_t *)b ? -1 : 1;
}

/* Orders the units with a score > 0 by key (stored in co, temporarily). */
static uint32_t *rank_new(struct ctx *c, const double *key, size_t *n)
{
	uint32_t *ord = malloc((c->nu ? c->nu : 1) * sizeof *ord);
	double *save = malloc((c->nu ? c->nu : 1) * sizeof *save);
	size_t m = 0;
	if (!ord || !save) {
		free(ord);
		free(save);
		return NULL;
	}
	for (size_t i = 0; i < c->nu; i++) {
		save[i] = c->u[i].co;
		c->u[i].co = key[i];
		if (key[i] > 0)
			ord[m++] = (uint32_t)i;
	}
	qsort_r(ord, m, sizeof *ord, by_score, c->u);
	for (size_t i = 0; i < c->nu; i++)
		c->u[i].co = save[i];
	free(save);
	*n = m;
	return ord;
}

/* rank_new in place of *ord; -1 when out of memory. */
static int rank(struct ctx *c, const double *key, uint32_t **ord, size_t *n)
{
	uint32_t *o = rank_new(c, key, n);
	free(*ord);
	*ord = o;
	return o ? 0 : -1;
}

static int cmp_range(const void *a, const void *b)
{
	const struct vp_warm_range *x = a, *y = b;
	return x->off < y->off ? -1 : x->off > y->off;
}

/* The plan is a bitmap of the file's pages: a unit costs the pages it
 * adds, so the budget is honoured exactly however units share pages. */
struct pages {
	uint64_t *bits;
	uint64_t n, ps;
	uint64_t gp;   /* grain, pages: a unit brings in whole grains */
};

/* The pages [*a, *b] of range r, widened to whole grains. */
static void grain_span(const struct pages *pg, const struct vp_warm_range *r, uint64_t *a, uint64_t *b)
{
	*a = r->off / pg->ps / pg->gp * pg->gp;
	*b = ((r->off + r->len - 1) / pg->ps / pg->gp + 1) * pg->gp - 1;
}

static uint64_t pages_cost(const struct pages *pg, const struct vp_warm_range *r, int nr)
{
	uint64_t cost = 0;
	for (int i = 0; i < nr; i++) {
		uint64_t a, b;
		if (!r[i].len)
			continue;
		grain_span(pg, &r[i], &a, &b);
		for (uint64_t q = a; q <= b && q < pg->n; q++)
			cost += !((pg->bits[q / 64] >> (q % 64)) & 1);
	}
	return cost * pg->ps;
}

static void pages_set(struct pages *pg, const struct vp_warm_range *r, int nr)
{
	for (int i = 0; i < nr; i++) {
		uint64_t a, b;
		if (!r[i].len)
			continue;
		grain_span(pg, &r[i], &a, &b);
		for (uint64_t q = a; q <= b && q < pg->n; q++)
			pg->bits[q / 64] |= 1ull << (q % 64);
	}
}

/* Plans units ord[0..n) in order while each fits under limit (a unit
 * costs the pages it adds); mark records which pass chose it.  seen_only:
 * skip units the log never touched. */
static void take(struct ctx *c, struct pages *pg, const uint32_t *ord, size_t n,
		 uint64_t limit, uint64_t *used, int mark, int seen_only)
{
	uint64_t grain = c->o->grain > pg->ps ? c->o->grain / pg->ps : 1;
	for (size_t i = 0; i < n; i++) {
		struct unit *u = &c->u[ord[i]];
		uint64_t cost;
		if (seen_only && u->freq <= 0)
			continue;
		pg->gp = u->kind == VP_ALOG_HNSW_REGIONS ? grain : 1;
		cost = pages_cost(pg, u->r, u->nr);
		if (*used + cost > limit && pg->gp > 1) {
			/* the whole grains do not fit: the region alone may */
			pg->gp = 1;
			cost = pages_cost(pg, u->r, u->nr);
		}
		if (*used + cost > limit)
			continue;
		u->planned = mark;
		pages_set(pg, u->r, u->nr);
		*used += cost;
	}
}

int vp_warm_plan(const struct vp_searcher *s, const char *logpath,
		 const struct vp_warm_opts *o, struct vp_warm_plan *p, struct vp_error *err)
{
	struct ctx c;
	struct vp_warm_range *ext = NULL, *always = NULL;
	size_t next = 0, nal = 0;
	struct pages pg = { NULL, 0, (uint64_t)sysconf(_SC_PAGESIZE), 1 };
	uint32_t *ord = NULL;
	double *key = NULL;
	uint64_t used = 0, budget = o->budget;
	long nrec;
	int rc = 0;

	memset(p, 0, sizeof *p);
	memset(&c, 0, sizeof c);
	c.s = s;
	c.o = o;
	c.ps = pg.ps;
	if (make_units(&c, &ext, &next)) {
		rc = vp_seterr(err, VP_E_NOMEM, "out of memory");
		goto out;
	}
	nrec = vp_alog_read(logpath, on_record, &c, err);
	if (nrec < 0) {
		rc = (int)nrec;
		goto out;
	}
	if (c.oom) {
		rc = vp_seterr(err, VP_E_NOMEM, "out of memory reading %s", logpath);
		goto out;
	}
	if (c.nq)
		c.qstart[c.nq] = c.nqu;
	/* a segment whose log names the rows read: its units are their
	 * compact parts (codes, links, screens), the rows planned by page */
	for (size_t g = 0; g < s->nseg; g++)
		for (size_t i = 0; c.su[g].has_rows && i < c.su[g].n; i++) {
			struct unit *u = &c.u[c.su[g].base + i];
			for (int j = 0; j < u->nr; j++)
				if (u->rowr >> j & 1) {
					u->bytes -= u->r[j].len;
					u->r[j].len = 0;
				}
		}
	p->records = (uint64_t)nrec;
	p->timed = c.timed;
	p->accesses = c.accesses;
	p->queries = c.nq;
	p->units_total = c.nu;

	/* the always-needed part: the file minus the units' extents */
	always = malloc((next + 1) * sizeof *always);
	key = calloc(c.nu ? c.nu : 1, sizeof *key);
	pg.n = (s->ix.size + pg.ps - 1) / pg.ps;
	pg.bits = calloc(pg.n / 64 + 1, sizeof *pg.bits);
	if (!always || !pg.bits || !key) {
		rc = vp_seterr(err, VP_E_NOMEM, "out of memory");
		goto out;
	}
	/* rows no unit holds (a refine's) are always needed unless the log
	 * names them: then they are planned by page */
	for (size_t g = 0; g < s->nseg; g++) {
		const struct seg_units *su = &c.su[g];
		if (!su->rn || su->carried || su->has_rows)
			continue;
		for (size_t i = 0; i < next; i++)
			if (ext[i].off == su->roff && ext[i].len == su->nrows * su->rowbytes)
				ext[i--] = ext[--next];
	}
	qsort(ext, next, sizeof *ext, cmp_range);
	{
		uint64_t pos = 0;
		for (size_t i = 0; i < next; i++) {
			if (ext[i].off > pos)
				always[nal++] = (struct vp_warm_range){ pos, ext[i].off - pos };
			if (ext[i].off + ext[i].len > pos)
				pos = ext[i].off + ext[i].len;
		}
		if (pos < s->ix.size)
			always[nal++] = (struct vp_warm_range){ pos, s->ix.size - pos };
	}
	/* always first, cut at the budget */
	for (size_t i = 0; i < nal; i++) {
		uint64_t cost = pages_cost(&pg, &always[i], 1);
		struct vp_warm_range r = always[i];
		if (used + cost > budget) {
			/* what fits of it, whole pages */
			uint64_t room = (budget - used) / pg.ps * pg.ps;
			if (!room)
				break;
			r.len = room < r.len ? room : r.len;
			cost = pages_cost(&pg, &r, 1);
			while (used + cost > budget && r.len > pg.ps) {
				r.len -= pg.ps;
				cost = pages_cost(&pg, &r, 1);
			}
			if (used + cost > budget)
				break;
		}
		pages_set(&pg, &r, 1);
		used += cost;
	}
	p->always_bytes = used;

	/* heat under the strategy */
	{
		double fmax = 0, rmax = 0;
		for (size_t i = 0; i < c.nu; i++) {
			fmax = c.u[i].freq > fmax ? c.u[i].freq : fmax;
			rmax = c.u[i].rec > rmax ? c.u[i].rec : rmax;
			p->units_seen += c.u[i].freq > 0;
			if (c.u[i].kind < VP_WARM_KINDS) {
				p->kind_total[c.u[i].kind]++;
				p->kind_seen[c.u[i].kind] += c.u[i].freq > 0;
			}
		}
		for (size_t i = 0; i < c.nu; i++) {
			const struct unit *u = &c.u[i];
			switch (o->strategy) {
			case VP_WARM_FREQUENCY: case VP_WARM_CORRELATION: key[i] = u->freq; break;
			case VP_WARM_RECENCY: key[i] = u->rec; break;
			default:
				key[i] = (fmax > 0 ? u->freq / fmax : 0) + (rmax > 0 ? u->rec / rmax : 0);
			}
		}
	}
	{
		size_t n = 0;
		uint64_t seeds_until = budget;
		int co = o->strategy == VP_WARM_CORRELATION || o->strategy == VP_WARM_ALL;
		if (rank(&c, key, &ord, &n)) {
			rc = vp_seterr(err, VP_E_NOMEM, "out of memory");
			goto out;
		}
		/* correlation: the hottest units seed half of what is left */
		if (co && budget != UINT64_MAX)
			seeds_until = used + (budget - used) / 2;
		take(&c, &pg, ord, n, seeds_until, &used, 1, 0);
		if (co) {
			/* co-access: every query touching a planned unit adds one to
			 * each other unit it touched */
			for (size_t q = 0; q < c.nq; q++) {
				int hot = 0;
				for (size_t j = c.qstart[q]; j < c.qstart[q + 1] && !hot; j++)
					hot = c.u[c.qunits[j]].planned;
				if (hot)
					for (size_t j = c.qstart[q]; j < c.qstart[q + 1]; j++)
						if (!c.u[c.qunits[j]].planned)
							c.u[c.qunits[j]].co += 1;
			}
			/* then by co-access, heat breaking ties (a fraction below 1) */
			{
				double kmax = 0;
				for (size_t i = 0; i < c.nu; i++)
					kmax = key[i] > kmax ? key[i] : kmax;
				for (size_t i = 0; i < c.nu; i++)
					key[i] = c.u[i].planned ? 0 :
						 c.u[i].co + (kmax > 0 ? 0.5 * key[i] / kmax : 0);
			}
			if (rank(&c, key, &ord, &n)) {
				rc = vp_seterr(err, VP_E_NOMEM, "out of memory");
				goto out;
			}
			take(&c, &pg, ord, n, budget, &used, 2, 1);
		}
	}
	/* units the grains brought in whole count as covered */
	pg.gp = 1;
	for (size_t i = 0; i < c.nu; i++)
		if (!c.u[i].planned && c.u[i].freq > 0 && !pages_cost(&pg, c.u[i].r, c.u[i].nr))
			c.u[i].planned = 3;
	/* the planned units, in the order chosen; their ranges */
	p->units = malloc((c.nu ? c.nu : 1) * sizeof *p->units);
	if (!p->units) {
		rc = vp_seterr(err, VP_E_NOMEM, "out of memory");
		goto out;
	}
	for (int pass = 1; pass <= 2; pass++) {
		/* chosen order: seeds by heat, then co-accessed by their score */
		size_t n = 0;
		for (size_t i = 0; i < c.nu; i++)
			key[i] = c.u[i].planned == pass ? (pass == 1 ? c.u[i].freq + c.u[i].rec : c.u[i].co) + 1 : 0;
		if (rank(&c, key, &ord, &n)) {
			rc = vp_seterr(err, VP_E_NOMEM, "out of memory");
			goto out;
		}
		for (size_t i = 0; i < n; i++) {
			struct unit *u = &c.u[ord[i]];
			p->units[p->nunits++] = (struct vp_warm_unit){ u->seg, u->kind, u->item, u->bytes,
								       pass == 1 ? u->freq : u->co };
		}
	}
	/* coverage in the log: accesses, and queries served whole */
	for (size_t q = 0; q < c.nq; q++) {
		int all = 1;
		for (size_t j = c.qstart[q]; j < c.qstart[q + 1]; j++) {
			if (c.u[c.qunits[j]].planned)
				p->accesses_covered++;
			else
				all = 0;
		}
		p->queries_covered += (uint64_t)all;
	}
	/* 2 MB blocks whole, as the budget allows, where the plan holds half
	 * of one or more, or any of one next to such a block (a run's end): the
	 * warm-up reads a whole block as one 2 MB folio (with the run, one
	 * read) and the rest page by page (vp-warmup), which costs more than
	 * the block on some disks.  Measured cold reads (Linux 6.18, virtio
	 * disks): 2 MB as a block 0.6-0.7 ms, 1 MB page by page 4.2-4.8 ms
	 * (AMD EPYC); 1.9 and 1.4 GB/s (Intel Xeon, where a run's end costs
	 * up to 0.7 ms more this way).  A plan laid out by its log is whole
	 * blocks but for the ends of its runs. */
	{
		/* blocks of bp pages, the file's last one perhaps a part one
		 * (the warm-up reads it to the end of the file as a block) */
		const uint64_t bp = VP_BLOCK / pg.ps, nb = bp > 1 ? (pg.n + bp - 1) / bp : 0;
		uint32_t *have = calloc(nb ? nb : 1, sizeof *have);
#define BLOCK_PAGES(b) ((b) + 1 < nb ? bp : pg.n - (b) * bp)
		if (!have) {
			rc = vp_seterr(err, VP_E_NOMEM, "out of memory");
			goto out;
		}
		for (uint64_t b = 0; b < nb; b++)
			for (uint64_t q = b * bp; q < b * bp + BLOCK_PAGES(b); q++)
				have[b] += (uint32_t)((pg.bits[q / 64] >> (q % 64)) & 1);
		/* (a block next to one that is or becomes whole: the counts
		 * before any is taken, so that it does not run on) */
#define WHOLE(b) (2 * (uint64_t)have[b] >= BLOCK_PAGES(b))
		for (uint64_t b = 0; b < nb; b++) {
			uint64_t all = BLOCK_PAGES(b);
			int end = (b > 0 && WHOLE(b - 1)) || (b + 1 < nb && WHOLE(b + 1));
			if (!have[b] || have[b] == all || (2 * have[b] < all && !end) ||
			    used + (all - have[b]) * pg.ps > budget)
				continue;
			for (uint64_t q = b * bp; q < b * bp + all; q++)
				pg.bits[q / 64] |= 1ull << (q % 64);
			used += (all - have[b]) * pg.ps;
		}
#undef WHOLE
#undef BLOCK_PAGES
		free(have);
	}
	/* the ranges: runs of planned pages, in file order */
	{
		size_t n = 0, cap = 16;
		p->ranges = malloc(cap * sizeof *p->ranges);
		for (uint64_t q = 0; p->ranges && q < pg.n; q++) {
			struct vp_warm_range *nr;
			if (!((pg.bits[q / 64] >> (q % 64)) & 1))
				continue;
			if (n && p->ranges[n - 1].off + p->ranges[n - 1].len == q * pg.ps) {
				p->ranges[n - 1].len += pg.ps;
				continue;
			}
			if (n == cap) {
				nr = realloc(p->ranges, 2 * cap * sizeof *nr);
				if (!nr) {
					free(p->ranges);
					p->ranges = NULL;
					break;
				}
				p->ranges = nr;
				cap *= 2;
			}
			p->ranges[n++] = (struct vp_warm_range){ q * pg.ps, pg.ps };
		}
		if (!p->ranges) {
			rc = vp_seterr(err, VP_E_NOMEM, "out of memory");
			goto out;
		}
		/* the last page ends at the file's end */
		if (n && p->ranges[n - 1].off + p->ranges[n - 1].len > s->ix.size)
			p->ranges[n - 1].len = s->ix.size - p->ranges[n - 1].off;
		p->nranges = n;
		for (size_t i = 0; i < n; i++)
			p->bytes += p->ranges[i].len;
	}
out:
	if (rc)
		vp_warm_plan_free(p);
	free(ext);
	free(always);
	free(pg.bits);
	free(ord);
	free(key);
	free(c.u);
	free(c.su);
	free(c.qunits);
	free(c.qstart);
	return rc;
}

void vp_warm_plan_free(struct vp_warm_plan *p)
{
	free(p->ranges);
	free(p->units);
	memset(p, 0, sizeof *p);
}

/* ------------------------------------------------------- saved plans */

#define PLAN_MAGIC "vp-warmup plan 1"

int vp_warm_plan_save(const struct vp_warm_plan *p, const struct vp_index *ix,
		      const char *path, struct vp_error *err)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int rc;

	if (!f)
		return vp_seterr(err, VP_E_NOMEM, "out of memory");
	fprintf(f, PLAN_MAGIC "\nindex %llu %016llx\nranges %zu bytes %llu always %llu\n",
		(unsigned long long)ix->size, (unsigned long long)vp_index_checksum(ix), p->nranges,
		(unsigned long long)p->bytes, (unsigned long long)p->always_bytes);
	for (size_t i = 0; i < p->nranges; i++)
		fprintf(f, "%llu %llu\n", (unsigned long long)p->ranges[i].off,
			(unsigned long long)p->ranges[i].len);
	if (fclose(f) || !buf) {
		free(buf);
		return vp_seterr(err, VP_E_NOMEM, "out of memory");
	}
	rc = vp_write_atomic(path, buf, len, err);
	free(buf);
	return rc;
}

int vp_warm_plan_load(const struct vp_index *ix, const char *path, struct vp_warm_plan *p,
		      struct vp_error *err)
{
	FILE *f = fopen(path, "r");
	char line[256], tail;
	unsigned long long size, hash, bytes, always, off, len, sum = 0, end = 0;
	size_t n = 0, ln = 3;
	int rc = 0;

	memset(p, 0, sizeof p[0]);
	if (!f)
		return vp_seterr_errno(err, VP_E_IO, errno, "%s", path);
	if (!fgets(line, sizeof line, f) || strcmp(line, PLAN_MAGIC "\n")) {
		rc = vp_seterr(err, VP_E_FORMAT, "%s: not a vp-warmup plan (vp-warmup "
			       "--save-plan writes them)", path);
		goto out;
	}
	if (!fgets(line, sizeof line, f) ||
	    sscanf(line, "index %llu %llx %c", &size, &hash, &tail) != 2 ||
	    !fgets(line, sizeof line, f) ||
	    sscanf(line, "ranges %zu bytes %llu always %llu %c", &n, &bytes, &always, &tail) != 3) {
		rc = vp_seterr(err, VP_E_FORMAT, "%s: a damaged plan (line 2 or 3)", path);
		goto out;
	}
	if (size != ix->size || hash != vp_index_checksum(ix)) {
		rc = vp_seterr(err, VP_E_FORMAT, "%s: a plan for another build of %s (rebuilt "
			       "since it was saved?): plan again", path, ix->path);
		goto out;
	}
	/* (always counts whole pages: the last may pass the file's end) */
	if (n > ix->size / 4096 + 1 || bytes > ix->size || always > ix->size + 4096) {
		rc = vp_seterr(err, VP_E_FORMAT, "%s: a damaged plan (line 3)", path);
		goto out;
	}
	if (!(p->ranges = malloc((n ? n : 1) * sizeof *p->ranges))) {
		rc = vp_seterr(err, VP_E_NOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		ln++;
		if (!fgets(line, sizeof line, f) ||
		    sscanf(line, "%llu %llu %c", &off, &len, &tail) != 2 || !len ||
		    off < end || off > ix->size || len > ix->size - off) {
			rc = vp_seterr(err, VP_E_FORMAT, "%s: line %zu: %s", path, ln,
				       feof(f) ? "the plan ends early" :
				       "not a range after the last and inside the index");
			goto out;
		}
		p->ranges[i] = (struct vp_warm_range){ off, len };
		end = off + len;
		sum += len;
	}
	if (fgets(line, sizeof line, f) || sum != bytes) {
		rc = vp_seterr(err, VP_E_FORMAT, "%s: a damaged plan (%s)", path,
			       sum != bytes ? "its ranges do not add up to its bytes" :
			       "lines past its ranges");
		goto out;
	}
	p->nranges = n;
	p->bytes = bytes;
	p->always_bytes = always;
out:
	if (!rc && ferror(f))
		rc = vp_seterr_errno(err, VP_E_IO, errno, "%s: read", path);
	fclose(f);
	if (rc)
		vp_warm_plan_free(p);
	return rc;
}

/* ------------------------------------------------------- heat */

struct hctx {
	const struct vp_searcher *s;
	const struct vp_warm_opts *o;
	/* per segment: frequency and recency, rows then lists (cnt + nlist) */
	double **freq, **rec;
	uint64_t t;
	int timed, oom;
	uint64_t accesses;
};

/* Units of heat of segment g: its rows, then IVF lists. */
static uint64_t heat_rows(const struct vp_searcher *s, size_t g)
{
	return s->seg[g].meta.count;
}

static uint64_t heat_units(const struct vp_searcher *s, size_t g)
{
	return heat_rows(s, g) + (s->fam->trace_kind == VP_ALOG_IVF ? s->seg[g].ivf.nlist : 0);
}

static void heat_add(struct hctx *c, uint16_t seg, uint64_t i, double w)
{
	if (!c->freq[seg]) {
		uint64_t n = heat_units(c->s, seg);
		c->freq[seg] = calloc(n ? n : 1, sizeof **c->freq);
		c->rec[seg] = calloc(n ? n : 1, sizeof **c->rec);
		if (!c->freq[seg] || !c->rec[seg]) {
			c->oom = 1;
			return;
		}
	}
	c->freq[seg][i] += 1;
	c->rec[seg][i] += w;
	c->accesses++;
}

static void on_heat(void *ctx, uint32_t query, uint16_t seg, uint16_t kind,
		    const uint32_t *items, uint32_t n)
{
	struct hctx *c = ctx;
	uint64_t cnt;
	double w;

	(void)query;
	if (kind == VP_ALOG_TIME) {
		if (n >= 2) {
			c->t = items[0] | (uint64_t)items[1] << 32;
			c->timed = 1;
		}
		return;
	}
	if (seg >= c->s->nseg || c->oom)
		return;
	cnt = heat_rows(c->s, seg);
	w = weight_at(c->o, c->t, c->timed);
	if (kind == VP_ALOG_ROWS) {
		for (uint32_t i = 0; i < n && !c->oom; i++)
			if (items[i] < cnt)
				heat_add(c, seg, items[i], w);
	} else if (kind == VP_ALOG_IVF && c->s->fam->trace_kind == VP_ALOG_IVF) {
		for (uint32_t i = 0; i < n && !c->oom; i++)
			if (items[i] < c->s->seg[seg].ivf.nlist)
				heat_add(c, seg, cnt + items[i], w);
	}
}

int vp_warm_heat(const struct vp_searcher *s, const char *logpath,
		 const struct vp_warm_opts *o, struct vp_heat **heat, uint64_t *accesses,
		 struct vp_error *err)
{
	struct hctx c;
	struct vp_heat *h;
	long nrec;
	int rc = 0;

	memset(&c, 0, sizeof c);
	c.s = s;
	c.o = o;
	*heat = NULL;
	*accesses = 0;
	c.freq = calloc(s->nseg ? s->nseg : 1, sizeof *c.freq);
	c.rec = calloc(s->nseg ? s->nseg : 1, sizeof *c.rec);
	h = calloc(s->nseg ? s->nseg : 1, sizeof *h);
	if (!c.freq || !c.rec || !h) {
		free(c.freq), free(c.rec), free(h);
		return vp_seterr(err, VP_E_NOMEM, "out of memory");
	}
	nrec = vp_alog_read(logpath, on_heat, &c, err);
	if (nrec < 0)
		rc = (int)nrec;
	else if (c.oom)
		rc = vp_seterr(err, VP_E_NOMEM, "out of memory reading %s", logpath);
	/* the strategy's key, as the plan ranks units (co-access aside:
	 * correlation ranks by frequency), rows and lists each scaled apart */
	for (size_t g = 0; !rc && g < s->nseg; g++) {
		uint64_t nr = heat_rows(s, g), nu = heat_units(s, g);
		double *f = c.freq[g], *r = c.rec[g];
		if (!f)
			continue;
		for (int part = 0; part < 2; part++) {
			uint64_t lo = part ? nr : 0, hi = part ? nu : nr;
			double fmax = 0, rmax = 0;
			for (uint64_t i = lo; i < hi; i++) {
				fmax = f[i] > fmax ? f[i] : fmax;
				rmax = r[i] > rmax ? r[i] : rmax;
			}
			for (uint64_t i = lo; i < hi; i++)
				switch (o->strategy) {
				case VP_WARM_FREQUENCY: case VP_WARM_CORRELATION: break;
				case VP_WARM_RECENCY: f[i] = r[i]; break;
				default:
					f[i] = (fmax > 0 ? f[i] / fmax : 0) +
					       (rmax > 0 ? r[i] / rmax : 0);
				}
		}
		h[g].rows = f;
		h[g].lists = nu > nr ? f + nr : NULL;
		c.freq[g] = NULL;
	}
	for (size_t g = 0; g < s->nseg; g++) {
		free(c.rec[g]);
		free(c.freq[g]);
	}
	free(c.rec);
	free(c.freq);
	if (rc) {
		vp_warm_heat_free(s, h);
		return rc;
	}
	*heat = h;
	*accesses = c.accesses;
	return 0;
}

void vp_warm_heat_free(const struct vp_searcher *s, struct vp_heat *heat)
{
	for (size_t g = 0; heat && g < s->nseg; g++)
		free(heat[g].rows);  /* lists are in the same block */
	free(heat);
}

/* ------------------------------------------------ result-cache warm-up */

struct qent {
	uint64_t h;
	uint32_t count, first;  /* first: its row in vecs */
};

struct qctx {
	uint32_t dim;
	struct qent *tab;       /* open addressing on h */
	size_t cap, n;
	float *vecs;
	size_t logged;
	int oom;
};

static int qgrow(struct qctx *c)
{
	size_t cap = c->cap ? 2 * c->cap : 1024;
	struct qent *t = calloc(cap, sizeof *t);
	float *v = realloc(c->vecs, cap / 2 * c->dim * sizeof *v);
	if (!t || !v) {
		free(t);
		if (v)
			c->vecs = v;
		return -1;
	}
	c->vecs = v;
	for (size_t i = 0; i < c->cap; i++)
		if (c->tab[i].count) {
			size_t j = c->tab[i].h & (cap - 1);
			while (t[j].count)
				j = (j + 1) & (cap - 1);
			t[j] = c->tab[i];
		}
	free(c->tab);
	c->tab = t;
	c->cap = cap;
	return 0;
}

static void on_query(void *ctx, uint32_t query, uint16_t seg, uint16_t kind,
		     const uint32_t *items, uint32_t n)
{
	struct qctx *c = ctx;
	uint64_t h;
	size_t j;
	(void)query;
	(void)seg;
	if (kind != VP_ALOG_QUERY || n != c->dim || c->oom)
		return;
	c->logged++;
	if ((c->n + 1) * 2 > c->cap && qgrow(c)) {
		c->oom = 1;
		return;
	}
	h = XXH3_64bits(items, (size_t)n * 4);
	for (j = h & (c->cap - 1); c->tab[j].count; j = (j + 1) & (c->cap - 1))
		if (c->tab[j].h == h &&
		    !memcmp(c->vecs + (size_t)c->tab[j].first * c->dim, items, (size_t)n * 4)) {
			c->tab[j].count++;
			return;
		}
	c->tab[j] = (struct qent){ h, 1, (uint32_t)c->n };
	memcpy(c->vecs + c->n * c->dim, items, (size_t)n * 4);
	c->n++;
}

static int by_count(const void *a, const void *b)
{
	const struct qent *x = a, *y = b;
	if (x->count != y->count)
		return x->count < y->count ? 1 : -1;
	return x->first < y->first ? -1 : x->first > y->first;
}

int vp_warm_top_queries(const char *logpath, uint32_t dim, size_t top, float **out,
			size_t *n, size_t *distinct, size_t *logged, struct vp_error *err)
{
	struct qctx c = { dim, NULL, 0, 0, NULL, 0, 0 };
	long rc;
	size_t m = 0;
	*out = NULL;
	*n = *distinct = *logged = 0;
	if (!dim)
		return vp_seterr(err, VP_E_ARG, "dimension 0");
	rc = vp_alog_read(logpath, on_query, &c, err);
	if (rc < 0 || c.oom) {
		free(c.tab);
		free(c.vecs);
		return rc < 0 ? (int)rc : vp_seterr(err, VP_E_NOMEM, "out of memory reading %s", logpath);
	}
	for (size_t i = 0; i < c.cap; i++)
		if (c.tab[i].count)
			c.tab[m++] = c.tab[i];
	if (m)
		qsort(c.tab, m, sizeof *c.tab, by_count);
	if (top > m)
		top = m;
	*out = malloc((top ? top : 1) * dim * sizeof **out);
	if (!*out) {
		free(c.tab);
		free(c.vecs);
		return vp_seterr(err, VP_E_NOMEM, "out of memory");
	}
	for (size_t i = 0; i < top; i++)
		memcpy(*out + i * dim, c.vecs + (size_t)c.tab[i].first * dim, dim * sizeof **out);
	*n = top;
	*distinct = m;
	*logged = c.logged;
	free(c.tab);
	free(c.vecs);
	return 0;
}
