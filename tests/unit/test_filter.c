/* test_filter: the filter grammar, evaluation and selectivity. */
#include <math.h>
#include <string.h>

#include "check.h"
#include "vp.h"
#include "vp_filter.h"

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
			{ "id >= 100 && id < 600", 0.9 * 0.6 } /* independence */, { "label == 3 && id < 500", 0.05 },
			{ "label == 3 || label == 4", 0.19 }, { "!(label < 5)", 0.5 },
			{ "label == 42", 0.0 },
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
	return check_done("test_filter");
}
