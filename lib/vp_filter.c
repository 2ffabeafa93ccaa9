/* vp_filter: a recursive-descent parser into a node array, an evaluator and
 * a selectivity estimate. */
#include "vp_filter.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

struct p {
	const char *s, *start;
	struct vp_filter *f;
	struct vp_error *err;
	int depth;
};

static int fail(struct p *p, const char *what)
{
	return vp_seterr(p->err, VP_E_ARG, "filter: column %d: %s",
			 (int)(p->s - p->start) + 1, what);
}

static void ws(struct p *p)
{
	while (isspace((unsigned char)*p->s))
		p->s++;
}

static int eat(struct p *p, const char *tok)
{
	size_t n = strlen(tok);
	ws(p);
	if (!strncmp(p->s, tok, n)) {
		p->s += n;
		return 1;
	}
	return 0;
}

static int node(struct p *p, int kind)
{
	struct vp_filter *f = p->f;
	/* evaluation and hashing recurse along the tree: bound its size */
	if (f->n >= VP_FILTER_MAX_NODES)
		return -2;
	if (f->n == f->cap) {
		size_t c = f->cap ? 2 * f->cap : 8;
		struct vp_fnode *nn = realloc(f->nodes, c * sizeof *nn);
		if (!nn)
			return -1;
		f->nodes = nn;
		f->cap = c;
	}
	memset(&f->nodes[f->n], 0, sizeof f->nodes[0]);
	f->nodes[f->n].kind = kind;
	f->nodes[f->n].a = f->nodes[f->n].b = -1;
	return (int)f->n++;
}

