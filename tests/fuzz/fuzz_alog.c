/* The access log reader (LZ4 blocks of per-query records), and what
 * vp-warmup --cache reads from it: the most frequent query vectors. */
#include "fuzz.h"
#include <stdlib.h>
#include "vp_alog.h"
#include "vp_warm.h"

static void each(void *ctx, uint32_t query, uint16_t seg, uint16_t kind,
		 const uint32_t *items, uint32_t n)
{
	uint32_t *sum = ctx;
	*sum += query + seg + kind + n;
	for (uint32_t i = 0; i < n; i++)
		*sum += items[i];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
	struct vp_error err = { 0 };
	uint32_t sum = 0;
	char path[64];
	float *q = NULL;
	size_t nq, distinct, logged;
	int fd = fuzz_file(data, n, path, sizeof path);
	if (fd < 0)
		return 0;
	(void)vp_alog_read(path, each, &sum, &err);
	/* query vectors of dimension 8, as a small index would have */
	if (!vp_warm_top_queries(path, 8, 5, &q, &nq, &distinct, &logged, &err))
		free(q);
	close(fd);
	return 0;
}
