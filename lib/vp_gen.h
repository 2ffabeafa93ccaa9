/*
 * vp_gen: seeded synthetic vectors (Gaussian clusters), the same bytes for
 * the same seed on every machine.  For tests, demos and benchmarks when no
 * real data set is at hand.
 */
#ifndef VP_GEN_H
#define VP_GEN_H

#include <stddef.h>
#include <stdint.h>

/* A small, fast, portable PRNG (splitmix64-seeded xoshiro256**). */
struct vp_rng {
	uint64_t s[4];
};

void vp_rng_seed(struct vp_rng *r, uint64_t seed);
uint64_t vp_rng_next(struct vp_rng *r);
/* Uniform in [0, 1). */
double vp_rng_uniform(struct vp_rng *r);
/* Standard normal (Box-Muller). */
double vp_rng_normal(struct vp_rng *r);

struct vp_gen {
	uint32_t dim;
	uint32_t clusters;  /* 0: one isotropic Gaussian */
	float spread;       /* cluster standard deviation relative to the
			     * spread of the centres (default 0.1) */
	int integer;        /* round values to integers 0..15 (exact-answer tests) */
	uint64_t seed;
};

/* Writes n rows (row index first..first+n-1 of the stream defined by g) to
 * out.  Row i depends only on (g, i), so any slice can be generated alone.
 * Returns 0 or VP_E_NOMEM. */
int vp_gen_rows(const struct vp_gen *g, uint64_t first, size_t n, float *out);

#endif
