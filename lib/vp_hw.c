/* vp_hw: CPU lists, default thread counts from the affinity mask and the
 * cgroup quota, pinning, NUMA policy (libnuma) and huge pages. */
#define _GNU_SOURCE 1
#include "vp_hw.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <numa.h>
#include <numaif.h>
#include <omp.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int huge_on = 1;

void vp_hw_set_huge_pages(int on)
{
	huge_on = on;
}

int vp_hw_huge_pages(void)
{
	return huge_on;
}

void vp_hw_init(struct vp_hw *hw)
{
	memset(hw, 0, sizeof *hw);
	hw->huge_pages = 1;
}

static void set_cpu(struct vp_cpuset *s, int c)
{
	s->bits[c / 64] |= 1ull << (c % 64);
}

int vp_cpulist_parse(const char *s, struct vp_cpuset *set, struct vp_error *err)
{
	const char *p = s;
	int n = 0;
	memset(set, 0, sizeof *set);
	for (;;) {
		char *end;
		long a, b, step = 1;
		if (!isdigit((unsigned char)*p))
			return vp_seterr(err, VP_E_ARG, "cpus: '%s' is not a CPU list like 0-3,8", s);
		a = strtol(p, &end, 10);
		b = a;
		p = end;
		if (*p == '-') {
			if (!isdigit((unsigned char)p[1]))
				return vp_seterr(err, VP_E_ARG, "cpus: '%s' is not a CPU list like 0-3,8", s);
			b = strtol(p + 1, &end, 10);
			p = end;
			if (*p == ':') {
				if (!isdigit((unsigned char)p[1]))
					return vp_seterr(err, VP_E_ARG, "cpus: '%s': expected a step after ':'", s);
				step = strtol(p + 1, &end, 10);
				p = end;
			}
		}
		if (a > b || step < 1 || b >= VP_MAX_CPUS)
			return vp_seterr(err, VP_E_ARG, "cpus: '%s': bad range (CPUs are 0..%d)", s,
					 VP_MAX_CPUS - 1);
		for (long c = a; c <= b; c += step)
			if (!VP_CPU_ISSET(c, set)) {
				set_cpu(set, (int)c);
				n++;
			}
		if (!*p)
			break;
		if (*p++ != ',')
			return vp_seterr(err, VP_E_ARG, "cpus: '%s' is not a CPU list like 0-3,8", s);
	}
	return n;
}

void vp_cpulist_format(const struct vp_cpuset *set, char *buf, size_t n)
{
	size_t o = 0;
	buf[0] = 0;
	for (int c = 0; c < VP_MAX_CPUS; c++) {
		int e = c;
		if (!VP_CPU_ISSET(c, set))
			continue;
		while (e + 1 < VP_MAX_CPUS && VP_CPU_ISSET(e + 1, set))
			e++;
		if (o < n)
			o += (size_t)snprintf(buf + o, n - o, "%s%d", o ? "," : "", c);
		if (e > c && o < n)
			o += (size_t)snprintf(buf + o, n - o, "-%d", e);
		c = e;
	}
}

int vp_hw_affinity(struct vp_cpuset *set)
{
	cpu_set_t m;
	int n = 0;
	memset(set, 0, sizeof *set);
	if (sched_getaffinity(0, sizeof m, &m))
		return 0;
	for (int c = 0; c < VP_MAX_CPUS && c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &m)) {
			set_cpu(set, c);
			n++;
		}
	return n;
}

int vp_numa_parse(const char *s)
{
	return !strcmp(s, "off") ? VP_NUMA_OFF : !strcmp(s, "local") ? VP_NUMA_LOCAL
	     : !strcmp(s, "interleave") ? VP_NUMA_INTERLEAVE : -1;
}

const char *vp_numa_name(int numa)
{
	return numa == VP_NUMA_LOCAL ? "local" : numa == VP_NUMA_INTERLEAVE ? "interleave" : "off";
}

