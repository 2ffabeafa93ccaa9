/*
 * vp_config: a table of keys per section drives both the checker and the
 * writer.  libyaml's document API gives a node tree with the position of
 * every node, which is what the error messages need.
 */
#include "vp_config.h"
#include "vp_hw.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "vp_build.h"
#include "vp_dist.h"
#include "vp_io.h"
#include "vp_index.h"

void vp_config_init(struct vp_config *c)
{
	memset(c, 0, sizeof *c);
	c->metric = -1;
	vp_params_defaults(&c->params);
	c->k = VP_K_DEFAULT;
	c->batch = VP_BATCH_DEFAULT;
}

struct ctx {
	yaml_document_t *doc;
	const char *name;
	struct vp_error *err;
	struct vp_config *c;
};

static int at(struct ctx *x, const yaml_node_t *n, const char *fmt, const char *a,
	      const char *b)
{
	char m[300];
	snprintf(m, sizeof m, fmt, a, b);
	return vp_seterr(x->err, VP_E_FORMAT, "%s:%zu:%zu: %s", x->name,
			 n->start_mark.line + 1, n->start_mark.column + 1, m);
}

static const char *scalar(const yaml_node_t *n)
{
	return n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static int get_int(struct ctx *x, const yaml_node_t *n, const char *key,
		   int64_t min, int64_t max, int64_t *out)
{
	const char *s = scalar(n);
	char lo[32], hi[64];
	if (!s || vp_parse_int(s, INT64_MIN, INT64_MAX, out))
		return at(x, n, "'%s' must be an integer%s", key, "");
	if (*out < min || *out > max) {
		snprintf(lo, sizeof lo, "%s", key);
		snprintf(hi, sizeof hi, " (%lld..%lld)", (long long)min, (long long)max);
		return at(x, n, "'%s' is out of range%s", lo, hi);
	}
	return 0;
}

static int get_double(struct ctx *x, const yaml_node_t *n, const char *key,
		      double min, double max, double *out)
{
	const char *s = scalar(n);
	char *end;
	if (!s || !*s)
		return at(x, n, "'%s' must be a number%s", key, "");
	errno = 0;
	*out = strtod(s, &end);
	if (errno || *end || !isfinite(*out))
		return at(x, n, "'%s' must be a number%s", key, "");
	if (*out < min || *out > max)
		return at(x, n, "'%s' is out of range%s", key, "");
	return 0;
}

static int get_str(struct ctx *x, const yaml_node_t *n, const char *key,
		   char *out, size_t cap)
{
	const char *s = scalar(n);
	if (!s)
		return at(x, n, "'%s' must be a string%s", key, "");
	if (strlen(s) >= cap)
		return at(x, n, "'%s' is too long%s", key, "");
	memcpy(out, s, strlen(s) + 1);
	return 0;
}

/* YAML 1.1 booleans, as people write them: 1 true, 0 false, -1 neither. */
static int get_bool(const char *s)
{
	static const char *const yes[] = { "on", "true", "yes", "1" }, *const no[] = { "off", "false", "no", "0" };
	if (!s)
		return -1;
	for (int i = 0; i < 4; i++) {
		if (!strcasecmp(s, yes[i]))
			return 1;
		if (!strcasecmp(s, no[i]))
			return 0;
	}
	return -1;
}

/* A build or search parameter of the table, checked for the type when the
 * type is known (index.type is read first). */
static int param(struct ctx *x, const yaml_node_t *kn, const yaml_node_t *n,
		 const char *key, int stage)
{
	int id = vp_param_lookup(key);
	const struct vp_param_def *d;
	int64_t v;
	int rc;
	if (id < 0 || vp_param_defs[id].stage != stage)
		return at(x, kn, "unknown key '%s'%s", key, "");
	d = &vp_param_defs[id];
	if (vp_param_value_name(id, d->def) || vp_param_scale(id) > 1) {
		/* a named value (quant: none, sq8), or a decimal */
		const char *sv = scalar(n);
		char nm[64];
		if (!sv || vp_param_value(id, sv, &v)) {
			char what[96];
			snprintf(what, sizeof what, "%s%s",
				 *vp_param_names(id, nm, sizeof nm) ? "one of " : "a number", nm);
			return at(x, n, "'%s' must be %s", key, what);
		}
		if (v < d->min || v > d->max)
			return at(x, n, "'%s' is out of range%s", key, "");
	} else if ((rc = get_int(x, n, key, d->min, d->max, &v)))
		return rc;
	if (x->c->type && !(d->types & VP_T(x->c->type)))
		return at(x, n, "'%s' does not apply to %s indexes", key,
			  vp_index_type_name(x->c->type));
	x->c->params.val[id] = v;
	x->c->params.set |= 1u << id;
	return 0;
}

static const yaml_node_t *lookup(struct ctx *x, const yaml_node_t *map,
				 const char *key)
{
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
	     p < map->data.mapping.pairs.top; p++) {
		const char *k = scalar(yaml_document_get_node(x->doc, p->key));
		if (k && !strcmp(k, key))
			return yaml_document_get_node(x->doc, p->value);
	}
	return NULL;
}

