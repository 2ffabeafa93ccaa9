/*
 * vp_sys: clocks, memory use and a description of the machine, for
 * vp-bench and vp-diag.
 */
#ifndef VP_SYS_H
#define VP_SYS_H

#include <stddef.h>
#include <stdint.h>

/* Returns a monotonic clock in microseconds / nanoseconds. */
uint64_t vp_now_usec(void);
uint64_t vp_now_nsec(void);

/* Returns the peak resident set size of this process in bytes. */
uint64_t vp_peak_rss(void);

struct vp_sysinfo {
	char cpu_model[128];
	int cores;            /* online processors */
	uint64_t mem_total;   /* bytes */
	uint64_t mem_avail;   /* bytes */
	long page_size;
	char thp[64];         /* transparent huge pages mode, "[always]"... */
	char simd_cpu[16];    /* best level the CPU has */
	char simd_used[16];   /* level of the kernels in use (VP_SIMD applied) */
};

/* Fills si from /proc and sysconf; unknown fields stay empty or 0. */
void vp_sysinfo_get(struct vp_sysinfo *si);

/* Counts how many of the pages of [addr, addr+len) are resident (mincore).
 * addr must be page-aligned.  Returns pages resident, or -1. */
long vp_resident_pages(const void *addr, size_t len, size_t *total_pages);

/* Asks for transparent huge pages over the 2 MB blocks inside [p, p+len)
 * (madvise; a no-op where unsupported or len is small).  For large scratch
 * arrays filled once: a first touch per 2 MB instead of per 4 KB, which on
 * a virtual machine is most of a fresh buffer's cost. */
void vp_hugepage_hint(void *p, size_t len);

#endif
