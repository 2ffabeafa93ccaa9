/*
 * vp_params: every tuning knob as a DEFAULT/MIN/MAX triple.
 *
 * The table drives option parsing (-p KEY=VAL), the YAML checker and the man
 * pages.  A parameter belongs to a stage (build or search) and to the index
 * types it applies to; setting one that does not apply is an error, never
 * silently ignored.
 */
#ifndef VP_PARAMS_H
#define VP_PARAMS_H

#include <stddef.h>
#include <stdint.h>

#include "vp_err.h"
#include "vp_hnsw.h"
#include "vp_ivf.h"

#define VP_K_DEFAULT 10
#define VP_K_MIN 1
#define VP_K_MAX 100000

#define VP_THREADS_MIN 1
#define VP_THREADS_MAX 1024

#define VP_BATCH_DEFAULT 4096 /* queries read and searched at a time */
#define VP_BATCH_MIN 1
#define VP_BATCH_MAX 1000000

#define VP_SEED_DEFAULT 42

enum vp_stage { VP_STAGE_BUILD = 1, VP_STAGE_SEARCH = 2 };

/* the bit of index type x; none for a type out of range (a recorded
 * run's JSON may name no known type: -1) */
#define VP_T(x) ((long long)(x) >= 0 && (long long)(x) < 32 ? 1u << (x) : 0u)
#define VP_TYPES_IVF (VP_T(2) | VP_T(3) | VP_T(4) | VP_T(6))

/* X(id, name, stage, types mask, default, min, max, what it trades) */
#define VP_PARAM_LIST(X)                                                      \
	X(NLIST, "nlist", VP_STAGE_BUILD, VP_TYPES_IVF, VP_IVF_NLIST_DEFAULT,  \
	  VP_IVF_NLIST_MIN, VP_IVF_NLIST_MAX,                                 \
	  "inverted lists (k-means centroids)")                               \
	X(PQ_M, "m", VP_STAGE_BUILD, VP_T(4) | VP_T(6), VP_PQ_M_DEFAULT,       \
	  VP_PQ_M_MIN, VP_PQ_M_MAX,                                           \
	  "PQ sub-quantizers (0: chosen from the dimension; SCANN d/4)")      \
	X(NBITS, "nbits", VP_STAGE_BUILD, VP_T(4), VP_PQ_NBITS_DEFAULT,        \
	  VP_PQ_NBITS_MIN, VP_PQ_NBITS_MAX,                                   \
	  "bits per PQ code")                                                 \
	X(HNSW_M, "M", VP_STAGE_BUILD, VP_T(5), VP_HNSW_M_DEFAULT,             \
	  VP_HNSW_M_MIN, VP_HNSW_M_MAX,                                       \
	  "HNSW links per node (2*M on level 0)")                             \
	X(EFC, "efConstruction", VP_STAGE_BUILD, VP_T(5), VP_HNSW_EFC_DEFAULT, \
	  VP_HNSW_EFC_MIN, VP_HNSW_EFC_MAX,                                   \
	  "HNSW candidate list while building")                               \
	X(NPROBE, "nprobe", VP_STAGE_SEARCH, VP_TYPES_IVF,                     \
	  VP_IVF_NPROBE_DEFAULT, VP_IVF_NPROBE_MIN, VP_IVF_NPROBE_MAX,        \
	  "inverted lists scanned per query")                                 \
	X(REFINE, "refine", VP_STAGE_SEARCH, VP_T(4) | VP_T(5),               \
	  VP_PQ_REFINE_DEFAULT, VP_PQ_REFINE_MIN, VP_PQ_REFINE_MAX,           \
	  "candidates re-ranked with exact distances (IVF_PQ 0: none; "       \
	  "HNSW 0: 1.5 x k or ef/4, whichever is larger)")                                                 \
	X(EF, "ef", VP_STAGE_SEARCH, VP_T(5), VP_HNSW_EF_DEFAULT,              \
	  VP_HNSW_EF_MIN, VP_HNSW_EF_MAX,                                     \
	  "HNSW candidate list while searching")                              \
	X(QUANT, "quant", VP_STAGE_BUILD, VP_T(2) | VP_T(5), VP_HNSW_QUANT_DEFAULT, \
	  VP_HNSW_QUANT_NONE, VP_HNSW_QUANT_SQ8,                              \
	  "8-bit codes that HNSW traverses with and IVF_FLAT screens its "    \
	  "rows with (answers exact either way): sq8, none, or auto (sq8 "    \
	  "from 64 dimensions)")                                              \
	X(KEEP, "keep", VP_STAGE_BUILD, VP_T(6), VP_SCANN_KEEP_ORIGINALS,      \
	  VP_SCANN_KEEP_ORIGINALS, VP_SCANN_KEEP_NONE,                        \
	  "SCANN: what the reorder re-ranks with: originals (float32), sq8 "  \
	  "(8-bit codes, 1/4 the size), none (no reorder)")                   \
	X(REORDER, "reorder_k", VP_STAGE_SEARCH, VP_T(6), VP_SCANN_REORDER_DEFAULT, \
	  VP_SCANN_REORDER_MIN, VP_SCANN_REORDER_MAX,                         \
	  "SCANN: candidates re-ranked exactly (0: 4 x k; at least k)")        \
	X(ANISO, "anisotropic", VP_STAGE_BUILD, VP_T(6), 0, 0, 999,            \
	  "SCANN: score-aware code assignment for threshold T, 0 <= T < 1 "   \
	  "(0: off; in thousandths in the header)")

