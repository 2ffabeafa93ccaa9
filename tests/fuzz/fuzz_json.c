/* The JSON reader (vp-bench --baseline files), and on what it accepts the
 * evidence reader of vp-diag --check and the rules over what it read. */
#include "fuzz.h"
#include <string.h>
#include "vp_json.h"
#include "vp_rules.h"

static struct vp_evidence ev;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
	struct vp_json *j = NULL;
	struct vp_error err = { 0 };
	struct vp_finding f[32];
	if (!vp_json_parse((const char *)data, n, "fuzz", &j, &err))
		vp_json_free(j);
	memset(&ev, 0, sizeof ev);
	ev.target_recall = 0.95;
	if (!vp_evidence_from_json(&ev, (const char *)data, n, "fuzz", &err))
		(void)vp_rules_run(&ev, f, 32);
	return 0;
}
