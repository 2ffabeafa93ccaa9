/*
 * vp_err: the one error list of libvp.
 *
 * The library never prints and never exits.  Every fallible function returns
 * 0 (or a count) on success and a negative VP_E_* code on failure, and fills
 * the caller's struct vp_error with a lowercase message that names the file
 * and what is wrong ("a.fvecs: truncated record at row 12 (offset 39424)").
 */
#ifndef VP_ERR_H
#define VP_ERR_H

#include <stddef.h>

/* X(name, exit-code class, description): one list generates enum and strings. */
#define VP_ERROR_LIST(X)                                   \
	X(OK,       0, "success")                          \
	X(NOMEM,    4, "out of memory")                    \
	X(IO,       4, "input/output error")               \
	X(ARG,      2, "invalid argument")                 \
	X(FORMAT,   3, "bad data or format")               \
	X(DIM,      3, "dimension mismatch")               \
	X(VALUE,    3, "invalid value (NaN or infinity)")  \
	X(CORRUPT,  3, "corrupt index file")               \
	X(VERSION,  3, "unsupported index version")        \
	X(UNSUPP,   2, "not supported")

enum vp_errcode {
#define VP_X_ENUM(name, cls, desc) VP_E_##name##_POS,
	VP_ERROR_LIST(VP_X_ENUM)
#undef VP_X_ENUM
	VP_E_COUNT
};

/* Negative codes as returned by the library. */
#define VP_E_OK       0
#define VP_E_NOMEM   (-VP_E_NOMEM_POS)
#define VP_E_IO      (-VP_E_IO_POS)
#define VP_E_ARG     (-VP_E_ARG_POS)
#define VP_E_FORMAT  (-VP_E_FORMAT_POS)
#define VP_E_DIM     (-VP_E_DIM_POS)
#define VP_E_VALUE   (-VP_E_VALUE_POS)
#define VP_E_CORRUPT (-VP_E_CORRUPT_POS)
#define VP_E_VERSION (-VP_E_VERSION_POS)
#define VP_E_UNSUPP  (-VP_E_UNSUPP_POS)

#define VP_ERRMSG_SIZE 512

struct vp_error {
	int code;                 /* last negative code, 0 when none */
	char msg[VP_ERRMSG_SIZE]; /* detail, lowercase, no trailing newline */
};

/* Records code and a printf-style message in err (which may be NULL).
 * Returns code, so that "return vp_seterr(err, VP_E_IO, ...)" reads well. */
int vp_seterr(struct vp_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Like vp_seterr, appending ": strerror(errno_value)". */
int vp_seterr_errno(struct vp_error *err, int code, int errno_value,
		    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Returns the fixed description of a (negative) code. */
const char *vp_strerror(int code);

/* Returns the exit status the command-line tools use for a (negative) code:
 * 2 usage, 3 bad data or format, 4 I/O. */
int vp_exit_code(int code);

#endif
