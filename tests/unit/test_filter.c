/* test_filter: the filter grammar, evaluation and selectivity. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "vp.h"
#include "vp_filter.h"

/* --- the property test: random trees, an evaluator of this file's own --- */

struct t {
	int op;           /* '&', '|', '!', 'c' (comparison), 'i' (in) */
	int field;        /* 0 label, 1 id */
	int cmp;          /* index into cmps[] */
	int64_t v[6];
	int nv;
	struct t *a, *b;
};
static const char *const cmps[] = { "==", "!=", "<", "<=", ">", ">=" };
static uint64_t rs = 12345;

static uint32_t rnd(uint32_t m)
{
	rs = rs * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(rs >> 33) % m;
}

static int64_t value(int field)
{
	static const int64_t lim[] = { INT32_MIN, INT32_MAX, (int64_t)INT32_MIN - 1,
				       (int64_t)INT32_MAX + 1, -(1ll << 40), 1ll << 40 };
	if (rnd(10) == 0)
		return lim[rnd(6)];
	return field ? (int64_t)rnd(520) - 10 : (int64_t)rnd(20) - 4;
}

static struct t *gen(int terms)
{
	struct t *t = calloc(1, sizeof *t);
	if (terms == 1) {
		t->field = (int)rnd(2);
		if (rnd(5) == 0) {
			t->op = 'i';
			t->nv = 1 + (int)rnd(6);
			for (int i = 0; i < t->nv; i++)
				t->v[i] = value(t->field);
		} else {
			t->op = 'c';
			t->cmp = (int)rnd(6);
			t->v[0] = value(t->field);
		}
	} else {
		int l = 1 + (int)rnd((uint32_t)terms - 1);
		t->op = rnd(2) ? '&' : '|';
		t->a = gen(l);
		t->b = gen(terms - l);
	}
	if (rnd(7) == 0) {
		struct t *n = calloc(1, sizeof *n);
		n->op = '!';
		n->a = t;
		t = n;
	}
	return t;
}

static int ev(const struct t *t, int64_t label, int64_t id)
{
	int64_t x = t->field ? id : label;
	switch (t->op) {
	case '&': return ev(t->a, label, id) && ev(t->b, label, id);
	case '|': return ev(t->a, label, id) || ev(t->b, label, id);
	case '!': return !ev(t->a, label, id);
	case 'i':
		for (int i = 0; i < t->nv; i++)
			if (x == t->v[i])
				return 1;
		return 0;
	}
	switch (t->cmp) {
	case 0: return x == t->v[0];
	case 1: return x != t->v[0];
	case 2: return x < t->v[0];
	case 3: return x <= t->v[0];
	case 4: return x > t->v[0];
	default: return x >= t->v[0];
	}
}

/* Writes t: style 0 plain and with the parentheses precedence needs; style
 * 1 with other spaces, redundant parentheses, && and || operands swapped,
 * 'in' lists reversed with a repeat: the same filter spelled otherwise. */
static void put(const struct t *t, int style, char *buf, size_t *o)
{
	const char *sp = style ? "  " : "";
#define OUT(...) (*o += (size_t)sprintf(buf + *o, __VA_ARGS__))
	if (style && rnd(6) == 0)
		OUT("( ");
	else
		style = style ? 2 : 0;
	switch (t->op) {
	case '&':
	case '|': {
		const struct t *x = style ? t->b : t->a, *y = style ? t->a : t->b;
		int px = t->op == '&' && x->op == '|', py = t->op == '&' && y->op == '|';
		OUT("%s", px ? "(" : "");
		put(x, style ? 1 : 0, buf, o);
		OUT("%s%s%s%s%s", px ? ")" : "", sp, t->op == '&' ? "&&" : "||", sp, py ? "(" : "");
		put(y, style ? 1 : 0, buf, o);
		OUT("%s", py ? ")" : "");
		break;
	}
	case '!': {
		int p = t->a->op == '&' || t->a->op == '|';
		OUT("!%s%s", sp, p ? "(" : "");
		put(t->a, style ? 1 : 0, buf, o);
		OUT("%s", p ? ")" : "");
		break;
	}
	case 'i':
		OUT("%s in%s{", t->field ? "id" : "label", sp);
		for (int i = 0; i < t->nv; i++)
			OUT("%s%lld", i ? "," : "", (long long)t->v[style ? t->nv - 1 - i : i]);
		if (style)
			OUT(",%lld", (long long)t->v[0]);
		OUT("}");
		break;
	default:
		OUT("%s%s%s%s%lld", t->field ? "id" : "label", sp, cmps[t->cmp], sp,
		    (long long)t->v[0]);
	}
	if (style == 1)
		OUT(" )");
#undef OUT
}

static void tfree(struct t *t)
{
	if (t) {
		tfree(t->a);
		tfree(t->b);
		free(t);
	}
}

