/* test_warm: the warm-up planner on synthetic access logs whose answer is
 * known: the hottest unit, a unit hot only in the morning, a pair always
 * accessed together; the budget honoured to the page; coverage counted. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "vp.h"
#include "vp_alog.h"
#include "vp_edit.h"
#include "vp_index.h"
#include "vp_ivf.h"
#include "vp_params.h"

#define SEGS 8
#define ROWS 64
#define D 1024 /* a row is a page: every segment costs the same */

static char dir[] = "/tmp/vpwarm.XXXXXX";
static char ipath[300], lpath[300];

static void rec(struct vp_alog *a, uint32_t q, uint16_t seg)
{
	struct vp_error err = { 0 };
	CHECK(vp_alog_add(a, q, seg, VP_ALOG_FLAT, NULL, 0, &err) == 0, "log: %s", err.msg);
}

static void stamp(struct vp_alog *a, uint64_t t)
{
	struct vp_error err = { 0 };
	uint32_t w[2] = { (uint32_t)t, (uint32_t)(t >> 32) };
	CHECK(vp_alog_add(a, 0, 0, VP_ALOG_TIME, w, 2, &err) == 0, "time: %s", err.msg);
}

/* The planned segments, in order, as digits ("36"). */
static const char *plan(const struct vp_searcher *s, int strategy, uint64_t budget, int at,
			uint64_t now, struct vp_warm_plan *p)
{
	static char out[64];
	struct vp_warm_opts o;
	struct vp_error err = { 0 };
	size_t n = 0;
	vp_warm_opts_init(&o);
	o.strategy = strategy;
	o.budget = budget;
	o.at_minute = at;
	o.now = now;
	CHECK(vp_warm_plan(s, lpath, &o, p, &err) == 0, "plan: %s", err.msg);
	for (size_t i = 0; i < p->nunits && n + 1 < sizeof out; i++)
		out[n++] = (char)('0' + p->units[i].seg);
	out[n] = 0;
	return out;
}

/* Is the byte at off in one of the plan's ranges? */
static int planned(const struct vp_warm_plan *p, uint64_t off)
{
	for (size_t i = 0; i < p->nranges; i++)
		if (off >= p->ranges[i].off && off < p->ranges[i].off + p->ranges[i].len)
			return 1;
	return 0;
}

/* An IVF_FLAT index at ipath of n rows of x (filled here: dr dimensions
 * in four clusters) in 4 lists, with its screen; seed as vp-build -s. */
static void screen_index(float *x, size_t n, size_t dr, uint64_t seed)
{
	struct vp_build_opts o;
	struct vp_index_writer w;
	struct vp_error err = { 0 };
	for (size_t i = 0; i < n * dr; i++)
		x[i] = (float)((i * 2654435761u) % 1000) / 1000.0f + (float)(i / dr % 4);
	vp_build_opts_init(&o);
	o.type = VP_TYPE_IVF_FLAT;
	o.seed = seed;
	CHECK(vp_params_parse(&o.params, "nlist=4", o.type, VP_STAGE_BUILD, &err) == 0 &&
	      vp_params_parse(&o.params, "quant=sq8", o.type, VP_STAGE_BUILD, &err) == 0,
	      "params: %s", err.msg);
	CHECK(vp_index_writer_open(&w, ipath, &err) == 0 &&
	      vp_build_index(&w, x, n, dr, &o, &err) == 0, "build: %s", err.msg);
}

/* A new log at lpath: 40 queries probe list l; 30 of them read rows 1000
 * and 1001, the other 10 row 2000. */
static void rows_log(uint32_t l)
{
	static const uint32_t hot[2] = { 1000, 1001 }, warm = 2000;
	struct vp_error err = { 0 };
	struct vp_alog a;
	unlink(lpath);
	CHECK(vp_alog_open(&a, lpath, &err) == 0, "log open: %s", err.msg);
	for (uint32_t q = 0; q < 40; q++)
		CHECK(vp_alog_add(&a, q, 0, VP_ALOG_IVF, &l, 1, &err) == 0 &&
		      vp_alog_add(&a, q, 0, VP_ALOG_ROWS, q < 30 ? hot : &warm, q < 30 ? 2 : 1,
				  &err) == 0, "log: %s", err.msg);
	CHECK(vp_alog_close(&a, &err) == 0, "log close: %s", err.msg);
}