static int read_line(const char *path, char *buf, size_t n)
{
	FILE *f = fopen(path, "r");
	int ok;
	if (!f)
		return 0;
	ok = fgets(buf, (int)n, f) != NULL;
	fclose(f);
	return ok;
}

/* The limits in one cgroup directory: v2 files, then v1 ones. */
static void limits_in(const char *dir, const char *v1cpu, const char *v1mem, struct vp_cgroup *cg)
{
	char path[512], line[128];
	snprintf(path, sizeof path, "%s/cpu.max", dir);
	if (read_line(path, line, sizeof line)) {
		double q, p;
		if (sscanf(line, "%lf %lf", &q, &p) == 2 && p > 0 && (cg->cpus == 0 || q / p < cg->cpus))
			cg->cpus = q / p;
		if (!cg->where[0])
			snprintf(cg->where, sizeof cg->where, "%s", dir);
	} else if (v1cpu) {
		char pp[512];
		double q = -1, p = 0;
		snprintf(path, sizeof path, "%s/cpu.cfs_quota_us", v1cpu);
		snprintf(pp, sizeof pp, "%s/cpu.cfs_period_us", v1cpu);
		if (read_line(path, line, sizeof line))
			q = atof(line);
		if (read_line(pp, line, sizeof line))
			p = atof(line);
		if (q > 0 && p > 0 && (cg->cpus == 0 || q / p < cg->cpus))
			cg->cpus = q / p;
	}
	snprintf(path, sizeof path, "%s/memory.max", dir);
	if (read_line(path, line, sizeof line)) {
		if (isdigit((unsigned char)line[0])) {
			uint64_t m = strtoull(line, NULL, 10);
			if (cg->mem == 0 || m < cg->mem)
				cg->mem = m;
		}
	} else if (v1mem) {
		snprintf(path, sizeof path, "%s/memory.limit_in_bytes", v1mem);
		if (read_line(path, line, sizeof line)) {
			uint64_t m = strtoull(line, NULL, 10);
			/* v1 says "no limit" with a number near 2^63 */
			if (m < (1ull << 60) && (cg->mem == 0 || m < cg->mem))
				cg->mem = m;
		}
	}
}

void vp_cgroup_get(struct vp_cgroup *cg)
{
	const char *root = getenv("VP_CGROUP_ROOT");
	char line[512], v2[256] = "", cpu1[256] = "", mem1[256] = "";
	FILE *f;
	memset(cg, 0, sizeof *cg);
	if (root && *root) {
		limits_in(root, root, root, cg);
		snprintf(cg->where, sizeof cg->where, "%s (VP_CGROUP_ROOT)", root);
		return;
	}
	/* /proc/self/cgroup: "0::/path" for v2, "N:cpu,cpuacct:/path" for v1 */
	if ((f = fopen("/proc/self/cgroup", "r"))) {
		while (fgets(line, sizeof line, f)) {
			char *a = strchr(line, ':'), *b = a ? strchr(a + 1, ':') : NULL;
			if (!b)
				continue;
			b[strcspn(b, "\n")] = 0;
			*b = 0;
			if (!strcmp(a + 1, ""))
				snprintf(v2, sizeof v2, "%s", b + 1);
			else if (strstr(a + 1, "cpu") && !strstr(a + 1, "cpuset"))
				snprintf(cpu1, sizeof cpu1, "%s", b + 1);
			else if (strstr(a + 1, "memory"))
				snprintf(mem1, sizeof mem1, "%s", b + 1);
		}
		fclose(f);
	}
	/* the process's cgroup and each one above it: every limit applies */
	for (int up = 0; up < 32; up++) {
		char d2[512], dc[512], dm[512];
		snprintf(d2, sizeof d2, "/sys/fs/cgroup%s", v2);
		snprintf(dc, sizeof dc, "/sys/fs/cgroup/cpu%s", cpu1);
		snprintf(dm, sizeof dm, "/sys/fs/cgroup/memory%s", mem1);
		limits_in(d2, cpu1[0] || up == 0 ? dc : NULL, mem1[0] || up == 0 ? dm : NULL, cg);
		if (!strrchr(v2, '/') && !strrchr(cpu1, '/') && !strrchr(mem1, '/'))
			break;
		if (strrchr(v2, '/'))
			*strrchr(v2, '/') = 0;
		if (strrchr(cpu1, '/'))
			*strrchr(cpu1, '/') = 0;
		if (strrchr(mem1, '/'))
			*strrchr(mem1, '/') = 0;
	}
	if (!cg->where[0])
		snprintf(cg->where, sizeof cg->where, "/sys/fs/cgroup");
}

