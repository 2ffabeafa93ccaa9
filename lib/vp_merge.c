/* vp_merge: result streams read a query at a time (vp_merge.h). */
#include "vp_merge.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vp_json.h"

int vp_rstream_open(struct vp_rstream *rs, FILE *f, const char *name,
		    struct vp_error *err)
{
	int c;
	memset(rs, 0, sizeof *rs);
	rs->f = f;
	rs->name = name;
	while ((c = getc(f)) == ' ' || c == '\n' || c == '\r' || c == '\t')
		rs->line += c == '\n';
	if (c == EOF) {
		if (ferror(f))
			return vp_seterr_errno(err, VP_E_IO, errno, "%s: read error", name);
		rs->ended = 1;
		return 0;
	}
	ungetc(c, f);
	if (c == '{')
		rs->fmt = VP_RFMT_JSON;
	else if (c >= '0' && c <= '9')
		rs->fmt = VP_RFMT_TSV;
	else
		return vp_seterr(err, VP_E_FORMAT, "%s: not tsv or json results (ivecs "
				 "results carry no distances to merge by: search with "
				 "-f tsv or -f json)", name);
	return 0;
}

static int bad(struct vp_rstream *rs, struct vp_error *err, const char *what)
{
	return vp_seterr(err, VP_E_FORMAT, "%s:%zu: %s", rs->name, rs->line, what);
}

/* Reads a line into rs->buf; 1, 0 at the end, or an error. */
static int read_line(struct vp_rstream *rs, struct vp_error *err)
{
	ssize_t got;
	do {
		errno = 0;
		got = getline(&rs->buf, &rs->cap, rs->f);
		if (got < 0) {
			if (ferror(rs->f))
				return vp_seterr_errno(err, VP_E_IO, errno, "%s: read error",
						       rs->name);
			return 0;
		}
		rs->line++;
	} while (got == 1 && rs->buf[0] == '\n');
	if (rs->buf[got - 1] != '\n')
		return bad(rs, err, "last line cut short (the search was killed?)");
	rs->buf[got - 1] = 0;
	return 1;
}

static int parse_u64(const char **p, uint64_t *v)
{
	char *end;
	unsigned long long x;
	if (**p < '0' || **p > '9')
		return -1;
	errno = 0;
	x = strtoull(*p, &end, 10);
	if (errno)
		return -1;
	*v = x;
	*p = end;
	return 0;
}

/* The next tsv row into rs->q, rank, id, dist. */
static int tsv_row(struct vp_rstream *rs, struct vp_error *err)
{
	const char *p;
	char *end;
	uint64_t id;
	int rc = read_line(rs, err);
	if (rc <= 0)
		return rc;
	p = rs->buf;
	if (parse_u64(&p, &rs->q) || *p++ != '\t' || parse_u64(&p, &rs->rank) ||
	    *p++ != '\t' || parse_u64(&p, &id) || id > INT64_MAX || *p++ != '\t')
		return bad(rs, err, "not a row 'query<TAB>rank<TAB>id<TAB>distance'");
	rs->id = (int64_t)id;
	errno = 0;
	rs->dist = strtof(p, &end);
	if (end == p || *end || errno == EINVAL || isnan(rs->dist))
		return bad(rs, err, "bad distance");
	return 1;
}

static int json_line(struct vp_rstream *rs, struct vp_error *err)
{
	struct vp_json *j;
	const struct vp_json *q, *ids, *ds;
	int rc = read_line(rs, err);
	if (rc <= 0)
		return rc;
	if ((rc = vp_json_parse(rs->buf, strlen(rs->buf), rs->name, &j, err)))
		return rc;
	q = vp_json_get(j, "query");
	ids = vp_json_get(j, "ids");
	ds = vp_json_get(j, "distances");
	/* numbers are doubles: one past 2^63 does not convert */
	if (!q || q->type != VP_JSON_NUMBER || q->num < 0 || q->num >= 0x1p63 ||
	    q->num != floor(q->num) ||
	    !ids || ids->type != VP_JSON_ARRAY || !ds || ds->type != VP_JSON_ARRAY ||
	    ids->n != ds->n) {
		vp_json_free(j);
		return bad(rs, err, "not a line {\"query\":N,\"ids\":[...],\"distances\":[...]}");
	}
	for (size_t i = 0; i < ids->n; i++)
		if (ids->items[i].type != VP_JSON_NUMBER || ids->items[i].num < 0 ||
		    ids->items[i].num >= 0x1p63 || ids->items[i].num != floor(ids->items[i].num) ||
		    ds->items[i].type != VP_JSON_NUMBER || isnan(ds->items[i].num)) {
			vp_json_free(j);
			return bad(rs, err, "ids must be integers from 0 and distances numbers");
		}
	rs->q = (uint64_t)q->num;
	rs->json = j;
	return 1;
}

int vp_rstream_peek(struct vp_rstream *rs, uint64_t *q, struct vp_error *err)
{
	int rc;
	if (rs->ended)
		return 0;
	if (!rs->have) {
		rc = rs->fmt == VP_RFMT_JSON ? json_line(rs, err) : tsv_row(rs, err);
		if (rc < 0)
			return rc;
		if (rc == 0) {
			rs->ended = 1;
			return 0;
		}
		rs->have = 1;
	}
	*q = rs->q;
	return 1;
}

int vp_rstream_next(struct vp_rstream *rs, uint64_t *q, float *dist, int64_t *ids,
		    size_t cap, size_t *n, struct vp_error *err)
{
	uint64_t cur;
	size_t m = 0;
	int rc = vp_rstream_peek(rs, &cur, err);
	if (rc <= 0)
		return rc;
	if (rs->groups && cur <= rs->lastq)
		return bad(rs, err, "queries out of order (each stream as vp-search "
			   "wrote it)");
	*q = rs->lastq = cur;
	if (rs->fmt == VP_RFMT_JSON) {
		struct vp_json *j = rs->json;
		const struct vp_json *ji = vp_json_get(j, "ids"), *jd = vp_json_get(j, "distances");
		for (size_t i = 0; i < ji->n; i++) {
			float d = (float)jd->items[i].num;
			if (i && d < (float)jd->items[i - 1].num) {
				vp_json_free(j);
				rs->json = NULL;
				return bad(rs, err, "distances not ascending");
			}
			if (m < cap) {
				dist[m] = d;
				ids[m] = (int64_t)ji->items[i].num;
			}
			m++;
		}
		vp_json_free(j);
		rs->json = NULL;
		rs->have = 0;
	} else {
		float last = -INFINITY;
		while ((rc = vp_rstream_peek(rs, &cur, err)) > 0 && cur == *q) {
			if (rs->rank != m)
				return bad(rs, err, "ranks of a query must count from 0");
			if (rs->dist < last)
				return bad(rs, err, "distances not ascending");
			last = rs->dist;
			if (m < cap) {
				dist[m] = rs->dist;
				ids[m] = rs->id;
			}
			m++;
			rs->have = 0;
		}
		if (rc < 0)
			return rc;
	}
	rs->groups++;
	if (m > rs->maxk)
		rs->maxk = m;
	*n = m;
	return 1;
}

void vp_rstream_release(struct vp_rstream *rs)
{
	vp_json_free(rs->json);
	free(rs->buf);
	rs->json = NULL;
	rs->buf = NULL;
}