/* An IVF_FLAT index with a screen: a log that names the rows a search read
 * (VP_ALOG_ROWS) plans the lists without their rows, and the rows by page,
 * hottest first; a log without them plans whole lists. */
static void rows_plan(void)
{
	enum { N = 4000, DR = 64, NL = 4 };
	struct vp_searcher s;
	struct vp_error err = { 0 };
	struct vp_alog a;
	struct vp_warm_plan p;
	struct vp_warm_opts wo;
	const struct vp_ivf *v;
	float *x = malloc(sizeof(float) * N * DR);
	uint64_t rows_off, list_rows, list_bytes;
	/* rows hot (1000 and 1001, read by 30 queries), warm (2000, by 10),
	 * never read (1500, 3000): row numbers in the file's order, whichever
	 * list holds them (the planner reads pages, not lists, for rows):
	 * rows_log */

	screen_index(x, N, DR, 42);
	CHECK(vp_searcher_open(&s, ipath, VP_OPEN_LAYOUT, &err) == 0, "open: %s", err.msg);
	v = &s.seg[0].ivf;
	CHECK(v->scodes != NULL, "the screen is there");
	rows_off = (uint64_t)((const unsigned char *)v->data - s.ix.map);
	list_rows = (v->offsets[1] - v->offsets[0]) * DR * 4;

	/* 40 queries probe list 0; 30 read rows 1000 and 1001, 10 row 2000 */
	rows_log(0);
	vp_warm_opts_init(&wo);
	wo.strategy = VP_WARM_FREQUENCY;
	CHECK(vp_warm_plan(&s, lpath, &wo, &p, &err) == 0, "plan: %s", err.msg);
	/* list 0 first (40), then the hot rows' pages (30), then the warm */
	CHECK(p.nunits >= 3 && p.units[0].kind == VP_ALOG_IVF && p.units[0].item == 0 &&
	      p.units[1].kind == VP_ALOG_ROWS && p.units[p.nunits - 1].kind == VP_ALOG_ROWS,
	      "order: %u %u", p.nunits ? p.units[0].kind : 99, p.nunits > 1 ? p.units[1].kind : 99);
	list_bytes = p.units[0].bytes;
	/* the list without its rows: ids, norms, codes, their norms, errors */
	CHECK(list_bytes == (v->offsets[1] - v->offsets[0]) * (4 + 4 + DR + 4 + 4),
	      "list 0 without its rows: %llu bytes", (unsigned long long)list_bytes);
	/* rows of 256 bytes: 1000 and 1001 share a page */
	CHECK(p.kind_seen[VP_ALOG_ROWS] == 2 && p.kind_total[VP_ALOG_IVF] == NL,
	      "kinds: %zu pages of rows seen, %zu lists", p.kind_seen[VP_ALOG_ROWS],
	      p.kind_total[VP_ALOG_IVF]);
	CHECK(planned(&p, rows_off + 1000 * DR * 4) && planned(&p, rows_off + 1001 * DR * 4 + 255) &&
	      planned(&p, rows_off + 2000 * DR * 4), "the rows read are planned");
	CHECK(!planned(&p, rows_off + 1500 * DR * 4) && !planned(&p, rows_off + 3000 * DR * 4),
	      "rows never read are not");
	CHECK(p.queries_covered == 40 && p.accesses_covered == p.accesses,
	      "covered %llu", (unsigned long long)p.queries_covered);
	vp_warm_plan_free(&p);
	/* a page short of all that: the hot page, not the warm one */
	{
		struct vp_warm_plan all;
		vp_warm_opts_init(&wo);
		wo.strategy = VP_WARM_FREQUENCY;
		CHECK(vp_warm_plan(&s, lpath, &wo, &all, &err) == 0, "plan: %s", err.msg);
		wo.budget = (all.bytes + 4095) / 4096 * 4096 - 4096; /* pages: the last is cut at the end */
		vp_warm_plan_free(&all);
	}
	CHECK(vp_warm_plan(&s, lpath, &wo, &p, &err) == 0 && p.bytes <= wo.budget, "plan: %s", err.msg);
	CHECK(planned(&p, rows_off + 1000 * DR * 4) && !planned(&p, rows_off + 2000 * DR * 4),
	      "tight budget: the hot rows, not the warm one (%d %d, %llu bytes of %llu, %zu units)",
	      planned(&p, rows_off + 1000 * DR * 4), planned(&p, rows_off + 2000 * DR * 4),
	      (unsigned long long)p.bytes, (unsigned long long)wo.budget, p.nunits);
	vp_warm_plan_free(&p);

	/* the same lists without row records (an older log): whole lists */
	unlink(lpath);
	CHECK(vp_alog_open(&a, lpath, &err) == 0, "log open: %s", err.msg);
	for (uint32_t q = 0; q < 40; q++) {
		uint32_t l = 0;
		CHECK(vp_alog_add(&a, q, 0, VP_ALOG_IVF, &l, 1, &err) == 0, "log: %s", err.msg);
	}
	CHECK(vp_alog_close(&a, &err) == 0, "log close: %s", err.msg);
	vp_warm_opts_init(&wo);
	CHECK(vp_warm_plan(&s, lpath, &wo, &p, &err) == 0 && p.nunits == 1 &&
	      p.units[0].bytes == list_bytes + list_rows && planned(&p, rows_off + 500 * DR * 4) &&
	      !planned(&p, rows_off + 1500 * DR * 4),
	      "no rows in the log: list 0 whole, rows 0-999 (%zu units)", p.nunits);
	vp_warm_plan_free(&p);
	vp_searcher_close(&s);
	unlink(ipath);
	unlink(lpath);
	free(x);
}

