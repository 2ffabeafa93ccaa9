/*
 * vp_tune: choose an index type and its parameters for a recall target,
 * from the user's own data.
 *
 * 1. Data characteristics (vp_tune_analyze) decide which types are worth
 *    trying and the ranges of their parameters.
 * 2. Each candidate build configuration is built on a sample of the base,
 *    and its search parameter (ef, nprobe, refine) swept on that one built
 *    index, with held-out queries and exact ground truth on the sample.
 *    A point counts as meeting the target when the low end of a bootstrap
 *    interval of its recall (one-sided 95%) clears the target, plus an
 *    allowance (VP_TUNE_SHIFT) when the queries were drawn from the base.
 * 3. The best candidates are built again on the full base (less the
 *    held-out queries) while the time budget allows, and their search
 *    parameter swept again there: recall at a given ef or nprobe falls as
 *    the base grows (on a 300k SIFT-like set, 0.962 on a 60k sample against
 *    0.936 at full size), which no extrapolation from the sample caught.
 * 4. The order of evaluation is the strategy: grid (all, in order), random
 *    (shuffled), or bayes: a tree-structured Parzen estimator (Bergstra et
 *    al., "Algorithms for hyper-parameter optimization", 2011) over the
 *    categorical build parameters, which proposes the candidate with the
 *    highest ratio of its likelihood under the good evaluations to its
 *    likelihood under the rest (expected improvement for TPE).
 */
#ifndef VP_TUNE_H
#define VP_TUNE_H

#include <stddef.h>
#include <stdint.h>

#include "vp_err.h"

struct vp_datastats {
	size_t count, dim;
	double norm_min, norm_mean, norm_max;
	int unit_norm;          /* every norm within 1% of 1: cosine = ip */
	double zero_fraction;   /* sparsity */
	size_t duplicates;      /* rows equal to an earlier row */
	double intrinsic_dim;   /* MLE (Levina & Bickel), k = 10 */
	double explained16;     /* variance explained by 16-means */
	uint64_t fingerprint;   /* xxHash64 of the rows */
};

/* Computes the characteristics of n rows of x (samples where needed, with
 * seed).  Returns 0 or VP_E_NOMEM. */
int vp_tune_analyze(const float *x, size_t n, size_t d, uint64_t seed,
		    struct vp_datastats *st, struct vp_error *err);

enum vp_objective { VP_OBJ_QPS = 0, VP_OBJ_MEMORY = 1, VP_OBJ_BUILD = 2 };
enum vp_method { VP_TUNE_GRID = 0, VP_TUNE_RANDOM = 1, VP_TUNE_BAYES = 2 };

#define VP_TUNE_MAX_CANDIDATES 128
#define VP_TUNE_MAX_POINTS 32

/* One build configuration and what its evaluation found. */
struct vp_tune_cand {
	int type;
	int64_t p1, p2;      /* nlist/M and m/efConstruction (0 when unused) */
	int64_t p3;          /* a third build parameter (HNSW: quant) */
	int level1, level2;  /* their positions in the ranges (for TPE) */
	/* results */
	int evaluated, feasible;
	int order;           /* evaluation number, from 1 */
	int full;            /* 1: the figures below were measured on the full base */
	double build_s, memory, recall, qps, objective;
	double recall_lo, recall_hi; /* 90% bootstrap interval of recall */
	double cost_s;       /* seconds the evaluation took */
	int64_t sparam;      /* ef, nprobe (0 for FLAT) */
	int64_t refine;
};

struct vp_tune_opts {
	double target_recall;
	size_t k;
	int objective;
	int method;
	double memory_budget;  /* bytes at full size, 0: none */
	double time_budget;    /* seconds of tuning, 0: none */
	uint64_t start_usec;   /* when the time budget started (vp_now_usec; 0: now) */
	int no_full_check;     /* 1: skip the check on the full base */
	unsigned types;        /* bit t: try type t */
	int threads;           /* for building */
	int metric;            /* enum vp_metric */
	uint64_t seed;
	size_t sample;         /* base rows to evaluate on (0: from the budget) */
	size_t nqueries;       /* held-out queries (0: 1000) */
	const char *tmpdir;    /* where to put trial indexes */
	/* progress: one call per evaluation (from the calling thread) */
	void (*report)(void *ctx, const struct vp_tune_cand *c, int n, double best);
	void (*reason)(void *ctx, const char *line);
	void *ctx;
};

/* The allowance for queries drawn from the base, as a share of the misses
 * the target allows (1 - target): real queries come from outside the base
 * and were measured to miss up to 13% more often (vp-tune(1)). */
#define VP_TUNE_SHIFT 0.15

struct vp_tune_result {
	struct vp_tune_cand cand[VP_TUNE_MAX_CANDIDATES];
	int ncand, nevaluated;
	int best;              /* index into cand, -1 when none is feasible */
	int nfull;             /* candidates checked on the full base */
	size_t sample, nq;     /* what was evaluated on */
	double scale;          /* full size / sample size */
	double need;           /* what the low end of the interval must reach */
	double seconds;
};

/* Runs the tuning over n rows of x, with queries q (nq rows; NULL: held
 * out from x).  Returns 0 (res->best may be -1) or a negative VP_E_*. */
int vp_tune_run(const float *x, size_t n, size_t d, const float *q, size_t nq,
		const struct vp_datastats *st, const struct vp_tune_opts *o,
		struct vp_tune_result *res, struct vp_error *err);

/* For the family rows' candidate generators (vp_family.h): adds a
 * candidate of type with build parameters p1, p2 at range positions l1,
 * l2 (p3 zero; NULL when the table is full), and says a reason through
 * o->reason. */
struct vp_tune_cand *vp_tune_add_cand(struct vp_tune_result *res, int type, int64_t p1,
				       int l1, int64_t p2, int l2);
void vp_tune_say(const struct vp_tune_opts *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
