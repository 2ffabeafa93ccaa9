/*
 * vp_gcode: 8-bit codes for graph traversal.
 *
 * A graph search spends its time fetching vectors that it then mostly
 * rejects: on Fashion-MNIST a float vector is 49 cache lines, its code 13.
 * The code of x is c[j] = round((x[j] - lo[j]) / scale) in 0..127, one
 * offset per dimension but ONE scale for all of them, so that the integer
 * sum of (a[j] - b[j])^2 over two codes is the squared L2 distance of the
 * decoded vectors divided by scale^2: the order of distances survives, and
 * the kernels never leave integers.  127 and not 255 because |a - b| then
 * fits a signed byte, which lets AVX-512 VNNI square and add 64 dimensions
 * in one instruction (vpdpbusd of |a - b| with itself).  For inner product
 * the query is quantized to signed bytes (q[j] * 127 / max|q|) and the score
 * is sum q8[j] * c[j], which orders like q . x up to a constant.
 *
 * Rows are padded with zeros to a multiple of 64 bytes (stride), so the
 * kernels need no tail and every row starts on a cache line.  The codes
 * only steer the traversal; the final candidates are re-ranked with the
 * float vectors.
 */
#ifndef VP_GCODE_H
#define VP_GCODE_H

#include <stddef.h>
#include <stdint.h>

#define VP_GCODE_MAX 127

struct vp_gcode {
	size_t d, stride;  /* stride = d rounded up to 64 */
	float scale;       /* > 0 */
	const float *lo;   /* d offsets */
};

static inline size_t vp_gcode_stride(size_t d)
{
	return (d + 63) & ~(size_t)63;
}

/* Trains the offsets (per-dimension minimum, into lo[d]) and the scale
 * (the widest dimension's range over 127) from n rows of x. */
void vp_gcode_train(const float *x, size_t n, size_t d, float *lo,
		    float *scale);

/* Encodes n rows of x into n * stride bytes at out (padding zeroed). */
void vp_gcode_encode(const struct vp_gcode *g, const float *x, size_t n,
		     uint8_t *out);

/* Encodes a query into stride bytes: codes like a row for L2 (clamped to
 * 0..127), signed bytes scaled by its largest magnitude for inner product
 * (ip != 0). */
void vp_gcode_query(const struct vp_gcode *g, const float *q, int ip,
		    uint8_t *out);

#endif
