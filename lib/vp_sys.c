/* vp_sys: Linux specifics (/proc, sysconf, mincore) behind one header. */
#include "vp_sys.h"
#include "vp_hw.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "vp_dist.h"

uint64_t vp_now_nsec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t vp_now_usec(void)
{
	return vp_now_nsec() / 1000;
}

uint64_t vp_peak_rss(void)
{
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru))
		return 0;
	return (uint64_t)ru.ru_maxrss * 1024;
}

void vp_usage_get(struct vp_usage *u)
{
	struct rusage ru;
	char line[256];
	FILE *f;

	memset(u, 0, sizeof *u);
	if (!getrusage(RUSAGE_SELF, &ru)) {
		u->user_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
		u->sys_s = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
		u->majflt = (uint64_t)ru.ru_majflt;
		u->minflt = (uint64_t)ru.ru_minflt;
		u->nvcsw = (uint64_t)ru.ru_nvcsw;
		u->nivcsw = (uint64_t)ru.ru_nivcsw;
		u->peak_rss = (uint64_t)ru.ru_maxrss * 1024;
	}
	/* current RSS and threads are only in /proc */
	if (!(f = fopen("/proc/self/status", "r")))
		return;
	while (fgets(line, sizeof line, f)) {
		unsigned long long v;
		if (sscanf(line, "VmRSS: %llu", &v) == 1)
			u->rss = (uint64_t)v * 1024;
		else if (sscanf(line, "Threads: %llu", &v) == 1)
			u->threads = (int)v;
	}
	fclose(f);
	/* ru_maxrss is sampled; never report a peak below the current */
	if (u->peak_rss < u->rss)
		u->peak_rss = u->rss;
}

static uint64_t meminfo(const char *key)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[256];
	unsigned long long v = 0;
	size_t kl = strlen(key);
	if (!f)
		return 0;
	while (fgets(line, sizeof line, f))
		if (!strncmp(line, key, kl) && line[kl] == ':') {
			sscanf(line + kl + 1, "%llu", &v);
			break;
		}
	fclose(f);
	return (uint64_t)v * 1024;
}

static const char *level_name(enum vp_simd l)
{
	return l == VP_SIMD_AVX512 ? "avx512" : l == VP_SIMD_AVX2 ? "avx2"
								   : "portable";
}

/* Vendor, family and model from /proc/cpuinfo, and the microarchitecture
 * family they name (the common server ones; otherwise "unknown"). */
static void cpu_ids(struct vp_sysinfo *si)
{
	static const struct { const char *vendor; int family, lo, hi; const char *name; } tab[] = {
		{ "AuthenticAMD", 0x17, 0x00, 0x2f, "Zen / Zen+" },
		{ "AuthenticAMD", 0x17, 0x30, 0xff, "Zen 2" },
		{ "AuthenticAMD", 0x19, 0x00, 0x0f, "Zen 3" },
		{ "AuthenticAMD", 0x19, 0x10, 0x1f, "Zen 4" },
		{ "AuthenticAMD", 0x19, 0x20, 0x5f, "Zen 3" },
		{ "AuthenticAMD", 0x19, 0x60, 0xaf, "Zen 4" },
		{ "AuthenticAMD", 0x1a, 0x00, 0xff, "Zen 5" },
		{ "GenuineIntel", 6, 0x55, 0x55, "Skylake-SP / Cascade Lake" },
		{ "GenuineIntel", 6, 0x6a, 0x6c, "Ice Lake-SP" },
		{ "GenuineIntel", 6, 0x8f, 0x8f, "Sapphire Rapids" },
		{ "GenuineIntel", 6, 0xcf, 0xcf, "Emerald Rapids" },
		{ "GenuineIntel", 6, 0xad, 0xae, "Granite Rapids" },
		{ "GenuineIntel", 6, 0x8c, 0x8d, "Tiger Lake" },
		{ "GenuineIntel", 6, 0xa7, 0xa7, "Rocket Lake" },
		{ "GenuineIntel", 6, 0x97, 0x9a, "Alder Lake" },
		{ "GenuineIntel", 6, 0xb7, 0xbf, "Raptor Lake" },
	};
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[512];
	int got = 0;
	si->family = si->model = -1;
	if (f) {
		while (got < 3 && fgets(line, sizeof line, f)) {
			char *p = strchr(line, ':');
			if (!p)
				continue;
			p += 1 + (p[1] == ' ');
			p[strcspn(p, "\n")] = 0;
			if (!strncmp(line, "vendor_id", 9) && !si->vendor[0])
				snprintf(si->vendor, sizeof si->vendor, "%s", p), got++;
			else if (!strncmp(line, "cpu family", 10) && si->family < 0)
				si->family = atoi(p), got++;
			else if (!strncmp(line, "model\t", 6) && si->model < 0)
				si->model = atoi(p), got++;
		}
		fclose(f);
	}
	snprintf(si->uarch, sizeof si->uarch, "unknown");
	for (size_t i = 0; i < sizeof tab / sizeof *tab; i++)
		if (!strcmp(si->vendor, tab[i].vendor) && si->family == tab[i].family &&
		    si->model >= tab[i].lo && si->model <= tab[i].hi)
			snprintf(si->uarch, sizeof si->uarch, "%s", tab[i].name);
}

