/* vp_json: recursive-descent parser with a depth limit (hostile input). */
#include "vp_json.h"

#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 64

struct parser {
	const char *s, *end, *name, *start;
	struct vp_error *err;
	int depth;
};

static int fail(struct parser *p, const char *what)
{
	int line = 1, col = 1;
	for (const char *c = p->start; c < p->s; c++) {
		if (*c == '\n')
			line++, col = 1;
		else
			col++;
	}
	return vp_seterr(p->err, VP_E_FORMAT, "%s:%d:%d: %s", p->name, line,
			 col, what);
}

static void ws(struct parser *p)
{
	while (p->s < p->end && (*p->s == ' ' || *p->s == '\t' ||
				 *p->s == '\n' || *p->s == '\r'))
		p->s++;
}

static int value(struct parser *p, struct vp_json *v);

static int string(struct parser *p, char **out)
{
	size_t cap = 16, n = 0;
	char *b = malloc(cap);
	if (!b)
		return VP_E_NOMEM;
	p->s++; /* opening quote */
	while (p->s < p->end && *p->s != '"') {
		unsigned c = (unsigned char)*p->s++;
		char enc[4];
		int el = 1;
		if (c < 0x20) {
			free(b);
			return fail(p, "control character in string");
		}
		if (c == '\\') {
			if (p->s >= p->end)
				break;
			c = (unsigned char)*p->s++;
			switch (c) {
			case 'n': c = '\n'; break;
			case 't': c = '\t'; break;
			case 'r': c = '\r'; break;
			case 'b': c = '\b'; break;
			case 'f': c = '\f'; break;
			case '"': case '\\': case '/': break;
			case 'u': {
				unsigned u = 0;
				for (int i = 0; i < 4; i++) {
					char h = p->s < p->end ? *p->s++ : 0;
					u <<= 4;
					if (h >= '0' && h <= '9') u |= (unsigned)(h - '0');
					else if (h >= 'a' && h <= 'f') u |= (unsigned)(h - 'a' + 10);
					else if (h >= 'A' && h <= 'F') u |= (unsigned)(h - 'A' + 10);
					else {
						free(b);
						return fail(p, "bad \\u escape");
					}
				}
				if (u < 0x80) enc[0] = (char)u;
				else if (u < 0x800) {
					enc[0] = (char)(0xc0 | u >> 6);
					enc[1] = (char)(0x80 | (u & 0x3f));
					el = 2;
				} else {
					enc[0] = (char)(0xe0 | u >> 12);
					enc[1] = (char)(0x80 | ((u >> 6) & 0x3f));
					enc[2] = (char)(0x80 | (u & 0x3f));
					el = 3;
				}
				c = 0x100; /* marker: enc holds it */
				break;
			}
			default:
				free(b);
				return fail(p, "bad escape in string");
			}
		}
		if (c != 0x100)
			enc[0] = (char)c;
		if (n + 4 >= cap) {
			char *nb = realloc(b, cap *= 2);
			if (!nb) {
				free(b);
				return VP_E_NOMEM;
			}
			b = nb;
		}
		memcpy(b + n, enc, (size_t)el);
		n += (size_t)el;
	}
	if (p->s >= p->end) {
		free(b);
		return fail(p, "unterminated string");
	}
	p->s++;
	b[n] = 0;
	*out = b;
	return 0;
}

static int push(struct vp_json *v, size_t *cap)
{
	if (v->n == *cap) {
		size_t nc = *cap ? *cap * 2 : 4;
		struct vp_json *ni = realloc(v->items, nc * sizeof *ni);
		if (!ni)
			return VP_E_NOMEM;
		v->items = ni;
		if (v->type == VP_JSON_OBJECT) {
			char **nk = realloc(v->keys, nc * sizeof *nk);
			if (!nk)
				return VP_E_NOMEM;
			v->keys = nk;
		}
		*cap = nc;
	}
	memset(&v->items[v->n], 0, sizeof v->items[0]);
	return 0;
}