static int section(struct ctx *x, const char *sec, const yaml_node_t *map)
{
	struct vp_config *c = x->c;
	int rc = 0;
	if (map->type != YAML_MAPPING_NODE)
		return at(x, map, "section '%s' must be a mapping%s", sec, "");
	if (!strcmp(sec, "index")) {
		/* type first, so parameters can be checked against it */
		const yaml_node_t *t = lookup(x, map, "type");
		if (t) {
			const char *s = scalar(t);
			if (!s || (c->type = vp_index_type_parse(s)) < 0) {
				c->type = 0;
				return at(x, t, "unknown index type '%s'%s", s ? s : "?",
					  " (FLAT, IVF_FLAT, IVF_SQ8, IVF_PQ, HNSW, SCANN)");
			}
		}
	}
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
	     p < map->data.mapping.pairs.top && !rc; p++) {
		const yaml_node_t *kn = yaml_document_get_node(x->doc, p->key);
		const yaml_node_t *v = yaml_document_get_node(x->doc, p->value);
		const char *key = scalar(kn);
		int64_t iv;
		if (!key)
			return at(x, kn, "keys must be strings%s%s", "", "");
		if (!strcmp(sec, "index")) {
			if (!strcmp(key, "type"))
				continue;
			if (!strcmp(key, "metric")) {
				const char *s = scalar(v);
				if (!s || (c->metric = vp_metric_parse(s)) < 0)
					rc = at(x, v, "'metric' must be l2, ip or cosine%s%s", "", "");
			} else if (!strcmp(key, "segment_size")) {
				rc = get_int(x, v, key, 0, VP_SEGMENT_SIZE_MAX, &iv);
				c->segment_size = (uint64_t)iv;
				c->has_segment_size = 1;
			} else
				rc = param(x, kn, v, key, VP_STAGE_BUILD);
		} else if (!strcmp(sec, "search")) {
			if (!strcmp(key, "k"))
				rc = get_int(x, v, key, VP_K_MIN, VP_K_MAX, &c->k);
			else if (!strcmp(key, "batch"))
				rc = get_int(x, v, key, VP_BATCH_MIN, VP_BATCH_MAX, &c->batch);
			else if (!strcmp(key, "threads"))
				rc = get_int(x, v, key, VP_THREADS_MIN, VP_THREADS_MAX, &c->search_threads);
			else if (!strcmp(key, "cache_dir"))
				rc = get_str(x, v, key, c->cache_dir, sizeof c->cache_dir);
			else
				rc = param(x, kn, v, key, VP_STAGE_SEARCH);
		} else if (!strcmp(sec, "hardware")) {
			if (!strcmp(key, "threads"))
				rc = get_int(x, v, key, VP_THREADS_MIN, VP_THREADS_MAX, &c->threads);
			else if (!strcmp(key, "cpus")) {
				struct vp_cpuset set;
				struct vp_error e2 = { 0 };
				rc = get_str(x, v, key, c->cpus, sizeof c->cpus);
				if (!rc && vp_cpulist_parse(c->cpus, &set, &e2) < 0)
					rc = at(x, v, "'%s' is not a CPU list like 0-3,8%s", key, "");
			} else if (!strcmp(key, "numa")) {
				const char *sv = scalar(v);
				int m = sv ? vp_numa_parse(sv) : -1;
				if (m < 0)
					rc = at(x, v, "'%s' must be local, interleave or off%s", key, "");
				else
					c->numa = m + 1;
			} else if (!strcmp(key, "huge_pages") || !strcmp(key, "preallocate")) {
				int b = get_bool(scalar(v));
				if (b < 0)
					rc = at(x, v, "'%s' must be on or off (true or false)%s", key, "");
				else if (!strcmp(key, "huge_pages"))
					c->huge_pages = b + 1;
				else
					c->preallocate = b + 1;
			}
			else
				rc = at(x, kn, "unknown key '%s' in section '%s'", key, sec);
		} else { /* tune */
			c->has_tune = 1;
			if (!strcmp(key, "target_recall"))
				rc = get_double(x, v, key, 0, 1, &c->target_recall);
			else if (!strcmp(key, "recall"))
				rc = get_double(x, v, key, 0, 1, &c->recall);
			else if (!strcmp(key, "recall_low"))
				rc = get_double(x, v, key, 0, 1, &c->recall_low);
			else if (!strcmp(key, "recall_high"))
				rc = get_double(x, v, key, 0, 1, &c->recall_high);
			else if (!strcmp(key, "recall_needed"))
				rc = get_double(x, v, key, 0, 1, &c->recall_needed);
			else if (!strcmp(key, "evaluated_on"))
				rc = get_str(x, v, key, c->evaluated_on, sizeof c->evaluated_on);
			else if (!strcmp(key, "queries"))
				rc = get_str(x, v, key, c->queries, sizeof c->queries);
			else if (!strcmp(key, "qps"))
				rc = get_double(x, v, key, 0, 1e12, &c->qps);
			else if (!strcmp(key, "build_seconds"))
				rc = get_double(x, v, key, 0, 1e9, &c->build_seconds);
			else if (!strcmp(key, "k"))
				rc = get_int(x, v, key, VP_K_MIN, VP_K_MAX, &c->tune_k);
			else if (!strcmp(key, "memory_bytes"))
				rc = get_int(x, v, key, 0, INT64_MAX, &c->memory_bytes);
			else if (!strcmp(key, "data_count"))
				rc = get_int(x, v, key, 0, INT64_MAX, &c->data_count);
			else if (!strcmp(key, "data_dim"))
				rc = get_int(x, v, key, 0, VP_DIM_MAX, &c->data_dim);
			else if (!strcmp(key, "objective"))
				rc = get_str(x, v, key, c->objective, sizeof c->objective);
			else if (!strcmp(key, "date"))
				rc = get_str(x, v, key, c->date, sizeof c->date);
			else if (!strcmp(key, "intrinsic_dim"))
				rc = get_double(x, v, key, 0, 1e6, &c->intrinsic_dim);
			else if (!strcmp(key, "explained_by_16_means"))
				rc = get_double(x, v, key, -1e9, 1, &c->explained16);
			else if (!strcmp(key, "sparsity"))
				rc = get_double(x, v, key, 0, 1, &c->sparsity);
			else if (!strcmp(key, "duplicates"))
				rc = get_int(x, v, key, 0, INT64_MAX, &c->duplicates);
			else if (!strcmp(key, "data_fingerprint"))
				rc = get_str(x, v, key, c->fingerprint, sizeof c->fingerprint);
			else
				rc = at(x, kn, "unknown key '%s' in section '%s'", key, sec);
		}
	}
	return rc;
}

