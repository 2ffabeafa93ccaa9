/*
 * vp_kmeans: k-means for the IVF coarse quantizer and the PQ codebooks.
 */
#ifndef VP_KMEANS_H
#define VP_KMEANS_H

#include <stddef.h>
#include <stdint.h>

#include "vp_err.h"

#define VP_KMEANS_ITERS 10
#define VP_KMEANS_SAMPLE_PER_CENTROID 64 /* training points per centroid */

/* Trains k centroids (k x d, written to cent) on at most
 * k * VP_KMEANS_SAMPLE_PER_CENTROID rows of x sampled with seed: k-means++
 * seeding, then VP_KMEANS_ITERS Lloyd iterations.  An empty cluster is
 * re-seeded by splitting the largest.  Returns 0 or VP_E_NOMEM. */
int vp_kmeans(const float *x, size_t n, size_t d, size_t k, int threads,
	      uint64_t seed, float *cent, struct vp_error *err);

/* Writes the index of the nearest centroid (squared L2) of each of n rows
 * to assign, and its distance to dist when dist is not NULL. */
int vp_kmeans_assign(const float *x, size_t n, size_t d, const float *cent,
		     size_t k, int threads, uint32_t *assign, float *dist,
		     struct vp_error *err);

#endif