#define NEXPR 600
#define NLAB 20       /* labels -4..15 */
#define NID 500       /* ids 0..499 */

static void property(void)
{
	static const int64_t extra_l[] = { INT32_MIN, INT32_MAX, -5, 16 };
	static const int64_t extra_i[] = { -1, NID, INT32_MAX, 1ll << 40 };
	static uint64_t sig[NEXPR], key[NEXPR];
	static char a[1 << 16], b[1 << 16];
	uint64_t hist[NLAB];
	struct vp_error err = { 0 };
	int bad_match = 0, bad_hash = 0, bad_sel = 0, collide = 0;
	double maxerr = 0;
	for (int i = 0; i < NLAB; i++)
		hist[i] = 1 + (uint64_t)rnd(50);
	for (int e = 0; e < NEXPR; e++) {
		struct t *t = gen(1 + (int)rnd(32));
		struct vp_filter f, g;
		size_t oa = 0, ob = 0;
		double hit = 0, tot = 0, s;
		put(t, 0, a, &oa);
		put(t, 1, b, &ob);
		if (vp_filter_parse(&f, a, &err) || vp_filter_parse(&g, b, &err)) {
			CHECK(0, "parse '%s' / '%s': %s", a, b, err.msg);
			tfree(t);
			continue;
		}
		/* truth on every label x id, and on values outside both ranges */
		sig[e] = 0;
		for (int64_t l = -4; l < NLAB - 4 + 4; l++)
			for (int64_t id = -1; id <= NID; id++) {
				int64_t L = l < NLAB - 4 ? l : extra_l[l - (NLAB - 4)];
				int w = ev(t, L, id);
				if (w != vp_filter_match(&f, (int32_t)L, id) ||
				    w != vp_filter_match(&g, (int32_t)L, id))
					bad_match++;
				sig[e] = sig[e] * 1000003 + (uint64_t)w;
				if (l < NLAB - 4 && id >= 0 && id < NID) {
					tot += (double)hist[l + 4];
					hit += w ? (double)hist[l + 4] : 0;
				}
			}
		for (int x = 0; x < 4; x++)
			if (ev(t, 0, extra_i[x]) != vp_filter_match(&f, 0, extra_i[x]))
				bad_match++;
		key[e] = vp_filter_hash(&f);
		if (key[e] != vp_filter_hash(&g)) {
			if (!bad_hash++)
				printf("# hash differs: '%s' / '%s'\n", a, b);
		}
		/* labels are independent of ids here, so the estimate is exact */
		s = vp_filter_selectivity(&f, hist, NLAB, -4, NID);
		if (fabs(s - hit / tot) > maxerr)
			maxerr = fabs(s - hit / tot);
		if (fabs(s - hit / tot) > 1e-9 && !bad_sel++)
			printf("# selectivity of '%s': %g, true %g\n", a, s, hit / tot);
		vp_filter_release(&f);
		vp_filter_release(&g);
		tfree(t);
	}
	for (int i = 0; i < NEXPR; i++)
		for (int j = 0; j < i; j++)
			collide += sig[i] != sig[j] && key[i] == key[j];
	CHECK(bad_match == 0, "%d evaluations differ from the reference", bad_match);
	CHECK(bad_hash == 0, "%d expressions hash differently when respelled", bad_hash);
	CHECK(collide == 0, "%d pairs of different filters share a hash", collide);
	CHECK(bad_sel == 0, "%d selectivity estimates are not exact (max error %g)", bad_sel, maxerr);
}

