/*
 * vp_config: the vp.yaml configuration file (man/vp.yaml.5), read with
 * libyaml and written back by vp-tune.
 *
 * Four sections: index (how to build), search (how to query), hardware
 * (threads, CPUs) and tune (what the file was tuned for and what it
 * achieved).  Every key is checked against the DEFAULT/MIN/MAX of its
 * parameter; an unknown key, a value of the wrong type or out of range is
 * an error naming the file, line and column.  Keys not given keep their
 * defaults, and "set" bits say which were given, so command-line options
 * can override the file and the file can override the defaults.
 */
#ifndef VP_CONFIG_H
#define VP_CONFIG_H

#include <stdint.h>
#include <stdio.h>

#include "vp_err.h"
#include "vp_params.h"

#define VP_CONFIG_PATH_MAX 1024

struct vp_config {
	/* index */
	int type;                 /* enum vp_index_type, 0 unset */
	int metric;               /* enum vp_metric, -1 unset */
	uint64_t segment_size;
	int has_segment_size;
	struct vp_param_set params; /* build and search parameters together */
	/* search */
	int64_t k, batch, search_threads;
	char cache_dir[VP_CONFIG_PATH_MAX];
	/* hardware */
	int64_t threads;
	char cpus[128];           /* a CPU list, checked (vp_cpulist_parse) */
	int numa;                 /* enum vp_numa + 1; 0 unset */
	int huge_pages;           /* 1 off, 2 on; 0 unset */
	int preallocate;          /* 1 false, 2 true; 0 unset */
	/* tune: informational, written by vp-tune */
	double target_recall, recall, qps, build_seconds;
	int64_t tune_k, memory_bytes, data_count, data_dim;
	char objective[32], date[64], fingerprint[32];
	double recall_low, recall_high;  /* its 90% interval */
	double recall_needed;            /* what the interval's low end had to reach */
	char evaluated_on[16];           /* "full" base or "sample" */
	char queries[16];                /* "given" or "held-out" */
	double intrinsic_dim, explained16, sparsity; /* data characteristics */
	int64_t duplicates;
	int has_tune;
};

/* Fills c with "nothing set": defaults everywhere. */
void vp_config_init(struct vp_config *c);

/* Reads and checks path.  Returns 0, VP_E_IO, or VP_E_FORMAT with
 * "FILE:LINE:COLUMN: what is wrong" in err. */
int vp_config_load(struct vp_config *c, const char *path, struct vp_error *err);

/* Parses YAML text (name labels messages).  Same returns. */
int vp_config_parse(struct vp_config *c, const char *text, size_t len,
		    const char *name, struct vp_error *err);

/* Writes c as YAML (only what is set, plus the tune section when
 * has_tune).  Returns 0 or VP_E_IO. */
int vp_config_write(const struct vp_config *c, FILE *f, struct vp_error *err);

#endif
