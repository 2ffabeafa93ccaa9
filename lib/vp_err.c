/* vp_err: message formatting for the generated error list. */
#include "vp_err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const descs[] = {
#define VP_X_DESC(name, cls, desc) desc,
	VP_ERROR_LIST(VP_X_DESC)
#undef VP_X_DESC
};

static const int classes[] = {
#define VP_X_CLS(name, cls, desc) cls,
	VP_ERROR_LIST(VP_X_CLS)
#undef VP_X_CLS
};

static int pos(int code)
{
	int p = -code;
	return (p >= 0 && p < VP_E_COUNT) ? p : VP_E_FORMAT_POS;
}

const char *vp_strerror(int code)
{
	return descs[pos(code)];
}

int vp_exit_code(int code)
{
	return code == 0 ? 0 : classes[pos(code)];
}

int vp_seterr(struct vp_error *err, int code, const char *fmt, ...)
{
	if (err) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof err->msg, fmt, ap);
		va_end(ap);
		err->code = code;
	}
	return code;
}

int vp_seterr_errno(struct vp_error *err, int code, int errno_value,
		    const char *fmt, ...)
{
	if (err) {
		va_list ap;
		size_t n;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof err->msg, fmt, ap);
		va_end(ap);
		n = strlen(err->msg);
		snprintf(err->msg + n, sizeof err->msg - n, ": %s",
			 strerror(errno_value));
		err->code = code;
	}
	return code;
}