static int integer(struct p *p, int64_t *v)
{
	char *end;
	long long x;
	ws(p);
	if (!(isdigit((unsigned char)*p->s) || (*p->s == '-' && isdigit((unsigned char)p->s[1]))))
		return fail(p, "expected an integer");
	errno = 0;
	x = strtoll(p->s, &end, 10);
	if (errno == ERANGE)
		return fail(p, "integer out of range");
	p->s = end;
	*v = x;
	return 0;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* Sorts a set and drops repeats: the evaluator searches it, and the
 * selectivity estimate and the hash see "in {3,3}" as "in {3}". */
static void dedup(struct vp_fnode *fn)
{
	size_t j = 0;
	qsort(fn->set, fn->nset, sizeof *fn->set, cmp_i64);
	for (size_t i = 0; i < fn->nset; i++)
		if (!j || fn->set[i] != fn->set[j - 1])
			fn->set[j++] = fn->set[i];
	fn->nset = j;
}

static int node_fail(struct p *p, int rc)
{
	if (rc == -2)
		return vp_seterr(p->err, VP_E_ARG, "filter: column %d: too many terms "
				 "(at most %d nodes)", (int)(p->s - p->start) + 1,
				 VP_FILTER_MAX_NODES);
	return VP_E_NOMEM;
}

static int expr(struct p *p, int *out);

static int unary(struct p *p, int *out)
{
	int rc, n, field;
	ws(p);
	if (++p->depth > 64)
		return fail(p, "nested too deeply");
	if (eat(p, "!") ) {
		if (*p->s == '=')
			return fail(p, "expected an expression after '!'");
		int a;
		n = node(p, VP_F_NOT);
		if (n < 0)
			return node_fail(p, n);
		/* the child's parse can grow (move) the node array: take its
		 * index in a local and store it afterwards, never through a
		 * pointer into the array held across the call */
		if ((rc = unary(p, &a)))
			return rc;
		p->f->nodes[n].a = a;
		*out = n;
		p->depth--;
		return 0;
	}
	if (eat(p, "(")) {
		if ((rc = expr(p, out)))
			return rc;
		if (!eat(p, ")"))
			return fail(p, "expected ')'");
		p->depth--;
		return 0;
	}
	ws(p);
	if (!strncmp(p->s, "label", 5) && !isalnum((unsigned char)p->s[5]) && p->s[5] != '_')
		field = VP_F_LABEL, p->s += 5;
	else if (!strncmp(p->s, "id", 2) && !isalnum((unsigned char)p->s[2]) && p->s[2] != '_')
		field = VP_F_ID, p->s += 2;
	else
		return fail(p, "expected 'label', 'id', '!' or '('");
	ws(p);
	if (!strncmp(p->s, "in", 2) && !isalnum((unsigned char)p->s[2])) {
		p->s += 2;
		n = node(p, VP_F_IN);
		if (n < 0)
			return node_fail(p, n);
		p->f->nodes[n].field = field;
		if (!eat(p, "{"))
			return fail(p, "expected '{' after 'in'");
		for (size_t cap = 0;;) {
			int64_t v, *ns;
			struct vp_fnode *fn = &p->f->nodes[n];
			if ((rc = integer(p, &v)))
				return rc;
			if (fn->nset == cap) {
				cap = cap ? 2 * cap : 8;
				ns = realloc(fn->set, cap * sizeof *ns);
				if (!ns)
					return VP_E_NOMEM;
				fn->set = ns;
			}
			fn->set[fn->nset++] = v;
			if (eat(p, "}"))
				break;
			if (!eat(p, ","))
				return fail(p, "expected ',' or '}'");
		}
		dedup(&p->f->nodes[n]);
	} else {
		static const char *const ops[] = { "==", "!=", "<=", ">=", "<", ">" };
		static const int opv[] = { VP_F_EQ, VP_F_NE, VP_F_LE, VP_F_GE, VP_F_LT, VP_F_GT };
		int op = -1;
		for (int i = 0; i < 6 && op < 0; i++)
			if (eat(p, ops[i]))
				op = opv[i];
		if (op < 0)
			return fail(p, "expected ==, !=, <, <=, >, >= or 'in'");
		int64_t v;
		n = node(p, VP_F_CMP);
		if (n < 0)
			return node_fail(p, n);
		if ((rc = integer(p, &v)))
			return rc;
		p->f->nodes[n].field = field;
		p->f->nodes[n].op = op;
		p->f->nodes[n].value = v;
	}
	*out = n;
	p->depth--;
	return 0;
}

static int binary(struct p *p, int *out, const char *tok, int kind,
		  int (*sub)(struct p *, int *))
{
	int rc = sub(p, out);
	while (!rc && eat(p, tok)) {
		int n = node(p, kind), b;
		if (n < 0)
			return node_fail(p, n);
		p->f->nodes[n].a = *out;
		/* as in unary(): sub() may move the array */
		if ((rc = sub(p, &b)))
			return rc;
		p->f->nodes[n].b = b;
		*out = n;
	}
	return rc;
}

static int and_(struct p *p, int *out)
{
	return binary(p, out, "&&", VP_F_AND, unary);
}

static int expr(struct p *p, int *out)
{
	return binary(p, out, "||", VP_F_OR, and_);
}

int vp_filter_parse(struct vp_filter *f, const char *text, struct vp_error *err)
{
	struct p p = { text, text, f, err, 0 };
	int rc;
	memset(f, 0, sizeof *f);
	f->root = -1;
	rc = expr(&p, &f->root);
	if (!rc) {
		ws(&p);
		if (*p.s)
			rc = fail(&p, "unexpected text after the expression");
	}
	if (rc == VP_E_NOMEM)
		vp_seterr(err, rc, "out of memory");
	if (rc)
		vp_filter_release(f);
	return rc;
}

static int eval(const struct vp_filter *f, int i, int32_t label, int64_t id)
{
	const struct vp_fnode *n = &f->nodes[i];
	int64_t v;
	switch (n->kind) {
	case VP_F_OR:
		return eval(f, n->a, label, id) || eval(f, n->b, label, id);
	case VP_F_AND:
		return eval(f, n->a, label, id) && eval(f, n->b, label, id);
	case VP_F_NOT:
		return !eval(f, n->a, label, id);
	case VP_F_IN: {
		size_t lo = 0, hi = n->nset;
		v = n->field == VP_F_LABEL ? label : id;
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			if (n->set[mid] < v)
				lo = mid + 1;
			else
				hi = mid;
		}
		return lo < n->nset && n->set[lo] == v;
	}
	default:
		v = n->field == VP_F_LABEL ? label : id;
		switch (n->op) {
		case VP_F_EQ: return v == n->value;
		case VP_F_NE: return v != n->value;
		case VP_F_LT: return v < n->value;
		case VP_F_LE: return v <= n->value;
		case VP_F_GT: return v > n->value;
		default: return v >= n->value;
		}
	}
}

int vp_filter_match(const struct vp_filter *f, int32_t label, int64_t id)
{
	return f->root < 0 || eval(f, f->root, label, id);
}

