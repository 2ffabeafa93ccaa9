/*
 * vp_json: a small JSON reader for the files vp writes itself (vp-bench
 * results used as a regression baseline).  Numbers are doubles; strings are
 * decoded (\uXXXX to UTF-8).
 */
#ifndef VP_JSON_H
#define VP_JSON_H

#include <stddef.h>

#include "vp_err.h"

enum vp_json_type {
	VP_JSON_NULL, VP_JSON_BOOL, VP_JSON_NUMBER, VP_JSON_STRING,
	VP_JSON_ARRAY, VP_JSON_OBJECT,
};

struct vp_json {
	enum vp_json_type type;
	double num;            /* NUMBER, BOOL (0/1) */
	char *str;             /* STRING */
	size_t n;              /* ARRAY, OBJECT: element count */
	char **keys;           /* OBJECT keys */
	struct vp_json *items; /* ARRAY and OBJECT values */
};

/* Parses text (len bytes) into *out.  Returns 0, VP_E_FORMAT with the line
 * and column in err, or VP_E_NOMEM.  name labels messages. */
int vp_json_parse(const char *text, size_t len, const char *name,
		  struct vp_json **out, struct vp_error *err);

/* Returns the member key of an object, or NULL. */
const struct vp_json *vp_json_get(const struct vp_json *obj, const char *key);

/* Frees a tree from vp_json_parse. */
void vp_json_free(struct vp_json *j);

#endif
