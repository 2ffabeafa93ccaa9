/* vp_hnsw_walk: the coded graph walk, portable C (the reference). */
#include "vp_hnsw_int.h"

#define WALK_NAME vp_hnsw_walk_portable
#define code_l2 vp_code_l2_portable
#define code_ip vp_code_ip_portable
#include "vp_hnsw_walk.h"

static int32_t code_l2_portable(const uint8_t *a, const uint8_t *b, size_t stride)
{
	return vp_code_l2_portable(a, b, stride);
}

/* AVX-512 without VNNI (Skylake-X) takes the AVX2 walk: its vpmaddubsw
 * path is what such a CPU would run anyway. */
static int vnni(const struct vp_kernels *k)
{
#if defined(__x86_64__) && defined(VP_HAVE_X86_KERNELS)
	return k->level >= VP_SIMD_AVX512 && __builtin_cpu_supports("avx512vnni");
#else
	(void)k;
	return 0;
#endif
}

vp_hnsw_walk_fn vp_hnsw_walk_for(const struct vp_kernels *k)
{
#if defined(__x86_64__) && defined(VP_HAVE_X86_KERNELS)
	if (vnni(k))
		return vp_hnsw_walk_vnni;
	if (k->level >= VP_SIMD_AVX2)
		return vp_hnsw_walk_avx2;
#endif
	return vp_hnsw_walk_portable;
}

vp_code_dist_fn vp_code_l2_for(const struct vp_kernels *k)
{
#if defined(__x86_64__) && defined(VP_HAVE_X86_KERNELS)
	if (vnni(k))
		return vp_code_l2_vnni;
	if (k->level >= VP_SIMD_AVX2)
		return vp_code_l2_avx2;
#endif
	return code_l2_portable;
}
