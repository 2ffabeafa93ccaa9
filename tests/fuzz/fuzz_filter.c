/* The filter grammar: parse, evaluate, hash, estimate.  The kind of bug it
 * is here for: issue 15's use-after-free, which needed more than 8 nodes. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "vp_filter.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
	struct vp_filter f;
	struct vp_error err = { 0 };
	char *s = malloc(n + 1);
	static const uint64_t hist[5] = { 3, 0, 7, 1, 2 };
	if (!s)
		return 0;
	memcpy(s, data, n);
	s[n] = 0;
	if (!vp_filter_parse(&f, s, &err)) {
		int64_t ids[] = { 0, 1, 5, -1, INT64_MAX, INT64_MIN };
		int32_t labels[] = { 0, -3, 2, INT32_MAX, INT32_MIN };
		for (size_t i = 0; i < sizeof ids / sizeof *ids; i++)
			for (size_t j = 0; j < sizeof labels / sizeof *labels; j++)
				vp_filter_match(&f, labels[j], ids[i]);
		(void)vp_filter_hash(&f);
		(void)vp_filter_selectivity(&f, hist, 5, -1, 100);
		vp_filter_release(&f);
	}
	free(s);
	return 0;
}