int vp_hw_default_threads(char *why, size_t n)
{
	struct vp_cpuset set;
	struct vp_cgroup cg;
	int a = vp_hw_affinity(&set), t;
	char list[256];
	if (a < 1)
		a = 1;
	vp_cpulist_format(&set, list, sizeof list);
	vp_cgroup_get(&cg);
	t = a;
	if (cg.cpus > 0 && (int)ceil(cg.cpus - 1e-9) < a) {
		t = (int)ceil(cg.cpus - 1e-9);
		if (t < 1)
			t = 1;
		if (why)
			snprintf(why, n, "the cgroup CPU quota allows %.2f CPUs (%s); the affinity "
				 "mask has %d (%s)", cg.cpus, cg.where, a, list);
	} else if (why) {
		snprintf(why, n, "the affinity mask has %d CPU%s (%s)%s", a, a == 1 ? "" : "s", list,
			 cg.cpus > 0 ? "; the cgroup CPU quota allows as many" : "; no cgroup CPU quota");
	}
	return t;
}

int vp_hw_pin(const struct vp_hw *hw, int nthreads, struct vp_error *err)
{
	cpu_set_t m;
	int cpu[VP_MAX_CPUS], nc = 0, bad = 0;
	if (!hw->ncpus)
		return 0;
	CPU_ZERO(&m);
	for (int c = 0; c < VP_MAX_CPUS && c < CPU_SETSIZE; c++)
		if (VP_CPU_ISSET(c, &hw->cpus)) {
			CPU_SET(c, &m);
			cpu[nc++] = c;
		}
	/* the process first: threads created later inherit the mask */
	if (sched_setaffinity(0, sizeof m, &m))
		return vp_seterr_errno(err, VP_E_ARG, errno, "cpus: cannot run on the CPUs listed");
	/* then one CPU per OpenMP thread; libgomp keeps its threads, so the
	 * pins hold for later parallel regions of up to this many threads */
#pragma omp parallel num_threads(nthreads) reduction(+ : bad)
	{
		cpu_set_t one;
		CPU_ZERO(&one);
		CPU_SET(cpu[omp_get_thread_num() % nc], &one);
		bad += pthread_setaffinity_np(pthread_self(), sizeof one, &one) != 0;
	}
	if (bad)
		return vp_seterr(err, VP_E_ARG, "cpus: cannot pin %d of %d threads", bad, nthreads);
	return 0;
}

int vp_hw_numa_nodes(void)
{
	return numa_available() < 0 ? 1 : numa_num_configured_nodes();
}

