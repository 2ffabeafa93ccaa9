/*
 * vp_filter: attribute filters for filtered search ("hybrid search").
 *
 * Grammar (whitespace anywhere between tokens):
 *   expr  := or
 *   or    := and ( "||" and )*
 *   and   := unary ( "&&" unary )*
 *   unary := "!" unary | "(" expr ")" | cmp
 *   cmp   := field op INT | field "in" "{" INT ( "," INT )* "}"
 *   field := "label" | "id"
 *   op    := "==" | "!=" | "<" | "<=" | ">" | ">="
 * A parse error names the column (from 1) where it happened.
 */
#ifndef VP_FILTER_H
#define VP_FILTER_H

#include <stddef.h>
#include <stdint.h>

#include "vp_err.h"

enum vp_fnode_kind {
	VP_F_OR, VP_F_AND, VP_F_NOT, VP_F_CMP, VP_F_IN,
};

enum vp_ffield { VP_F_LABEL = 0, VP_F_ID = 1 };
enum vp_fop { VP_F_EQ, VP_F_NE, VP_F_LT, VP_F_LE, VP_F_GT, VP_F_GE };

struct vp_fnode {
	int kind;
	int field, op;
	int64_t value;
	int64_t *set;   /* VP_F_IN, sorted */
	size_t nset;
	int a, b;       /* children (indices into the node array), -1 none */
};

struct vp_filter {
	struct vp_fnode *nodes;
	size_t n, cap;
	int root;
};

/* At most this many nodes (terms and operators) in one expression. */
#define VP_FILTER_MAX_NODES 4096

/* Parses expr into f.  Returns 0, or VP_E_ARG with "filter: column N: ..." */
int vp_filter_parse(struct vp_filter *f, const char *expr, struct vp_error *err);

/* Does the filter read the label field (and so need the index's labels)? */
int vp_filter_uses_labels(const struct vp_filter *f);

/* Evaluates the filter for one row. */
int vp_filter_match(const struct vp_filter *f, int32_t label, int64_t id);

/* Estimates the fraction of rows that match, from a label histogram
 * (hist[i] rows have label lo + i, i < nh) and the id range [0, n): exact
 * when labels do not depend on ids; for expressions with thousands of
 * constants on both fields, clauses are taken as independent instead. */
double vp_filter_selectivity(const struct vp_filter *f, const uint64_t *hist,
			     size_t nh, int32_t lo, uint64_t n);

/* A hash of the parsed expression, for cache keys: equal for texts that
 * differ only in spaces, parentheses, the order of the operands of && and
 * || or of an 'in' list, and repeats ("label==3" and "(label == 3)", "a &&
 * b" and "b && a", "label in {1,2}" and "label in {2,1,1}"). */
uint64_t vp_filter_hash(const struct vp_filter *f);

void vp_filter_release(struct vp_filter *f);

/* A filter bound to one segment: its labels (NULL: every label is 0), the
 * external id of its first row, and when the segment's rows are stored in
 * another order than the ids (a reordered graph), each row's offset from
 * id_base (NULL: the row number itself).  dead is the segment's tombstone
 * bitmap by offset (NULL: none deleted) and ext its id map by offset
 * (NULL: the id is id_base + offset).  f NULL passes every live row: a
 * search of an index with deletes runs as a filtered one. */
struct vp_fctx {
	const struct vp_filter *f;
	const int32_t *labels;
	int64_t id_base;
	const uint32_t *rowid;
	const uint64_t *dead;
	const int64_t *ext;
};

/* Does row (of the segment) pass?  A NULL context passes everything. */
static inline int vp_fctx_match(const struct vp_fctx *c, size_t row)
{
	size_t off;
	if (!c)
		return 1;
	off = c->rowid ? c->rowid[row] : row;
	if (c->dead && (c->dead[off >> 6] >> (off & 63) & 1))
		return 0;
	return !c->f || vp_filter_match(c->f, c->labels ? c->labels[row] : 0,
					c->ext ? c->ext[off] : c->id_base + (int64_t)off);
}

#endif
