/*
 * vp_hw: where work runs and where memory lives.  CPU lists (taskset
 * syntax), the thread count a process may use by default (its affinity mask
 * and its cgroup's CPU quota), pinning the process and its OpenMP threads,
 * NUMA placement (libnuma), transparent huge pages, and reading back what
 * the kernel granted.
 */
#ifndef VP_HW_H
#define VP_HW_H

#include <stddef.h>
#include <stdint.h>

#include "vp_err.h"

enum vp_numa { VP_NUMA_OFF = 0, VP_NUMA_LOCAL = 1, VP_NUMA_INTERLEAVE = 2 };

#define VP_MAX_CPUS 1024
struct vp_cpuset {
	uint64_t bits[VP_MAX_CPUS / 64];
};
#define VP_CPU_ISSET(c, s) (((s)->bits[(c) / 64] >> ((c) % 64)) & 1)

struct vp_hw {
	int ncpus;          /* CPUs in cpus; 0: not pinned */
	struct vp_cpuset cpus;
	int numa;           /* enum vp_numa */
	int huge_pages;     /* 1: MADV_HUGEPAGE on mappings and pools (default) */
	int preallocate;    /* 1: pools sized at open (vp_searcher_preallocate) */
};

/* Defaults: not pinned, NUMA off, huge pages on, no preallocation. */
void vp_hw_init(struct vp_hw *hw);

/* Parses a CPU list ("0-3,8", "1", "0-7:2" for every second) into set.
 * Returns the count of CPUs, or a negative VP_E_ARG with "cpus: ..." in
 * err. */
int vp_cpulist_parse(const char *s, struct vp_cpuset *set, struct vp_error *err);

/* Writes set as a CPU list ("0-3,8"). */
void vp_cpulist_format(const struct vp_cpuset *set, char *buf, size_t n);

/* The affinity mask of this process; returns its count. */
int vp_hw_affinity(struct vp_cpuset *set);

/* Parses "local", "interleave" or "off"; -1 otherwise. */
int vp_numa_parse(const char *s);
const char *vp_numa_name(int numa);

/* The cgroup limits of this process: CPUs its quota allows (cgroup v2
 * cpu.max, or v1 cpu.cfs_quota_us / cpu.cfs_period_us; 0: none), its
 * memory limit in bytes (memory.max or memory.limit_in_bytes; 0: none),
 * and where they were read.  VP_CGROUP_ROOT names a directory to read
 * instead of the process's own cgroup (for tests). */
struct vp_cgroup {
	double cpus;
	uint64_t mem;
	char where[256];
};
void vp_cgroup_get(struct vp_cgroup *cg);

/* The thread count to use when none is given: the CPUs of the affinity
 * mask, fewer when the cgroup CPU quota allows fewer (rounded up); why
 * says which. */
int vp_hw_default_threads(char *why, size_t n);

/* Pins the process to hw->cpus, and each of the nthreads OpenMP threads to
 * one of them in turn.  A no-op when hw->ncpus is 0. */
int vp_hw_pin(const struct vp_hw *hw, int nthreads, struct vp_error *err);

/* Applies hw->numa: sets this process's policy for the memory it touches
 * from now on (interleave over every node, or bind to the nodes of the
 * pinned CPUs, or of all allowed CPUs) and mbinds [addr, addr + len) when
 * given.  Writes what was done to note (on one node: that it changes
 * nothing).  Returns 0, or VP_E_ARG when libnuma says NUMA is unavailable. */
int vp_hw_numa_apply(const struct vp_hw *hw, void *addr, size_t len, char *note, size_t n,
		     struct vp_error *err);

/* The NUMA policy of the memory at addr as the kernel reports it:
 * "default", "interleave", "bind", "preferred", "local", or "unknown". */
const char *vp_hw_numa_policy_at(const void *addr);

/* The CPUs each of nthreads OpenMP threads may run on, as the kernel has
 * them: "0:0 1:1" (thread:CPU list), for --stats. */
void vp_hw_thread_cpus(int nthreads, char *buf, size_t n);

/* NUMA nodes configured (1 where NUMA is unavailable). */
int vp_hw_numa_nodes(void);

/* What the kernel granted this process in huge pages: AnonHugePages and
 * FilePmdMapped summed over /proc/self/smaps, in bytes. */
void vp_hw_hugepages_granted(uint64_t *anon, uint64_t *file);

/* Turns vp_hugepage_hint (and the hint on index mappings) on or off for
 * the process: hardware.huge_pages. */
void vp_hw_set_huge_pages(int on);
int vp_hw_huge_pages(void);

#endif
