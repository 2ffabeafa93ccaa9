/* The access log reader (LZ4 blocks of per-query records). */
#include "fuzz.h"
#include "vp_alog.h"

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
	int fd = fuzz_file(data, n, path, sizeof path);
	if (fd < 0)
		return 0;
	(void)vp_alog_read(path, each, &sum, &err);
	close(fd);
	return 0;
}