static uint64_t size_text(const char *s)
{
	char *end;
	uint64_t v = strtoull(s, &end, 10);
	return *end == 'K' ? v << 10 : *end == 'M' ? v << 20 : *end == 'G' ? v << 30 : v;
}

/* Cache sizes of cpu0 from sysfs (a virtual machine may hide them). */
static void caches(struct vp_sysinfo *si)
{
	for (int i = 0; i < 8; i++) {
		char path[128], level[16] = "", type[32] = "", size[32] = "";
		FILE *f;
		snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/level", i);
		if (!(f = fopen(path, "r")))
			break;
		if (!fgets(level, sizeof level, f))
			level[0] = 0;
		fclose(f);
		snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/type", i);
		if ((f = fopen(path, "r"))) {
			if (!fgets(type, sizeof type, f))
				type[0] = 0;
			fclose(f);
		}
		snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", i);
		if ((f = fopen(path, "r"))) {
			if (!fgets(size, sizeof size, f))
				size[0] = 0;
			fclose(f);
		}
		if (atoi(level) == 1 && !strncmp(type, "Data", 4))
			si->l1d = size_text(size);
		else if (atoi(level) == 2)
			si->l2 = size_text(size);
		else if (atoi(level) == 3)
			si->l3 = size_text(size);
	}
}

static void numa_mem(struct vp_sysinfo *si)
{
	si->numa_nodes = vp_hw_numa_nodes();
	for (int n = 0; n < 8; n++) {
		char path[128], line[256];
		FILE *f;
		snprintf(path, sizeof path, "/sys/devices/system/node/node%d/meminfo", n);
		if (!(f = fopen(path, "r")))
			continue;
		while (fgets(line, sizeof line, f)) {
			char *p = strstr(line, "MemTotal:");
			if (p) {
				si->node_mem[n] = strtoull(p + 9, NULL, 10) * 1024;
				break;
			}
		}
		fclose(f);
	}
}

void vp_sysinfo_get(struct vp_sysinfo *si)
{
	FILE *f;
	char line[512];

	memset(si, 0, sizeof *si);
	f = fopen("/proc/cpuinfo", "r");
	if (f) {
		while (fgets(line, sizeof line, f))
			if (!strncmp(line, "model name", 10)) {
				char *p = strchr(line, ':');
				if (p) {
					p += 1 + (p[1] == ' ');
					p[strcspn(p, "\n")] = 0;
					snprintf(si->cpu_model, sizeof si->cpu_model,
						 "%s", p);
				}
				break;
			}
		fclose(f);
	}
	si->cores = (int)sysconf(_SC_NPROCESSORS_ONLN);
	si->mem_total = meminfo("MemTotal");
	si->mem_avail = meminfo("MemAvailable");
	si->page_size = sysconf(_SC_PAGESIZE);
	f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
	if (f) {
		if (fgets(line, sizeof line, f)) {
			char *a = strchr(line, '['), *b = a ? strchr(a, ']') : NULL;
			if (a && b) {
				*b = 0;
				snprintf(si->thp, sizeof si->thp, "%s", a + 1);
			}
		}
		fclose(f);
	}
	if (!si->thp[0])
		snprintf(si->thp, sizeof si->thp, "unavailable");
	cpu_ids(si);
	caches(si);
	numa_mem(si);
	{
		struct vp_cpuset set;
		struct vp_cgroup cg;
		struct rlimit rl;
		si->affinity_cpus = vp_hw_affinity(&set);
		vp_cpulist_format(&set, si->affinity, sizeof si->affinity);
		vp_cgroup_get(&cg);
		si->cgroup_cpus = cg.cpus;
		si->cgroup_mem = cg.mem;
		snprintf(si->cgroup_where, sizeof si->cgroup_where, "%s", cg.where);
		si->max_map_count = -1;
		if ((f = fopen("/proc/sys/vm/max_map_count", "r"))) {
			if (fgets(line, sizeof line, f))
				si->max_map_count = atol(line);
			fclose(f);
		}
		si->nofile = getrlimit(RLIMIT_NOFILE, &rl) ? -1 :
			     rl.rlim_cur == RLIM_INFINITY ? -1 : (long)rl.rlim_cur;
		si->default_threads = vp_hw_default_threads(si->threads_why, sizeof si->threads_why);
	}
	snprintf(si->simd_cpu, sizeof si->simd_cpu, "%s",
		 level_name(vp_simd_cpu_level()));
	snprintf(si->simd_used, sizeof si->simd_used, "%s", vp_kernels()->name);
}