/* The heat a relayout reads from a log (counts, known here), the layout
 * it writes (the probed list first, the rows read apart), and a plan saved,
 * read back, and refused for another build. */
static void heat_relayout_saved(void)
{
	enum { N = 4000, DR = 64 };
	struct vp_index_writer w;
	struct vp_searcher s, t;
	struct vp_error err = { 0 };
	struct vp_warm_opts wo;
	struct vp_warm_plan p, back;
	struct vp_heat *h = NULL;
	uint64_t acc = 0;
	float *x = malloc(sizeof(float) * N * DR);
	char ppath[320];

	screen_index(x, N, DR, 42);
	CHECK(vp_searcher_open(&s, ipath, 0, &err) == 0, "open: %s", err.msg);
	/* 40 queries probe list 2; 30 read rows 1000 and 1001, 10 row 2000 */
	rows_log(2);
	vp_warm_opts_init(&wo);
	wo.strategy = VP_WARM_FREQUENCY;
	CHECK(vp_warm_heat(&s, lpath, &wo, &h, &acc, &err) == 0, "heat: %s", err.msg);
	CHECK(acc == 40 + 70 && h && h[0].rows && h[0].lists, "accesses %llu",
	      (unsigned long long)acc);
	CHECK(h[0].rows[1000] == 30 && h[0].rows[1001] == 30 && h[0].rows[2000] == 10 &&
	      h[0].rows[1500] == 0 && h[0].lists[2] == 40 && h[0].lists[0] == 0,
	      "heat: %g %g %g, lists %g %g", h[0].rows[1000], h[0].rows[2000], h[0].rows[1500],
	      h[0].lists[2], h[0].lists[0]);
	/* the relayout: the same answers; "ivf_hot" says 1 list, 3 rows */
	{
		char rpath[320];
		float qd[10], rd[10];
		int64_t qi[10], ri[10];
		struct vp_param_set ps;
		const struct vp_section *hs;
		uint32_t hc[2];
		snprintf(rpath, sizeof rpath, "%s/r.vpi", dir);
		CHECK(vp_index_writer_open(&w, rpath, &err) == 0 &&
		      vp_edit_relayout(&w, &s, h, 1, &err) == 0, "relayout: %s", err.msg);
		CHECK(vp_searcher_open(&t, rpath, 0, &err) == 0, "open: %s", err.msg);
		hs = vp_index_find(&t.ix, "ivf_hot", 0);
		CHECK(hs && hs->length == 8, "ivf_hot");
		if (hs)
			memcpy(hc, vp_index_data(&t.ix, hs), 8);
		CHECK(hs && hc[0] == 1 && hc[1] == 3, "hot: %u lists, %u rows", hs ? hc[0] : 0,
		      hs ? hc[1] : 0);
		/* the rows read: first in their lists, their floats the last
		 * three of the rows (vp_ivf.h), which the file names apart */
		{
			const struct vp_ivf *v = &t.seg[0].ivf;
			const float *end = (const float *)v->data + (size_t)(N - 3) * DR;
			/* the log names entries of the old file's lists */
			const uint32_t hot3[3] = { s.seg[0].ivf.ids[1000], s.seg[0].ivf.ids[1001],
						   s.seg[0].ivf.ids[2000] };
			int found = 0;
			uint32_t hsum = 0;
			hs = vp_index_find(&t.ix, "ivf_split", 0);
			for (size_t l = 0; hs && l < v->nlist; l++)
				hsum += v->hotn[l];
			CHECK(hs && v->fpos && hsum == 3 && !vp_index_find(&t.ix, "ivf_data", 0) &&
			      vp_index_find(&t.ix, "ivf_data_split", 0), "split rows: %u", hsum);
			for (int k = 0; k < 3; k++)
				for (int r = 0; r < 3; r++)
					found += !memcmp(end + k * DR, x + (size_t)hot3[r] * DR, DR * 4);
			CHECK(found == 3, "the read rows last: %d of 3", found);
			for (size_t l = 0; hs && l < v->nlist; l++)
				for (uint64_t e = v->offsets[l]; e < v->offsets[l] + v->hotn[l]; e++)
					CHECK(v->fpos[e] >= N - 3 &&
					      !memcmp(vp_ivf_row(v, e), x + (size_t)v->ids[e] * DR, DR * 4),
					      "entry %llu", (unsigned long long)e);
		}
		/* the probed list's centroid moved to the front with it */
		CHECK(!memcmp(t.seg[0].ivf.centroids, s.seg[0].ivf.centroids + 2 * DR, DR * 4),
		      "list 2 is now list 0");
		vp_params_defaults(&ps);
		ps.val[VP_P_NPROBE] = 4;
		CHECK(vp_searcher_search(&s, x + 1000 * DR, 1, 10, &ps, 1, qd, qi, &err) == 0 &&
		      vp_searcher_search(&t, x + 1000 * DR, 1, 10, &ps, 1, rd, ri, &err) == 0,
		      "search: %s", err.msg);
		CHECK(!memcmp(qi, ri, sizeof qi) && !memcmp(qd, rd, sizeof qd), "the same answers");
		vp_searcher_close(&t);
		unlink(rpath);
	}
	vp_warm_heat_free(&s, h);
	/* a saved plan reads back the same; another build refuses it */
	snprintf(ppath, sizeof ppath, "%s/p.txt", dir);
	CHECK(vp_warm_plan(&s, lpath, &wo, &p, &err) == 0, "plan: %s", err.msg);
	CHECK(vp_warm_plan_save(&p, &s.ix, ppath, &err) == 0, "save: %s", err.msg);
	CHECK(vp_warm_plan_load(&s.ix, ppath, &back, &err) == 0, "load: %s", err.msg);
	CHECK(back.nranges == p.nranges && back.bytes == p.bytes &&
	      back.always_bytes == p.always_bytes &&
	      !memcmp(back.ranges, p.ranges, p.nranges * sizeof *p.ranges), "round trip");
	vp_warm_plan_free(&back);
	vp_searcher_close(&s);
	screen_index(x, N, DR, 7);
	CHECK(vp_searcher_open(&s, ipath, VP_OPEN_LAYOUT, &err) == 0, "open: %s", err.msg);
	CHECK(vp_warm_plan_load(&s.ix, ppath, &back, &err) == VP_E_FORMAT &&
	      strstr(err.msg, "another build"), "stale: %s", err.msg);
	vp_warm_plan_free(&p);
	vp_searcher_close(&s);
	unlink(ppath);
	unlink(ipath);
	unlink(lpath);
	free(x);
}

