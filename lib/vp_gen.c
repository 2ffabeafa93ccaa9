/*
 * vp_gen: Gaussian clusters.  Centres are drawn from N(0, 1) per dimension
 * from the seed alone; row i picks a centre and adds N(0, spread^2) noise
 * from a generator seeded by (seed, i), so rows are independent of how the
 * stream is cut into batches.
 */
#include "vp_gen.h"

#include <math.h>
#include <stdlib.h>

#include "vp_err.h"

static uint64_t splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void vp_rng_seed(struct vp_rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t vp_rng_next(struct vp_rng *r)
{
	uint64_t *s = r->s, res = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return res;
}

double vp_rng_uniform(struct vp_rng *r)
{
	return (double)(vp_rng_next(r) >> 11) * 0x1.0p-53;
}

double vp_rng_normal(struct vp_rng *r)
{
	double u = vp_rng_uniform(r), v = vp_rng_uniform(r);
	if (u < 1e-300)
		u = 1e-300;
	return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

int vp_gen_rows(const struct vp_gen *g, uint64_t first, size_t n, float *out)
{
	uint32_t nc = g->clusters ? g->clusters : 1;
	float spread = g->spread > 0 ? g->spread : 0.1f;
	float *cent = malloc((size_t)nc * g->dim * sizeof *cent);
	struct vp_rng r;

	if (!cent)
		return VP_E_NOMEM;
	vp_rng_seed(&r, g->seed);
	for (size_t i = 0; i < (size_t)nc * g->dim; i++)
		cent[i] = g->clusters ? (float)vp_rng_normal(&r) : 0.0f;
	if (!g->clusters)
		spread = 1.0f;
	for (size_t i = 0; i < n; i++) {
		float *o = out + i * g->dim;
		uint32_t c;
		vp_rng_seed(&r, g->seed ^ (0x5851f42d4c957f2dull * (first + i + 1)));
		c = (uint32_t)(vp_rng_next(&r) % nc);
		for (uint32_t j = 0; j < g->dim; j++) {
			float v = cent[(size_t)c * g->dim + j] +
				  spread * (float)vp_rng_normal(&r);
			if (g->integer) {
				v = floorf(v * 4.0f + 8.0f);
				v = v < 0 ? 0 : v > 15 ? 15 : v;
			}
			o[j] = v;
		}
	}
	free(cent);
	return 0;
}
