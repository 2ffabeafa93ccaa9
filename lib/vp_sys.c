/* vp_sys: Linux specifics (/proc, sysconf, mincore) behind one header. */
#include "vp_sys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
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

void vp_hugepage_hint(void *p, size_t len)
{
#ifdef MADV_HUGEPAGE
	const uintptr_t huge = 2u << 20;
	uintptr_t a = ((uintptr_t)p + huge - 1) & ~(huge - 1), e = ((uintptr_t)p + len) & ~(huge - 1);
	if (p && e > a)
		madvise((void *)a, e - a, MADV_HUGEPAGE);
#else
	(void)p;
	(void)len;
#endif
}
