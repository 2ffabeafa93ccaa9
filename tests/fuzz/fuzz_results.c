/* vp-merge's reader of result streams (tsv and json as vp-search writes
 * them), a group at a time, as vp-merge reads two of them in step. */
#include <stdlib.h>

#include "fuzz.h"
#include "vp_merge.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
	struct vp_rstream rs;
	struct vp_error err = { 0 };
	FILE *f = fmemopen((void *)data, n ? n : 1, "r");
	float dist[8];
	int64_t ids[8];
	uint64_t q = 0;
	size_t got;
	if (!f)
		return 0;
	if (n && !vp_rstream_open(&rs, f, "fuzz", &err)) {
		for (int i = 0; i < 100000; i++) {
			uint64_t p;
			if (vp_rstream_peek(&rs, &p, &err) <= 0 ||
			    vp_rstream_next(&rs, &q, dist, ids, 8, &got, &err) <= 0)
				break;
		}
		vp_rstream_release(&rs);
	}
	fclose(f);
	return 0;
}
