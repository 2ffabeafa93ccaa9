/* The JSON reader (vp-bench --baseline files). */
#include "fuzz.h"
#include "vp_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
	struct vp_json *j = NULL;
	struct vp_error err = { 0 };
	if (!vp_json_parse((const char *)data, n, "fuzz", &j, &err))
		vp_json_free(j);
	return 0;
}