int main(void)
{
	struct vp_filter f;
	struct vp_error err = { 0 };
	static const struct { const char *e; int32_t label; int64_t id; int want; } ok[] = {
		{ "label == 3", 3, 0, 1 }, { "label == 3", 4, 0, 0 },
		{ "label != 3", 4, 0, 1 }, { "label in {1,4,7}", 4, 0, 1 },
		{ "label in {1, 4, 7}", 5, 0, 0 }, { "id >= 1000 && id < 5000", 0, 1000, 1 },
		{ "id >= 1000 && id < 5000", 0, 5000, 0 }, { "!(label == 2)", 2, 0, 0 },
		{ "label == 1 || label == 2 && id > 10", 1, 0, 1 },
		{ "label == 1 || label == 2 && id > 10", 2, 5, 0 },
		{ "(label == 1 || label == 2) && id > 10", 1, 5, 0 },
		{ "!!(label<=-1)", -1, 0, 1 }, { "  label>2  ", 3, 0, 1 },
	};
	for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
		int rc = vp_filter_parse(&f, ok[i].e, &err);
		CHECK(rc == 0, "parse '%s': %s", ok[i].e, err.msg);
		if (!rc) {
			CHECK(vp_filter_match(&f, ok[i].label, ok[i].id) == ok[i].want,
			      "'%s' on label %d id %lld", ok[i].e, ok[i].label, (long long)ok[i].id);
			vp_filter_release(&f);
		}
	}
	static const struct { const char *e, *want; } bad[] = {
		{ "", "column 1: expected 'label'" },
		{ "label = 3", "column 7: expected ==" },
		{ "label == ", "column 10: expected an integer" },
		{ "label in {1,2", "column 14: expected ',' or '}'" },
		{ "label in 1", "column 10: expected '{'" },
		{ "(label == 1", "column 12: expected ')'" },
		{ "label == 1 &&", "column 14: expected 'label'" },
		{ "colour == 1", "column 1: expected 'label'" },
		{ "label == 1 label", "column 12: unexpected text" },
		{ "labels == 1", "column 1:" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		int rc = vp_filter_parse(&f, bad[i].e, &err);
		CHECK(rc == VP_E_ARG && strstr(err.msg, bad[i].want),
		      "'%s': rc %d '%s' lacks '%s'", bad[i].e, rc, err.msg, bad[i].want);
	}
	{
		char deep[300];
		memset(deep, '(', 200);
		strcpy(deep + 200, "label == 1");
		CHECK(vp_filter_parse(&f, deep, &err) == VP_E_ARG, "depth limit");
	}
	/* selectivity from a histogram of labels 0..9, 100 each, ids 0..999 */
	{
		uint64_t hist[10];
		for (int i = 0; i < 10; i++)
			hist[i] = 100;
		static const struct { const char *e; double want; } sc[] = {
			{ "label == 3", 0.1 }, { "label != 3", 0.9 }, { "label in {1,4,7}", 0.3 },
			/* terms on one field are not independent: exact */
			{ "id >= 100 && id < 600", 0.5 }, { "label == 3 && id < 500", 0.05 },
			{ "label == 3 || label == 4", 0.2 }, { "!(label < 5)", 0.5 },
			{ "label == 42", 0.0 }, { "label == 3 && label == 4", 0.0 },
			{ "label in {3, 3, 3}", 0.1 }, { "id > 10 && id < 5", 0.0 },
			{ "label == 3 || id < 100", 0.1 + 0.1 - 0.01 },
			{ "(label < 2 && id < 500) || (label >= 8 && id >= 500)", 0.2 },
			{ "id == -1 || id == 1000 || id == 999", 0.001 },
		};
		for (size_t i = 0; i < sizeof sc / sizeof *sc; i++) {
			double s;
			vp_filter_parse(&f, sc[i].e, &err);
			s = vp_filter_selectivity(&f, hist, 10, 0, 1000);
			CHECK(fabs(s - sc[i].want) < 1e-9, "selectivity of '%s': %g, want %g",
			      sc[i].e, s, sc[i].want);
			vp_filter_release(&f);
		}
	}
	/* the cache key's hash: by meaning of the parse, not by spelling */
	{
		static const struct { const char *a, *b; int same; } hc[] = {
			{ "label==3", " label == 3 ", 1 },
			{ "label in {4,1,7}", "label in { 1, 4, 7 }", 1 },
			{ "(id < 5) && label != 2", "id<5&&label!=2", 1 },
			{ "label == 3", "label == 4", 0 },
			{ "label < 3", "label <= 3", 0 },
			{ "id < 3", "label < 3", 0 },
			{ "label == 1 && id < 9", "label == 1 || id < 9", 0 },
			{ "label in {1,2}", "label in {1,3}", 0 },
			{ "!(label == 1)", "label == 1", 0 },
			{ "label == 1 && id < 9", "id < 9 && label == 1", 1 },
			{ "(id < 1) && (id > 5 && label == 2)", "(id < 1 && id > 5) && label == 2", 1 },
			{ "label == 1 || label == 1", "label == 1", 1 },
			{ "label in {2,1,1}", "label in {1,2}", 1 },
			{ "label == 1 && id < 9 || id > 90", "label == 1 && (id < 9 || id > 90)", 0 },
			{ "!(label == 1 && id < 9)", "!label == 1 && id < 9", 0 },
		};
		for (size_t i = 0; i < sizeof hc / sizeof *hc; i++) {
			struct vp_filter g;
			uint64_t ha, hb;
			CHECK(vp_filter_parse(&f, hc[i].a, &err) == 0 &&
			      vp_filter_parse(&g, hc[i].b, &err) == 0, "parse %s", hc[i].a);
			ha = vp_filter_hash(&f);
			hb = vp_filter_hash(&g);
			CHECK((ha == hb) == hc[i].same, "hash of '%s' vs '%s'", hc[i].a, hc[i].b);
			vp_filter_release(&f);
			vp_filter_release(&g);
		}
	}
	property();
	return check_done("test_filter");
}
