/*
 * vp_rules: diagnosis.  Evidence from a recorded run (vp-bench --json,
 * schema vp-bench/2) and from an index goes through one table of rules;
 * each rule reads some of the evidence, compares it with a threshold, and
 * when it fires names a root cause and a concrete change (a command, an
 * option, a vp.yaml key) with the gain it expects.  vp-diag --check prints
 * the findings, most serious and most rewarding first.
 *
 * Root causes group symptoms: several rules may fire for one cause (an
 * index larger than the memory limit is also an index that is not
 * resident); findings of one cause are printed together under the rule
 * the cause is named after, so the first finding is the thing to fix.
 */
#ifndef VP_RULES_H
#define VP_RULES_H

#include <stddef.h>
#include <stdint.h>

#include "vp_err.h"
#include "vp_search.h"

enum vp_severity { VP_SEV_OK = 0, VP_SEV_INFO = 1, VP_SEV_WARNING = 2, VP_SEV_CRITICAL = 3 };
const char *vp_severity_name(int sev);

/* What an index is and how healthy its structure is; measured by
 * vp_health_measure, recorded by vp-bench/2 under index.health. */
struct vp_health {
	int type;
	uint64_t count;
	uint32_t dim;
	uint64_t size_bytes;
	int64_t params[VP_P_COUNT];   /* build parameters from the header */
	size_t nseg;
	uint64_t seg_min, seg_max;    /* rows of the smallest and largest segment */
	/* IVF (all segments): lists, their mean and largest size, empty ones */
	size_t nlist;
	double list_mean;
	uint64_t list_max, lists_empty;
	/* HNSW level 0 (all segments): nodes the entry point cannot reach,
	 * mean degree, nodes without links, the degree cap */
	uint64_t unreachable;
	double degree_mean;
	uint64_t degree_zero;
	uint32_t degree_cap;
	/* vectors kept as floats: exact duplicates among the rows checked */
	uint64_t dup_rows, rows_checked;
	/* rows deleted (tombstones) and not yet compacted away */
	uint64_t deleted;
};

/* Measures h from an opened searcher: list sizes, a breadth-first walk of
 * each HNSW level 0, duplicate rows (hashes of up to 1M rows).  Reads the
 * whole index: do it after timing.  Returns 0 or VP_E_NOMEM. */
int vp_health_measure(const struct vp_searcher *s, struct vp_health *h,
		      struct vp_error *err);

#define VP_RUN_MAX 64
struct vp_run_point {
	char param[64];       /* "ef=32", or "" */
	double recall, qps;
	int has_lat;
	double p50_us, p99_us;
};

/* Everything the rules read.  A field left at its zero (or the *_known
 * flag 0) is evidence not there: a rule that needs it stays silent. */
struct vp_evidence {
	int have_run, have_index;
	struct vp_health ix;
	char index_path[512], queries_path[512], gt_path[512];
	/* the run */
	char mode[16];                /* latency, throughput */
	int threads;                  /* requested */
	size_t k, nq;
	double wall_s;                /* measured runs, summed */
	struct vp_run_point runs[VP_RUN_MAX];
	int nruns;
	char sweep_key[32];
	int cache_used;
	uint64_t cache_lookups;
	double cache_hit_rate;
	/* the process during the runs (getrusage deltas) */
	double user_s, sys_s;
	uint64_t majflt, minflt, nvcsw, nivcsw;
	int residency_known;
	double residency_before, residency_after;
	/* the machine */
	char simd_used[16], simd_cpu[16];
	int cpus_allowed;             /* affinity mask */
	double cgroup_cpus;           /* quota in CPUs, 0 none */
	uint64_t cgroup_mem;          /* bytes, 0 none */
	uint64_t mem_total, mem_avail;
	/* what the user asked for */
	double target_recall;         /* 0: none */
	/* measured by vp-diag on the index when recall is below target:
	 * the value of curve_key that reached curve_recall */
	char curve_key[32];
	int64_t curve_value;
	double curve_recall;
};

