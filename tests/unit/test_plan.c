/* test_plan: the planner's label locality, with the per-distance and
 * per-check costs fixed (they are timed at start-up otherwise, too noisy to
 * compare between two processes): labels that follow position make the
 * HNSW index plan dearer than labels that do not, at the same selectivity. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "vp.h"

#define N 3000
#define D 16

static char dir[] = "/tmp/vp_test_plan.XXXXXX";

/* Builds an HNSW index of x with labels, plans filter expr on it; returns
 * the index plan's estimate, the locality and the selectivity. */
static double plan(const float *x, const int32_t *labels, const char *name,
		   const char *expr, double *loc, double *sel)
{
	struct vp_build_opts o;
	struct vp_index_writer w;
	struct vp_searcher s;
	struct vp_filter f;
	struct vp_plan_est est[VP_PLAN_COUNT];
	struct vp_param_set ps;
	struct vp_error err = { 0 };
	char path[300];
	float *copy = malloc(sizeof(float) * N * D);
	double cost = -1;

	snprintf(path, sizeof path, "%s/%s.vpi", dir, name);
	memcpy(copy, x, sizeof(float) * N * D);
	vp_build_opts_init(&o);
	o.type = VP_TYPE_HNSW;
	o.threads = 1;
	o.labels = labels;
	CHECK(vp_index_writer_open(&w, path, &err) == 0 &&
	      vp_build_index(&w, copy, N, D, &o, &err) == 0, "build %s: %s", name, err.msg);
	CHECK(vp_searcher_open(&s, path, 1, &err) == 0, "open %s: %s", name, err.msg);
	CHECK(vp_filter_parse(&f, expr, &err) == 0, "parse %s", expr);
	vp_params_defaults(&ps);
	ps.val[VP_P_EF] = 10; /* a short walk: at 3000 rows ef=64 would cost every row either way */
	s.cost_dist_us = 0.1;
	s.cost_filter_us = 0.01;
	vp_searcher_plan(&s, &f, 10, &ps, est, sel);
	*loc = s.label_locality;
	cost = est[VP_PLAN_INDEX].cost_us;
	/* the prefilter estimate knows nothing of position */
	CHECK(fabs(est[VP_PLAN_PREFILTER].cost_us - (N * 0.01 + *sel * N * 0.1)) < 1e-6,
	      "prefilter estimate %g", est[VP_PLAN_PREFILTER].cost_us);
	vp_filter_release(&f);
	vp_searcher_close(&s);
	free(copy);
	return cost;
}

int main(void)
{
	struct vp_gen gen = { D, 20, 0.3f, 0, 5 };
	float *x = malloc(sizeof(float) * N * D), ref[10 * D];
	int32_t near[N], cyc[N];
	int counts[10] = { 0 }, v = 0;
	double loc_near, loc_cyc, sel_near, sel_cyc, c_near, c_cyc;
	char expr[64];

	if (!x || !mkdtemp(dir))
		return 2;
	vp_gen_rows(&gen, 0, N, x);
	vp_gen_rows(&gen, N, 10, ref);
	/* labels that follow position: the nearest of 10 reference points */
	for (int i = 0; i < N; i++) {
		float best = INFINITY;
		for (int r = 0; r < 10; r++) {
			float d2 = 0;
			for (int j = 0; j < D; j++)
				d2 += (x[i * D + j] - ref[r * D + j]) * (x[i * D + j] - ref[r * D + j]);
			if (d2 < best) {
				best = d2;
				near[i] = r;
			}
		}
		counts[near[i]]++;
		cyc[i] = i % 1000;
	}
	/* a label of the near ones holding 3-30% of the rows */
	for (int r = 0; r < 10; r++)
		if (counts[r] > N * 3 / 100 && counts[r] < N * 30 / 100)
			v = r;
	snprintf(expr, sizeof expr, "label == %d", v);
	c_near = plan(x, near, "near", expr, &loc_near, &sel_near);
	/* the same selectivity or a little more from the cycling labels: by
	 * selectivity alone their walk could only cost less */
	snprintf(expr, sizeof expr, "label < %d", (int)ceil(sel_near * 1000));
	c_cyc = plan(x, cyc, "cyc", expr, &loc_cyc, &sel_cyc);
	CHECK(sel_cyc >= sel_near && sel_cyc < sel_near + 0.002, "selectivities %g %g",
	      sel_near, sel_cyc);
	CHECK(loc_near > 0.5, "nearest-point labels: locality %g", loc_near);
	CHECK(loc_cyc >= 0 && loc_cyc < 0.1, "cycling labels: locality %g", loc_cyc);
	CHECK(c_near > 1.5 * c_cyc, "index plan: %g us with local labels, %g without",
	      c_near, c_cyc);
	{
		char cmd[300];
		snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
		if (system(cmd)) {}
	}
	free(x);
	return check_done("test_plan");
}