long vp_resident_pages(const void *addr, size_t len, size_t *total_pages)
{
	long ps = sysconf(_SC_PAGESIZE);
	size_t np = (len + (size_t)ps - 1) / (size_t)ps;
	unsigned char *vec;
	long res = 0;

	*total_pages = np;
	if (np == 0)
		return 0;
	vec = malloc(np);
	if (!vec)
		return -1;
	if (mincore((void *)addr, len, vec)) {
		free(vec);
		return -1;
	}
	for (size_t i = 0; i < np; i++)
		res += vec[i] & 1;
	free(vec);
	return res;
}

/* cachestat(2), Linux 6.5: the number is the same on every architecture
 * (new system calls share one table since 5.1); Debian's headers before
 * 6.5 lack both it and its structures */
#ifndef __NR_cachestat
#if defined(__x86_64__) || defined(__aarch64__) || defined(__riscv)
#define __NR_cachestat 451
#endif
#endif

long vp_file_resident_pages(int fd, uint64_t size, size_t *total_pages)
{
	long ps = sysconf(_SC_PAGESIZE);
	long res = -1;
	*total_pages = (size_t)((size + (uint64_t)ps - 1) / (uint64_t)ps);
	if (!size)
		return 0;
#ifdef __NR_cachestat
	{
		struct { uint64_t off, len; } range = { 0, size };
		struct { uint64_t cache, dirty, writeback, evicted, recently_evicted; } cs;
		if (!syscall(__NR_cachestat, fd, &range, &cs, 0))
			return cs.cache > *total_pages ? (long)*total_pages : (long)cs.cache;
	}
#endif
	/* ENOSYS (before 6.5), or a file system without a page cache: a
	 * mapping of our own that touches nothing */
	void *m = mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, fd, 0);
	if (m != MAP_FAILED) {
		res = vp_resident_pages(m, (size_t)size, total_pages);
		munmap(m, (size_t)size);
	}
	return res;
}

void vp_hugepage_hint(void *p, size_t len)
{
#ifdef MADV_HUGEPAGE
	const uintptr_t huge = 2u << 20;
	if (!vp_hw_huge_pages()) /* hardware.huge_pages: off */
		return;
	uintptr_t a = ((uintptr_t)p + huge - 1) & ~(huge - 1), e = ((uintptr_t)p + len) & ~(huge - 1);
	if (p && e > a)
		madvise((void *)a, e - a, MADV_HUGEPAGE);
#else
	(void)p;
	(void)len;
#endif
}

int vp_write_atomic(const char *path, const void *buf, size_t len, struct vp_error *err)
{
	const char *slash = strrchr(path, '/');
	size_t n = strlen(path) + 40, off = 0;
	char *tmp = malloc(n);
	int fd, rc = 0;

	if (!tmp)
		return vp_seterr(err, VP_E_NOMEM, "out of memory");
	/* next to the target, so that rename() is atomic */
	if (slash)
		snprintf(tmp, n, "%.*s/.%s.tmp.%ld.XXXXXX", (int)(slash - path), path, slash + 1,
			 (long)getpid());
	else
		snprintf(tmp, n, ".%s.tmp.%ld.XXXXXX", path, (long)getpid());
	if ((fd = mkstemp(tmp)) < 0) {
		rc = vp_seterr_errno(err, VP_E_IO, errno, "%s: cannot create a temporary file", path);
		free(tmp);
		return rc;
	}
	fchmod(fd, 0644);
	while (off < len) {
		ssize_t w = write(fd, (const char *)buf + off, len - off);
		if (w <= 0) {
			rc = vp_seterr_errno(err, VP_E_IO, w < 0 ? errno : EIO, "%s: write", path);
			break;
		}
		off += (size_t)w;
	}
	if (close(fd) && !rc)
		rc = vp_seterr_errno(err, VP_E_IO, errno, "%s: close", path);
	if (!rc && rename(tmp, path))
		rc = vp_seterr_errno(err, VP_E_IO, errno, "%s: rename", path);
	if (rc)
		unlink(tmp);
	free(tmp);
	return rc;
}