int vp_config_parse(struct vp_config *c, const char *text, size_t len,
		    const char *name, struct vp_error *err)
{
	yaml_parser_t p;
	yaml_document_t doc;
	yaml_node_t *root;
	struct ctx x = { &doc, name, err, c };
	int rc = 0;

	if (!yaml_parser_initialize(&p))
		return vp_seterr(err, VP_E_NOMEM, "out of memory");
	yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
	if (!yaml_parser_load(&p, &doc)) {
		rc = vp_seterr(err, VP_E_FORMAT, "%s:%zu:%zu: %s", name,
			       p.problem_mark.line + 1, p.problem_mark.column + 1,
			       p.problem ? p.problem : "malformed YAML");
		yaml_parser_delete(&p);
		return rc;
	}
	root = yaml_document_get_root_node(&doc);
	if (root && root->type != YAML_MAPPING_NODE)
		rc = at(&x, root, "expected a mapping of sections (index, search, "
			"hardware, tune)%s%s", "", "");
	/* index first, so search parameters can be checked against its type */
	for (int pass = 0; root && !rc && pass < 2; pass++)
		for (yaml_node_pair_t *pr = root->data.mapping.pairs.start;
		     pr < root->data.mapping.pairs.top && !rc; pr++) {
			const yaml_node_t *kn = yaml_document_get_node(&doc, pr->key);
			const char *sec = scalar(kn);
			int is_index = sec && !strcmp(sec, "index");
			if (!sec || (strcmp(sec, "index") && strcmp(sec, "search") &&
				     strcmp(sec, "hardware") && strcmp(sec, "tune"))) {
				rc = at(&x, kn, "unknown section '%s'%s", sec ? sec : "?",
					" (index, search, hardware, tune)");
				break;
			}
			if (is_index == (pass == 0))
				rc = section(&x, sec, yaml_document_get_node(&doc, pr->value));
		}
	yaml_document_delete(&doc);
	yaml_parser_delete(&p);
	return rc;
}

