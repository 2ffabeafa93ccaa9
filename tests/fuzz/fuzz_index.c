/* The index loader: open (every section's bounds), verify (checksums), the
 * per-type checks of opening for search, then a search on what loaded. */
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "fuzz.h"
#include "vp_edit.h"
#include "vp_index.h"
#include "vp_params.h"
#include "vp_search.h"

/* Most mutations break the header's or the table's xxHash64 and stop at
 * the first check; with them recomputed, mutations reach the section table
 * and every type's structure (section checksums are checked only by
 * vp_index_verify, which runs as well). */
static uint8_t *fix_checksums(const uint8_t *data, size_t n)
{
	uint8_t *b = malloc(n ? n : 1);
	uint64_t toff, h;
	uint32_t nsec;
	if (!b)
		return NULL;
	memcpy(b, data, n);
	if (n < VP_INDEX_HEADER_SIZE)
		return b;
	memcpy(&nsec, b + 36, 4);
	memcpy(&toff, b + 40, 8);
	if (toff <= n && (uint64_t)nsec * VP_INDEX_ENTRY_SIZE <= n - toff) {
		h = XXH64(b + toff, (size_t)nsec * VP_INDEX_ENTRY_SIZE, 0);
		memcpy(b + 176, &h, 8);
	}
	h = XXH64(b, 248, 0);
	memcpy(b + 248, &h, 8);
	return b;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
	struct vp_index ix;
	struct vp_searcher s;
	struct vp_error err = { 0 };
	char path[64];
	uint8_t *fixed = fix_checksums(data, n);
	int fd = fixed ? fuzz_file(fixed, n, path, sizeof path) : -1;
	free(fixed);
	if (fd < 0)
		return 0;
	if (!vp_index_open(&ix, path, &err)) {
		(void)vp_index_verify(&ix, &err);
		vp_index_close(&ix);
	}
	if (!vp_searcher_open(&s, path, 0, &err)) {
		struct vp_param_set ps;
		size_t d = s.ix.hdr.dim, k = 5;
		float *q = calloc(d ? d : 1, sizeof *q), dist[5];
		int64_t ids[5];
		vp_params_defaults(&ps);
		if (q)
			(void)vp_searcher_search(&s, q, 1, k, &ps, 1, dist, ids, &err);
		{
			/* the deletes' and upserts' view of the ids */
			struct vp_idloc *live;
			size_t nl;
			(void)vp_edit_nlive(&s);
			(void)vp_edit_next_id(&s);
			if (!vp_edit_live(&s, &live, &nl, &err))
				free(live);
		}
		free(q);
		vp_searcher_close(&s);
	}
	close(fd);
	return 0;
}
