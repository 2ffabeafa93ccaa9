/* vp_gcode: training and encoding of the 8-bit traversal codes. */
#include "vp_gcode.h"

#include <math.h>
#include <string.h>

void vp_gcode_train(const float *x, size_t n, size_t d, float *lo,
		    float *scale)
{
	float wide = 0;
	for (size_t j = 0; j < d; j++) {
		float mn = INFINITY, mx = -INFINITY;
		for (size_t i = 0; i < n; i++) {
			float v = x[i * d + j];
			mn = v < mn ? v : mn;
			mx = v > mx ? v : mx;
		}
		if (n == 0)
			mn = mx = 0;
		lo[j] = mn;
		if (mx - mn > wide)
			wide = mx - mn;
	}
	/* a constant data set still needs a usable scale */
	*scale = wide > 0 && isfinite(wide) ? wide / VP_GCODE_MAX : 1.0f;
}

static inline uint8_t clamp_code(float v)
{
	if (!(v > 0))  /* also NaN */
		return 0;
	if (v >= VP_GCODE_MAX)
		return VP_GCODE_MAX;
	return (uint8_t)lrintf(v);
}

void vp_gcode_encode(const struct vp_gcode *g, const float *x, size_t n,
		     uint8_t *out)
{
	const float inv = 1.0f / g->scale;
	for (size_t i = 0; i < n; i++) {
		const float *r = x + i * g->d;
		uint8_t *c = out + i * g->stride;
		for (size_t j = 0; j < g->d; j++)
			c[j] = clamp_code((r[j] - g->lo[j]) * inv);
		memset(c + g->d, 0, g->stride - g->d);
	}
}

void vp_gcode_query(const struct vp_gcode *g, const float *q, int ip,
		    uint8_t *out)
{
	memset(out, 0, g->stride);
	if (!ip) {
		vp_gcode_encode(g, q, 1, out);
		return;
	}
	float m = 0;
	for (size_t j = 0; j < g->d; j++)
		m = fabsf(q[j]) > m ? fabsf(q[j]) : m;
	if (!(m > 0) || !isfinite(m))
		return;
	const float s = VP_GCODE_MAX / m;
	for (size_t j = 0; j < g->d; j++)
		((int8_t *)out)[j] = (int8_t)lrintf(q[j] * s);
}