int vp_hw_numa_apply(const struct vp_hw *hw, void *addr, size_t len, char *note, size_t n,
		     struct vp_error *err)
{
	struct bitmask *nodes;
	int mode, nodes_n;
	if (note && n)
		note[0] = 0;
	if (hw->numa == VP_NUMA_OFF)
		return 0;
	if (numa_available() < 0)
		return vp_seterr(err, VP_E_ARG, "numa: this kernel or machine has no NUMA support");
	nodes_n = numa_num_configured_nodes();
	if (hw->numa == VP_NUMA_INTERLEAVE) {
		nodes = numa_bitmask_alloc((unsigned)numa_max_node() + 1);
		copy_bitmask_to_bitmask(numa_all_nodes_ptr, nodes);
		mode = MPOL_INTERLEAVE;
	} else {
		/* local: the nodes of the CPUs the threads run on */
		struct vp_cpuset set;
		if (hw->ncpus)
			set = hw->cpus;
		else
			vp_hw_affinity(&set);
		nodes = numa_bitmask_alloc((unsigned)numa_max_node() + 1);
		for (int c = 0; c < VP_MAX_CPUS; c++)
			if (VP_CPU_ISSET(c, &set) && numa_node_of_cpu(c) >= 0)
				numa_bitmask_setbit(nodes, (unsigned)numa_node_of_cpu(c));
		mode = MPOL_BIND;
	}
	/* the process's policy: its pools, and the page-cache pages its
	 * faults bring in (a shared file mapping takes the policy of the
	 * thread that first touches a page, not the mbind of the range) */
	if (set_mempolicy(mode, nodes->maskp, nodes->size + 1)) {
		int e = errno;
		numa_bitmask_free(nodes);
		return vp_seterr_errno(err, VP_E_ARG, e, "numa: set_mempolicy");
	}
	if (addr && len) {
		uintptr_t pg = 4096, a = (uintptr_t)addr & ~(pg - 1);
		if (mbind((void *)a, len + ((uintptr_t)addr - a), mode, nodes->maskp, nodes->size + 1, 0)) {
			int e = errno;
			numa_bitmask_free(nodes);
			return vp_seterr_errno(err, VP_E_ARG, e, "numa: mbind");
		}
	}
	numa_bitmask_free(nodes);
	if (note)
		snprintf(note, n, "%s over %d node%s%s", hw->numa == VP_NUMA_INTERLEAVE ?
			 "interleave" : "bind to the threads' nodes", nodes_n, nodes_n == 1 ? "" : "s",
			 nodes_n == 1 ? " (one node: no effect on placement)" : "");
	return 0;
}

const char *vp_hw_numa_policy_at(const void *addr)
{
	int mode = -1;
	if (numa_available() < 0 ||
	    get_mempolicy(&mode, NULL, 0, (void *)(uintptr_t)addr, MPOL_F_ADDR))
		return "unknown";
	switch (mode) {
	case MPOL_DEFAULT: return "default";
	case MPOL_INTERLEAVE: return "interleave";
	case MPOL_BIND: return "bind";
	case MPOL_PREFERRED: return "preferred";
#ifdef MPOL_LOCAL
	case MPOL_LOCAL: return "local";
#endif
	default: return "unknown";
	}
}

void vp_hw_hugepages_granted(uint64_t *anon, uint64_t *file)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[256];
	*anon = *file = 0;
	if (!f)
		return;
	while (fgets(line, sizeof line, f)) {
		unsigned long long kb;
		if (sscanf(line, "AnonHugePages: %llu kB", &kb) == 1)
			*anon += kb * 1024;
		else if (sscanf(line, "FilePmdMapped: %llu kB", &kb) == 1)
			*file += kb * 1024;
	}
	fclose(f);
}

void vp_hw_thread_cpus(int nthreads, char *buf, size_t n)
{
	char each[64][64];
	int nt = nthreads < 64 ? nthreads : 64;
	size_t o = 0;
	memset(each, 0, sizeof each);
#pragma omp parallel num_threads(nt)
	{
		int t = omp_get_thread_num();
		cpu_set_t m;
		struct vp_cpuset set;
		memset(&set, 0, sizeof set);
		if (t < 64 && !pthread_getaffinity_np(pthread_self(), sizeof m, &m)) {
			for (int c = 0; c < VP_MAX_CPUS && c < CPU_SETSIZE; c++)
				if (CPU_ISSET(c, &m))
					set_cpu(&set, c);
			vp_cpulist_format(&set, each[t], sizeof each[t]);
		}
	}
	buf[0] = 0;
	for (int t = 0; t < nt && o < n; t++)
		o += (size_t)snprintf(buf + o, n - o, "%s%d:%s", t ? " " : "", t, each[t]);
}