/* The fraction of labels (or ids) v for which "v op value" holds. */
static double frac_cmp(int field, int op, int64_t value, const uint64_t *hist,
		       size_t nh, int32_t lo, uint64_t n)
{
	double tot = 0, hit = 0;
	if (field == VP_F_ID) {
		double x = (double)value, m = (double)n, r;
		switch (op) {
		case VP_F_EQ: return value >= 0 && (uint64_t)value < n ? 1.0 / m : 0;
		case VP_F_NE: return value >= 0 && (uint64_t)value < n ? 1 - 1.0 / m : 1;
		case VP_F_LT: r = x / m; break;
		case VP_F_LE: r = (x + 1) / m; break;
		case VP_F_GT: r = (m - x - 1) / m; break;
		default: r = (m - x) / m; break;
		}
		return r < 0 ? 0 : r > 1 ? 1 : r;
	}
	for (size_t i = 0; i < nh; i++) {
		int64_t v = lo + (int64_t)i;
		int ok;
		switch (op) {
		case VP_F_EQ: ok = v == value; break;
		case VP_F_NE: ok = v != value; break;
		case VP_F_LT: ok = v < value; break;
		case VP_F_LE: ok = v <= value; break;
		case VP_F_GT: ok = v > value; break;
		default: ok = v >= value; break;
		}
		tot += (double)hist[i];
		if (ok)
			hit += (double)hist[i];
	}
	return tot > 0 ? hit / tot : 0;
}

static double sel(const struct vp_filter *f, int i, const uint64_t *hist, size_t nh,
		  int32_t lo, uint64_t n)
{
	const struct vp_fnode *nd = &f->nodes[i];
	double a, b, s = 0;
	switch (nd->kind) {
	case VP_F_OR:
		a = sel(f, nd->a, hist, nh, lo, n);
		b = sel(f, nd->b, hist, nh, lo, n);
		return a + b - a * b;
	case VP_F_AND:
		return sel(f, nd->a, hist, nh, lo, n) * sel(f, nd->b, hist, nh, lo, n);
	case VP_F_NOT:
		return 1 - sel(f, nd->a, hist, nh, lo, n);
	case VP_F_IN:
		for (size_t j = 0; j < nd->nset; j++)
			s += frac_cmp(nd->field, VP_F_EQ, nd->set[j], hist, nh, lo, n);
		return s > 1 ? 1 : s;
	default:
		return frac_cmp(nd->field, nd->op, nd->value, hist, nh, lo, n);
	}
}

/* Breakpoints of one field: every value where a comparison with one of the
 * expression's constants can change its answer (c and c + 1), inside
 * [lo, hi), with lo and hi themselves; sorted, unique.  Between two
 * breakpoints every term on that field answers the same. */
static size_t breakpoints(const struct vp_filter *f, int field, int64_t lo, int64_t hi,
			  int64_t **out)
{
	size_t m = 2, j = 0;
	int64_t *b;
	for (size_t i = 0; i < f->n; i++)
		if ((f->nodes[i].kind == VP_F_CMP || f->nodes[i].kind == VP_F_IN) &&
		    f->nodes[i].field == field)
			m += 2 * (f->nodes[i].kind == VP_F_IN ? f->nodes[i].nset : 1);
	if (!(b = malloc(m * sizeof *b)))
		return 0;
	b[j++] = lo;
	b[j++] = hi;
	for (size_t i = 0; i < f->n; i++) {
		const struct vp_fnode *nd = &f->nodes[i];
		size_t cnt = nd->kind == VP_F_IN ? nd->nset : 1;
		if ((nd->kind != VP_F_CMP && nd->kind != VP_F_IN) || nd->field != field)
			continue;
		for (size_t t = 0; t < cnt; t++) {
			int64_t c = nd->kind == VP_F_IN ? nd->set[t] : nd->value;
			if (c > lo && c < hi)
				b[j++] = c;
			if (c < hi - 1 && c + 1 > lo)
				b[j++] = c + 1;
		}
	}
	qsort(b, j, sizeof *b, cmp_i64);
	m = 0;
	for (size_t i = 0; i < j; i++)
		if (!m || b[i] != b[m - 1])
			b[m++] = b[i];
	*out = b;
	return m;
}

/* The fraction of rows that pass, exact when labels and ids are independent
 * (the label column's distribution is the histogram whatever the id): label
 * space and id space are cut at the breakpoints, and the expression is
 * evaluated once per pair of pieces, weighted by the rows in the label piece
 * and the ids in the id piece.  Correlated clauses ("label == 3 || label ==
 * 3", "id > 10 && id < 5") come out right, which multiplying per-clause
 * estimates does not.  Returns -1 when the pieces are too many (huge "in"
 * lists on both fields) or memory is short. */
