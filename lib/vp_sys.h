/*
 * vp_sys: clocks, memory use and a description of the machine, for
 * vp-bench and vp-diag.
 */
#ifndef VP_SYS_H
#define VP_SYS_H

#include <stddef.h>
#include <stdint.h>

#include "vp_err.h"

/* Returns a monotonic clock in microseconds / nanoseconds. */
uint64_t vp_now_usec(void);
uint64_t vp_now_nsec(void);

/* Returns the peak resident set size of this process in bytes. */
uint64_t vp_peak_rss(void);

/* What this process has used so far (getrusage and /proc/self/status):
 * the evidence vp-bench records and vp-diag --check reads.  Subtract two
 * readings for the cost of the work between them. */
struct vp_usage {
	double user_s, sys_s;      /* CPU seconds */
	uint64_t majflt, minflt;   /* page faults: with and without I/O */
	uint64_t nvcsw, nivcsw;    /* context switches: voluntary (waits), involuntary (preempted) */
	uint64_t rss, peak_rss;    /* bytes */
	int threads;
};
void vp_usage_get(struct vp_usage *u);

struct vp_sysinfo {
	char cpu_model[128];
	int cores;            /* online processors */
	uint64_t mem_total;   /* bytes */
	uint64_t mem_avail;   /* bytes */
	long page_size;
	char thp[64];         /* transparent huge pages mode, "[always]"... */
	char simd_cpu[16];    /* best level the CPU has */
	char simd_used[16];   /* level of the kernels in use (VP_SIMD applied) */
	char vendor[32];      /* GenuineIntel, AuthenticAMD, ... */
	int family, model;    /* CPUID family and model */
	char uarch[48];       /* microarchitecture family, from them */
	uint64_t l1d, l2, l3; /* cache sizes in bytes (cpu0), 0 unknown */
	int numa_nodes;
	uint64_t node_mem[8]; /* MemTotal of nodes 0..7 */
	char affinity[256];   /* CPU list of the affinity mask */
	int affinity_cpus;
	double cgroup_cpus;   /* CPU quota, 0 none */
	uint64_t cgroup_mem;  /* memory limit, 0 none */
	char cgroup_where[256];
	long max_map_count;   /* vm.max_map_count, -1 unknown */
	long nofile;          /* open-file limit (soft), -1 unlimited */
	int default_threads;
	char threads_why[300];
};

/* Fills si from /proc and sysconf; unknown fields stay empty or 0. */
void vp_sysinfo_get(struct vp_sysinfo *si);

/* Counts how many of the pages of [addr, addr+len) are resident (mincore).
 * addr must be page-aligned.  Returns pages resident, or -1. */
long vp_resident_pages(const void *addr, size_t len, size_t *total_pages);

/* Counts how many of the pages of the first size bytes of the open file
 * fd are in the page cache: cachestat(2), one pass over the cache's tree
 * (folios, not pages), and where the kernel lacks it (before Linux 6.5)
 * mincore through a mapping that touches nothing.  Measured (a 247 MB
 * index, 43% of it resident, AMD EPYC, Linux 6.18): mincore of a mapping
 * with nothing faulted in took 0.7-1.2 ms, a page cache lookup a page.
 * Sets *total_pages.  Returns pages resident, or -1. */
long vp_file_resident_pages(int fd, uint64_t size, size_t *total_pages);

/* Asks for transparent huge pages over the 2 MB blocks inside [p, p+len)
 * (madvise; a no-op where unsupported or len is small).  For large scratch
 * arrays filled once: a first touch per 2 MB instead of per 4 KB, which on
 * a virtual machine is most of a fresh buffer's cost. */
void vp_hugepage_hint(void *p, size_t len);

/* Writes len bytes of buf to path atomically: a temporary file next to it
 * (".NAME.tmp.PID.XXXXXX": a dot name not ending as path does, which
 * collectors and globs pass over), mode 0644 (read by other users), then
 * rename(2), so a reader sees the old file or the new one.  No fsync: for
 * files that need to be whole, not durable (metrics, warm-up plans).
 * Returns 0 or VP_E_IO / VP_E_NOMEM naming path. */
int vp_write_atomic(const char *path, const void *buf, size_t len, struct vp_error *err);

#endif