enum vp_param_id {
#define VP_X_ID(id, ...) VP_P_##id,
	VP_PARAM_LIST(VP_X_ID)
#undef VP_X_ID
	VP_P_COUNT
};

struct vp_param_def {
	const char *name;
	int stage;
	unsigned types; /* bit t set: applies to index type t */
	int64_t def, min, max;
	const char *help;
};

extern const struct vp_param_def vp_param_defs[VP_P_COUNT];

/* A set of parameter values; unset ones read as their default. */
struct vp_param_set {
	int64_t val[VP_P_COUNT];
	uint32_t set; /* bit i: val[i] was given */
};

/* Fills every value with its default. */
void vp_params_defaults(struct vp_param_set *ps);

/* Parses "KEY=VAL" for an index type and stage into ps.  Returns 0, or
 * VP_E_ARG for an unknown key, a key that does not apply to the type or
 * stage, a malformed or out-of-range value. */
int vp_params_parse(struct vp_param_set *ps, const char *kv, int type,
		    int stage, struct vp_error *err);

/* Checks one value against its bounds and applicability. */
int vp_params_set(struct vp_param_set *ps, const char *key, int64_t val,
		  int type, int stage, struct vp_error *err);

/* Parses a value of parameter id: an integer, or a name the parameter
 * defines (quant: none, sq8).  Returns 0 or VP_E_ARG. */
int vp_param_value(int id, const char *s, int64_t *out);

/* The values' names of parameter id, ", " between them, into buf
 * ("" when it has none).  Returns buf. */
const char *vp_param_names(int id, char *buf, size_t cap);

/* A fixed-point parameter's scale (anisotropic: T is kept as 1000 T),
 * 1 for the others: vp_param_value parses a decimal and vp_param_str
 * writes one. */
int vp_param_scale(int id);

/* The name of a value of parameter id, or NULL when it has none. */
const char *vp_param_value_name(int id, int64_t v);

/* Writes value v of parameter id as it is read back: its name, else the
 * integer.  Returns buf. */
const char *vp_param_str(int id, int64_t v, char *buf, size_t cap);

/* Returns the id of a key, or -1. */
int vp_param_lookup(const char *key);

/* Parses a whole decimal integer in [min, max] with an optional k/m/g
 * suffix (powers of 1000).  Returns 0 or VP_E_ARG. */
int vp_parse_int(const char *s, int64_t min, int64_t max, int64_t *out);

#endif