static double sel_exact(const struct vp_filter *f, const uint64_t *hist, size_t nh,
			int32_t lo, uint64_t n)
{
	int64_t *lb = NULL, *ib = NULL;
	size_t nl, ni;
	double tot = 0, hit = 0, *lw = NULL;
	if (!(nl = breakpoints(f, VP_F_LABEL, lo, (int64_t)lo + (int64_t)nh, &lb)))
		return -1;
	if (!(ni = breakpoints(f, VP_F_ID, 0, (int64_t)n, &ib)) ||
	    (double)(nl - 1) * (double)(ni - 1) * (double)f->n > 4e6 ||
	    !(lw = malloc(nl * sizeof *lw))) {
		free(lb);
		free(ib);
		return -1;
	}
	for (size_t a = 0; a + 1 < nl; a++) {
		lw[a] = 0;
		for (int64_t v = lb[a]; v < lb[a + 1]; v++)
			lw[a] += (double)hist[v - lo];
		tot += lw[a];
	}
	for (size_t a = 0; a + 1 < nl; a++) {
		if (lw[a] == 0)
			continue;
		for (size_t c = 0; c + 1 < ni; c++)
			if (eval(f, f->root, (int32_t)lb[a], ib[c]))
				hit += lw[a] * (double)(ib[c + 1] - ib[c]);
	}
	free(lb);
	free(ib);
	free(lw);
	return tot > 0 ? hit / (tot * (double)n) : 0;
}

double vp_filter_selectivity(const struct vp_filter *f, const uint64_t *hist,
			     size_t nh, int32_t lo, uint64_t n)
{
	double s;
	if (f->root < 0)
		return 1.0;
	if (n == 0 || nh == 0)
		return 0;
	s = sel_exact(f, hist, nh, lo, n);
	return s >= 0 ? s : sel(f, f->root, hist, nh, lo, n);
}

void vp_filter_release(struct vp_filter *f)
{
	for (size_t i = 0; i < f->n; i++)
		free(f->nodes[i].set);
	free(f->nodes);
	f->nodes = NULL;
	f->n = f->cap = 0;
	f->root = -1;
}

static uint64_t node_hash(const struct vp_filter *f, int i);

/* The operands of a run of one operator: "a && (b && c)" and "(a && b) &&
 * c" both give a, b, c. */
static size_t operands(const struct vp_filter *f, int i, int kind, uint64_t *h, size_t m)
{
	const struct vp_fnode *nd = &f->nodes[i];
	if (nd->kind == kind)
		return operands(f, nd->b, kind, h, operands(f, nd->a, kind, h, m));
	h[m++] = node_hash(f, i);
	return m;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

/* A node's hash.  && and || hash the set of their operands (associative,
 * commutative and idempotent), so spellings of one filter that differ in
 * spaces, parentheses, the order of operands or of an 'in' list, or a
 * repeated operand, share a cache key. */
static uint64_t node_hash(const struct vp_filter *f, int i)
{
	struct {
		int64_t kind, field, op, value, nset;
		uint64_t a;
	} r;
	const struct vp_fnode *nd;
	if (i < 0 || (size_t)i >= f->n)
		return 0;
	nd = &f->nodes[i];
	memset(&r, 0, sizeof r);
	r.kind = nd->kind;
	if (nd->kind == VP_F_OR || nd->kind == VP_F_AND) {
		uint64_t *h = malloc(f->n * sizeof *h);
		size_t m, j = 0;
		if (!h) /* still a correct key, only spelling-sensitive */
			return XXH64(&r, sizeof r, node_hash(f, nd->a) * 31 + node_hash(f, nd->b));
		m = operands(f, i, nd->kind, h, 0);
		qsort(h, m, sizeof *h, cmp_u64);
		for (size_t t = 0; t < m; t++)
			if (!j || h[t] != h[j - 1])
				h[j++] = h[t];
		r.a = j == 1 ? h[0] : XXH64(h, j * sizeof *h, 2);
		free(h);
		return j == 1 ? r.a : XXH64(&r, sizeof r, 3); /* "a || a" is "a" */
	}
	if (nd->kind == VP_F_NOT) {
		r.a = node_hash(f, nd->a);
		return XXH64(&r, sizeof r, 4);
	}
	r.field = nd->field;
	r.op = nd->kind == VP_F_CMP ? nd->op : 0;
	r.value = nd->kind == VP_F_CMP ? nd->value : 0;
	r.nset = nd->kind == VP_F_IN ? (int64_t)nd->nset : 0;
	return XXH64(&r, sizeof r, r.nset ? XXH64(nd->set, nd->nset * sizeof *nd->set, 0) : 1);
}

uint64_t vp_filter_hash(const struct vp_filter *f)
{
	return node_hash(f, f->root);
}

int vp_filter_uses_labels(const struct vp_filter *f)
{
	for (size_t i = 0; i < f->n; i++)
		if ((f->nodes[i].kind == VP_F_CMP || f->nodes[i].kind == VP_F_IN) &&
		    f->nodes[i].field == VP_F_LABEL)
			return 1;
	return 0;
}