static int container(struct parser *p, struct vp_json *v, char close)
{
	size_t cap = 0;
	int rc;
	if (++p->depth > MAX_DEPTH)
		return fail(p, "nesting too deep");
	p->s++;
	ws(p);
	if (p->s < p->end && *p->s == close) {
		p->s++;
		p->depth--;
		return 0;
	}
	for (;;) {
		if ((rc = push(v, &cap)))
			return rc;
		ws(p);
		if (close == '}') {
			if (p->s >= p->end || *p->s != '"')
				return fail(p, "expected a string key");
			if ((rc = string(p, &v->keys[v->n])))
				return rc;
			ws(p);
			if (p->s >= p->end || *p->s != ':') {
				free(v->keys[v->n]);
				return fail(p, "expected ':'");
			}
			p->s++;
		}
		rc = value(p, &v->items[v->n]);
		v->n++;
		if (rc)
			return rc;
		ws(p);
		if (p->s < p->end && *p->s == ',') {
			p->s++;
			continue;
		}
		if (p->s < p->end && *p->s == close) {
			p->s++;
			p->depth--;
			return 0;
		}
		return fail(p, close == '}' ? "expected ',' or '}'"
					    : "expected ',' or ']'");
	}
}

static int value(struct parser *p, struct vp_json *v)
{
	ws(p);
	if (p->s >= p->end)
		return fail(p, "unexpected end of input");
	switch (*p->s) {
	case '{':
		v->type = VP_JSON_OBJECT;
		return container(p, v, '}');
	case '[':
		v->type = VP_JSON_ARRAY;
		return container(p, v, ']');
	case '"':
		v->type = VP_JSON_STRING;
		return string(p, &v->str);
	}
	if (p->end - p->s >= 4 && !memcmp(p->s, "true", 4)) {
		v->type = VP_JSON_BOOL, v->num = 1, p->s += 4;
		return 0;
	}
	if (p->end - p->s >= 5 && !memcmp(p->s, "false", 5)) {
		v->type = VP_JSON_BOOL, p->s += 5;
		return 0;
	}
	if (p->end - p->s >= 4 && !memcmp(p->s, "null", 4)) {
		v->type = VP_JSON_NULL, p->s += 4;
		return 0;
	}
	{
		char buf[64], *e;
		size_t n = 0;
		while (p->s + n < p->end && n < sizeof buf - 1 &&
		       strchr("+-0123456789.eE", p->s[n]))
			n++;
		memcpy(buf, p->s, n);
		buf[n] = 0;
		v->num = strtod(buf, &e);
		if (n == 0 || e != buf + n)
			return fail(p, "unexpected character");
		v->type = VP_JSON_NUMBER;
		p->s += n;
	}
	return 0;
}

int vp_json_parse(const char *text, size_t len, const char *name,
		  struct vp_json **out, struct vp_error *err)
{
	struct parser p = { text, text + len, name, text, err, 0 };
	struct vp_json *v = calloc(1, sizeof *v);
	int rc;
	if (!v)
		return vp_seterr(err, VP_E_NOMEM, "out of memory");
	rc = value(&p, v);
	if (!rc) {
		ws(&p);
		if (p.s != p.end)
			rc = fail(&p, "trailing data after the JSON value");
	}
	if (rc) {
		if (rc == VP_E_NOMEM)
			vp_seterr(err, rc, "%s: out of memory", name);
		vp_json_free(v);
		return rc;
	}
	*out = v;
	return 0;
}

const struct vp_json *vp_json_get(const struct vp_json *o, const char *key)
{
	if (!o || o->type != VP_JSON_OBJECT)
		return NULL;
	for (size_t i = 0; i < o->n; i++)
		if (!strcmp(o->keys[i], key))
			return &o->items[i];
	return NULL;
}

static void clear(struct vp_json *j)
{
	for (size_t i = 0; i < j->n; i++) {
		clear(&j->items[i]);
		if (j->keys)
			free(j->keys[i]);
	}
	free(j->items);
	free(j->keys);
	free(j->str);
}

void vp_json_free(struct vp_json *j)
{
	if (j) {
		clear(j);
		free(j);
	}
}