int main(void)
{
	struct vp_build_opts o;
	struct vp_index_writer w;
	struct vp_searcher s;
	struct vp_error err = { 0 };
	struct vp_alog a;
	struct vp_warm_plan p;
	float *x = malloc(sizeof(float) * SEGS * ROWS * D);
	uint64_t seg_bytes, always, budget2, day0 = 1795000000ull / 86400 * 86400;
	uint64_t b;
	const char *got;
	uint32_t q = 0;

	CHECK(mkdtemp(dir) != NULL, "temp dir");
	snprintf(ipath, sizeof ipath, "%s/x.vpi", dir);
	snprintf(lpath, sizeof lpath, "%s/a.log", dir);
	for (size_t i = 0; i < (size_t)SEGS * ROWS * D; i++)
		x[i] = (float)((i * 2654435761u) % 1000) / 1000.0f;
	vp_build_opts_init(&o);
	o.threads = 1;
	o.segment_size = ROWS;
	CHECK(vp_index_writer_open(&w, ipath, &err) == 0 &&
	      vp_build_index(&w, x, SEGS * ROWS, D, &o, &err) == 0, "build: %s", err.msg);
	CHECK(vp_searcher_open(&s, ipath, VP_OPEN_LAYOUT, &err) == 0 && s.nseg == SEGS,
	      "open: %s", err.msg);

	/* the log, over three days: segment 3 the most used (100), 6 always in
	 * the same queries as 3 (40 of them), 5 alone (70), 1 only between
	 * 08:00 and 09:00 (30), 2 only at 20:00 (50) */
	CHECK(vp_alog_open(&a, lpath, &err) == 0, "log open: %s", err.msg);
	for (int day = 0; day < 3; day++) {
		uint64_t t = day0 + (uint64_t)day * 86400;
		stamp(&a, t + 8 * 3600 + 600);
		for (int i = 0; i < 10; i++, q++)
			rec(&a, q, 1);
		stamp(&a, t + 12 * 3600);
		for (int i = 0; i < 33; i++, q++) {
			rec(&a, q, 3);
			if (i < 13 + (day == 0))
				rec(&a, q, 6);
		}
		for (int i = 0; i < 23 + (day == 0); i++, q++)
			rec(&a, q, 5);
		stamp(&a, t + 20 * 3600);
		for (int i = 0; i < 16 + (day < 2); i++, q++)
			rec(&a, q, 2);
	}
	/* one more access to 3 to make its count round: 100 */
	rec(&a, q++, 3);
	CHECK(vp_alog_close(&a, &err) == 0, "log close: %s", err.msg);

	/* unlimited: every unit the log touched, by heat */
	got = plan(&s, VP_WARM_FREQUENCY, UINT64_MAX, -1, day0 + 3 * 86400, &p);
	CHECK(!strcmp(got, "35261"), "frequency order: %s", got);
	CHECK(p.units_seen == 5 && p.units_total == SEGS, "units seen %zu", p.units_seen);
	CHECK(p.accesses == 100 + 40 + 70 + 30 + 50 && p.accesses_covered == p.accesses,
	      "accesses %llu covered %llu", (unsigned long long)p.accesses,
	      (unsigned long long)p.accesses_covered);
	CHECK(p.timed, "timed log");
	seg_bytes = p.units[0].bytes;
	always = p.always_bytes;
	CHECK(seg_bytes == ROWS * D * 4 + ROWS * 4, "segment bytes %llu", (unsigned long long)seg_bytes);
	/* five of the eight segments and what every query needs are more
	 * than half of the file's first 2 MB block: with no budget, the plan
	 * takes that block whole (one 2 MB read), the rest in pages */
	CHECK(p.bytes >= (2u << 20) && planned(&p, 0) && planned(&p, (2u << 20) - 1) &&
	      p.bytes <= (2u << 20) + 5 * (seg_bytes + 4096),
	      "bytes %llu, always %llu", (unsigned long long)p.bytes, (unsigned long long)always);
	vp_warm_plan_free(&p);
	/* a budget of exactly the five: no room for the block, the segments
	 * counted in pages (the small norms sections of segments share them) */
	got = plan(&s, VP_WARM_FREQUENCY, always + 5 * (seg_bytes + 4096), -1, day0 + 3 * 86400, &p);
	CHECK(!strcmp(got, "35261") && p.bytes >= 5 * (uint64_t)ROWS * D * 4 &&
	      p.bytes <= always + 5 * (seg_bytes + 4096) && p.bytes < (2u << 20),
	      "%s: bytes %llu, always %llu", got, (unsigned long long)p.bytes,
	      (unsigned long long)always);
	vp_warm_plan_free(&p);

	/* a budget of always + 2 segments, honoured to the byte */
	budget2 = always + 2 * ((uint64_t)ROWS * D * 4 + 4096);
	got = plan(&s, VP_WARM_FREQUENCY, budget2, -1, day0 + 3 * 86400, &p);
	CHECK(!strcmp(got, "35"), "frequency, 2 segments: %s", got);
	CHECK(p.bytes <= budget2, "budget: %llu > %llu", (unsigned long long)p.bytes,
	      (unsigned long long)budget2);
	CHECK(p.accesses_covered == 170, "covered %llu", (unsigned long long)p.accesses_covered);
	vp_warm_plan_free(&p);
	b = always + 2 * (uint64_t)ROWS * D * 4 - 1;
	got = plan(&s, VP_WARM_FREQUENCY, b, -1, day0 + 3 * 86400, &p);
	CHECK(!strcmp(got, "3") && p.bytes <= b, "a byte short of two: %s", got);
	vp_warm_plan_free(&p);

	/* correlation: 3 seeds half the budget; 6, which its queries also touch,
	 * comes before the more frequent 5 */
	got = plan(&s, VP_WARM_CORRELATION, budget2, -1, day0 + 3 * 86400, &p);
	CHECK(!strcmp(got, "36"), "correlation: %s", got);
	CHECK(p.queries_covered == 100 - 0, "queries served whole %llu", (unsigned long long)p.queries_covered);
	vp_warm_plan_free(&p);

	/* the morning profile: at 08:00 only segment 1 was used */
	got = plan(&s, VP_WARM_RECENCY, always + seg_bytes + 4096, 8 * 60, day0 + 3 * 86400, &p);
	CHECK(!strcmp(got, "1"), "morning: %s", got);
	vp_warm_plan_free(&p);
	got = plan(&s, VP_WARM_RECENCY, always + seg_bytes + 4096, 20 * 60 + 30, day0 + 3 * 86400, &p);
	CHECK(!strcmp(got, "2"), "evening: %s", got);
	vp_warm_plan_free(&p);
	/* recency with a short half-life: the last day's evening (2) is newest */
	{
		struct vp_warm_opts wo;
		vp_warm_opts_init(&wo);
		wo.strategy = VP_WARM_RECENCY;
		wo.half_life = 3600;
		wo.budget = always + seg_bytes + 4096;
		wo.now = day0 + 2 * 86400 + 21 * 3600;
		CHECK(vp_warm_plan(&s, lpath, &wo, &p, &err) == 0 && p.nunits == 1 &&
		      p.units[0].seg == 2, "recency, 1 h half-life: %u", p.nunits ? p.units[0].seg : 99);
		vp_warm_plan_free(&p);
	}

	/* budgets */
	CHECK(vp_warm_budget_parse("50%", 1000, &b, &err) == 0 && b == 500, "50%%");
	CHECK(vp_warm_budget_parse("2M", 0, &b, &err) == 0 && b == 2097152, "2M");
	CHECK(vp_warm_budget_parse("123", 0, &b, &err) == 0 && b == 123, "123");
	CHECK(vp_warm_budget_parse("101%", 10, &b, &err) == VP_E_ARG, "101%%");
	CHECK(vp_warm_budget_parse("x", 10, &b, &err) == VP_E_ARG, "x");
	CHECK(vp_warm_budget_parse("5Q", 10, &b, &err) == VP_E_ARG, "5Q");
	CHECK(vp_warm_budget_parse("-1", 10, &b, &err) == VP_E_ARG, "-1");

	/* a damaged log is an error naming it */
	{
		FILE *f = fopen(lpath, "r+b");
		struct vp_warm_opts wo;
		vp_warm_opts_init(&wo);
		if (f) {
			fputs("XXXX", f);
			fclose(f);
		}
		CHECK(vp_warm_plan(&s, lpath, &wo, &p, &err) == VP_E_FORMAT && strstr(err.msg, "a.log"),
		      "damaged log: %s", err.msg);
	}
	vp_searcher_close(&s);
	unlink(ipath);
	unlink(lpath);
	rows_plan();
	heat_relayout_saved();
	rmdir(dir);
	free(x);
	return check_done("test_warm");
}
