/* vp_params: the parameter table and KEY=VAL parsing. */
#include "vp_params.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "vp_index.h"

const struct vp_param_def vp_param_defs[VP_P_COUNT] = {
#define VP_X_DEF(id, name, stage, types, def, min, max, help) \
	{ name, stage, types, def, min, max, help },
	VP_PARAM_LIST(VP_X_DEF)
#undef VP_X_DEF
};

/* Parameters whose values have names (written and read by name). */
static const struct {
	int id;
	const char *name;
	int64_t v;
} names[] = {
	{ VP_P_QUANT, "auto", VP_HNSW_QUANT_AUTO },
	{ VP_P_QUANT, "none", VP_HNSW_QUANT_NONE },
	{ VP_P_QUANT, "sq8", VP_HNSW_QUANT_SQ8 },
	{ VP_P_KEEP, "originals", VP_SCANN_KEEP_ORIGINALS },
	{ VP_P_KEEP, "sq8", VP_SCANN_KEEP_SQ8 },
	{ VP_P_KEEP, "none", VP_SCANN_KEEP_NONE },
};

int vp_param_scale(int id)
{
	return id == VP_P_ANISO ? 1000 : 1;
}

const char *vp_param_names(int id, char *buf, size_t cap)
{
	size_t w = 0;
	buf[0] = 0;
	for (size_t i = 0; i < sizeof names / sizeof *names; i++)
		if (names[i].id == id && w < cap)
			w += (size_t)snprintf(buf + w, cap - w, "%s%s", w ? ", " : "", names[i].name);
	return buf;
}

int vp_param_value(int id, const char *s, int64_t *out)
{
	int named = 0;
	if (vp_param_scale(id) > 1) {
		/* a decimal, kept in fixed point */
		char *end;
		double v;
		errno = 0;
		v = strtod(s, &end);
		if (errno || end == s || *end || !isfinite(v) || fabs(v) > 1e12)
			return VP_E_ARG;
		*out = llround(v * vp_param_scale(id));
		return 0;
	}
	for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
		if (names[i].id != id)
			continue;
		named = 1;
		if (!strcasecmp(s, names[i].name)) {
			*out = names[i].v;
			return 0;
		}
	}
	/* a named parameter takes only its names: quant=3 is no code */
	if (named)
		return VP_E_ARG;
	return vp_parse_int(s, INT64_MIN, INT64_MAX, out);
}

const char *vp_param_value_name(int id, int64_t v)
{
	for (size_t i = 0; i < sizeof names / sizeof *names; i++)
		if (names[i].id == id && names[i].v == v)
			return names[i].name;
	return NULL;
}

const char *vp_param_str(int id, int64_t v, char *buf, size_t cap)
{
	const char *n = vp_param_value_name(id, v);
	if (n)
		snprintf(buf, cap, "%s", n);
	else if (vp_param_scale(id) > 1)
		snprintf(buf, cap, "%g", (double)v / vp_param_scale(id));
	else
		snprintf(buf, cap, "%lld", (long long)v);
	return buf;
}

void vp_params_defaults(struct vp_param_set *ps)
{
	for (int i = 0; i < VP_P_COUNT; i++)
		ps->val[i] = vp_param_defs[i].def;
	ps->set = 0;
}

int vp_param_lookup(const char *key)
{
	for (int i = 0; i < VP_P_COUNT; i++)
		if (!strcmp(vp_param_defs[i].name, key))
			return i;
	return -1;
}

int vp_parse_int(const char *s, int64_t min, int64_t max, int64_t *out)
{
	char *end;
	long long v;
	int64_t mul = 1;

	if (!s || !*s)
		return VP_E_ARG;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s)
		return VP_E_ARG;
	if (*end == 'k' || *end == 'K')
		mul = 1000, end++;
	else if (*end == 'm' || *end == 'M')
		mul = 1000000, end++;
	else if (*end == 'g' || *end == 'G')
		mul = 1000000000, end++;
	if (*end || __builtin_mul_overflow((int64_t)v, mul, &v))
		return VP_E_ARG;
	if (v < min || v > max)
		return VP_E_ARG;
	*out = v;
	return 0;
}

int vp_params_set(struct vp_param_set *ps, const char *key, int64_t val,
		  int type, int stage, struct vp_error *err)
{
	int id = vp_param_lookup(key);
	const struct vp_param_def *d;

	if (id < 0)
		return vp_seterr(err, VP_E_ARG, "unknown parameter '%s'", key);
	d = &vp_param_defs[id];
	if (!(d->types & VP_T(type)))
		return vp_seterr(err, VP_E_ARG, "parameter '%s' does not apply "
				 "to %s indexes", key, vp_index_type_name(type));
	if (d->stage != stage)
		return vp_seterr(err, VP_E_ARG, "parameter '%s' is a %s "
				 "parameter, not a %s one", key,
				 d->stage == VP_STAGE_BUILD ? "build" : "search",
				 stage == VP_STAGE_BUILD ? "build" : "search");
	if (val < d->min || val > d->max) {
		char a[32], b[32], c[32];
		return vp_seterr(err, VP_E_ARG, "parameter '%s': %s is out of "
				 "range %s..%s", key, vp_param_str(id, val, a, sizeof a),
				 vp_param_str(id, d->min, b, sizeof b),
				 vp_param_str(id, d->max, c, sizeof c));
	}
	ps->val[id] = val;
	ps->set |= 1u << id;
	return 0;
}

int vp_params_parse(struct vp_param_set *ps, const char *kv, int type,
		    int stage, struct vp_error *err)
{
	const char *eq = strchr(kv, '=');
	char key[64], nm[64];
	int64_t v = 0;
	int id;

	if (!eq || eq == kv || (size_t)(eq - kv) >= sizeof key)
		return vp_seterr(err, VP_E_ARG, "expected KEY=VALUE, not '%s'", kv);
	memcpy(key, kv, (size_t)(eq - kv));
	key[eq - kv] = 0;
	if ((id = vp_param_lookup(key)) < 0)
		return vp_seterr(err, VP_E_ARG, "unknown parameter '%s'", key);
	if (vp_param_value(id, eq + 1, &v))
		return vp_seterr(err, VP_E_ARG, "parameter '%s': '%s' is not %s%s", key, eq + 1,
				 *vp_param_names(id, nm, sizeof nm) ? "one of " :
				 vp_param_scale(id) > 1 ? "a number" : "an integer", nm);
	return vp_params_set(ps, key, v, type, stage, err);
}