int vp_config_load(struct vp_config *c, const char *path, struct vp_error *err)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t n;
	int rc;
	if (!f)
		return vp_seterr_errno(err, VP_E_IO, errno, "%s", path);
	buf = malloc(1 << 20);
	n = buf ? fread(buf, 1, 1 << 20, f) : 0;
	if (!buf || ferror(f) || n == 1 << 20) {
		fclose(f);
		free(buf);
		return vp_seterr(err, buf ? VP_E_FORMAT : VP_E_NOMEM,
				 "%s: unreadable or larger than 1 MiB", path);
	}
	fclose(f);
	rc = vp_config_parse(c, buf, n, path, err);
	free(buf);
	return rc;
}

int vp_config_write(const struct vp_config *c, FILE *f, struct vp_error *err)
{
	fprintf(f, "index:\n");
	if (c->type)
		fprintf(f, "  type: %s\n", vp_index_type_name(c->type));
	if (c->metric >= 0)
		fprintf(f, "  metric: %s\n", vp_metric_name(c->metric));
	for (int i = 0; i < VP_P_COUNT; i++)
		if ((c->params.set & (1u << i)) && vp_param_defs[i].stage == VP_STAGE_BUILD) {
			char v[32];
			fprintf(f, "  %s: %s\n", vp_param_defs[i].name,
				vp_param_str(i, c->params.val[i], v, sizeof v));
		}
	if (c->has_segment_size)
		fprintf(f, "  segment_size: %llu\n", (unsigned long long)c->segment_size);
	fprintf(f, "search:\n  k: %lld\n", (long long)c->k);
	for (int i = 0; i < VP_P_COUNT; i++)
		if ((c->params.set & (1u << i)) && vp_param_defs[i].stage == VP_STAGE_SEARCH)
			fprintf(f, "  %s: %lld\n", vp_param_defs[i].name,
				(long long)c->params.val[i]);
	fprintf(f, "  batch: %lld\n", (long long)c->batch);
	if (c->search_threads)
		fprintf(f, "  threads: %lld\n", (long long)c->search_threads);
	if (c->cache_dir[0])
		fprintf(f, "  cache_dir: \"%s\"\n", c->cache_dir);
	if (c->threads || c->cpus[0] || c->numa || c->huge_pages || c->preallocate) {
		fprintf(f, "hardware:\n");
		if (c->threads)
			fprintf(f, "  threads: %lld\n", (long long)c->threads);
		if (c->cpus[0])
			fprintf(f, "  cpus: \"%s\"\n", c->cpus);
		if (c->numa)
			fprintf(f, "  numa: %s\n", vp_numa_name(c->numa - 1));
		if (c->huge_pages)
			fprintf(f, "  huge_pages: %s\n", c->huge_pages == 2 ? "on" : "off");
		if (c->preallocate)
			fprintf(f, "  preallocate: %s\n", c->preallocate == 2 ? "true" : "false");
	}
	if (c->has_tune) {
		fprintf(f, "tune:\n  target_recall: %.4f\n", c->target_recall);
		if (c->tune_k)
			fprintf(f, "  k: %lld\n", (long long)c->tune_k);
		if (c->objective[0])
			fprintf(f, "  objective: %s\n", c->objective);
		fprintf(f, "  recall: %.4f\n", c->recall);
		if (c->recall_high > 0)
			fprintf(f, "  recall_low: %.4f\n  recall_high: %.4f\n"
				"  recall_needed: %.4f\n", c->recall_low, c->recall_high,
				c->recall_needed);
		if (c->evaluated_on[0])
			fprintf(f, "  evaluated_on: %s\n", c->evaluated_on);
		if (c->queries[0])
			fprintf(f, "  queries: %s\n", c->queries);
		fprintf(f, "  qps: %.1f\n  memory_bytes: %lld\n"
			"  build_seconds: %.3f\n  date: \"%s\"\n  data_count: %lld\n"
			"  data_dim: %lld\n  data_fingerprint: \"%s\"\n",
			c->qps, (long long)c->memory_bytes, c->build_seconds,
			c->date, (long long)c->data_count, (long long)c->data_dim,
			c->fingerprint);
		fprintf(f, "  intrinsic_dim: %.2f\n  explained_by_16_means: %.4f\n"
			"  sparsity: %.4f\n  duplicates: %lld\n", c->intrinsic_dim,
			c->explained16, c->sparsity, (long long)c->duplicates);
	}
	if (ferror(f))
		return vp_seterr_errno(err, VP_E_IO, errno, "write");
	return 0;
}