/* Reads a vp-bench --json result (vp-bench/2; vp-bench/1 gives only the
 * runs) into ev.  Returns 0 or VP_E_FORMAT naming path. */
int vp_evidence_from_json(struct vp_evidence *ev, const char *text, size_t len,
			  const char *path, struct vp_error *err);

struct vp_finding {
	const struct vp_rule *rule;
	const struct vp_rule *root;  /* the cause it is listed under (rule itself when none fired) */
	int severity;
	double gain;            /* expected speed-up (or recall gained x 10): the rank */
	char evidence[320];     /* the numbers that fired it */
	char action[512];       /* what to do: a command or a setting */
};

struct vp_rule {
	const char *id;
	const char *cause;      /* NULL, or the rule whose root cause this rule's
				 * symptom also is: when both fire, this one is
				 * listed under it */
	int severity;
	const char *reads;      /* the evidence it reads */
	const char *threshold;  /* when it fires, in words */
	const char *why;        /* why that matters */
	/* 1 when it fires (f filled; f->severity left 0 takes the rule's, or
	 * set lower), else 0 */
	int (*check)(const struct vp_evidence *ev, struct vp_finding *f);
};

extern const struct vp_rule vp_rules[];
extern const size_t vp_nrules;

/* Thresholds, named so tests and the man page can quote them. */
#define VP_RULE_MAJFLT_MIN 8          /* major faults during the run */
#define VP_RULE_MAJFLT_PER_Q 0.1      /* major faults per query, whatever the residency */
#define VP_RULE_RESIDENT_MIN 0.90     /* residency before the run */
#define VP_RULE_RESIDENT_GREW 0.05    /* residency gained during the run */
#define VP_RULE_UNREACH_WARN 0.01     /* unreachable HNSW nodes: info below, warning above */
#define VP_RULE_IVCSW_PER_S 50.0      /* involuntary switches per second */
#define VP_RULE_SEGMENTS_MAX 8        /* segments before fragmentation counts */
#define VP_RULE_SEG_SMALL 0.25        /* smallest / largest segment */
#define VP_RULE_LIST_MIN 39           /* vectors per IVF list (k-means needs ~39 per centroid) */
#define VP_RULE_LIST_SKEW 8.0         /* largest list / mean list */
#define VP_RULE_EMPTY_LISTS 0.05      /* fraction of empty lists */
#define VP_RULE_MEM_FRACTION 0.8      /* index size / memory limit */
#define VP_RULE_CACHE_MIN_HIT 0.05    /* hit rate */
#define VP_RULE_CACHE_MIN_LOOKUPS 1000
#define VP_RULE_DUP_FRACTION 0.01     /* duplicate rows */
#define VP_RULE_DELETED 0.10          /* deleted rows / rows: compact */
#define VP_RULE_CURVE_MARGIN 0.005    /* the recall curve aims this far above the
				       * target: ~1.5 standard errors of recall@10
				       * on 500 queries, so the advice holds on others */

/* Runs every rule; writes up to cap findings to out, grouped by root
 * cause, the groups in order of severity then gain, and within a group
 * the rule named after the cause first.  Returns the count. */
size_t vp_rules_run(const struct vp_evidence *ev, struct vp_finding *out, size_t cap);

/* The highest severity among n findings (VP_SEV_OK when none). */
int vp_rules_worst(const struct vp_finding *f, size_t n);

/* Measures recall@k of the searcher on nq queries against gt (rows gd
 * apart) for growing values of the search parameter that trades speed
 * for recall (ef for HNSW, nprobe for IVF), from start, until one reaches
 * target + VP_RULE_CURVE_MARGIN; sets *value and *recall to it (or to the
 * largest tried).  Returns 1 when reached, 0 when not, or a negative
 * VP_E_*. */
int vp_rules_recall_curve(struct vp_searcher *s, const float *q, size_t nq,
			  const int32_t *gt, size_t gd, size_t k, double target,
			  int64_t start, int threads, const char **key, int64_t *value,
			  double *recall, struct vp_error *err);

#endif
