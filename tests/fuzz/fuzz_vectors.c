/* The vector readers: the first byte picks the format, the rest is the
 * file; every row is read. */
#include <stdlib.h>

#include "fuzz.h"
#include "vp_io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
	static const enum vp_vecfmt fmts[] = { VP_FMT_FVECS, VP_FMT_BVECS, VP_FMT_FBIN,
					       VP_FMT_U8BIN, VP_FMT_IVECS, VP_FMT_IBIN };
	struct vp_reader r;
	struct vp_error err = { 0 };
	char path[64];
	int fd;
	if (n < 1)
		return 0;
	fd = fuzz_file(data + 1, n - 1, path, sizeof path);
	if (fd < 0)
		return 0;
	if (!vp_reader_open(&r, path, fmts[data[0] % 6], &err)) {
		if (r.dim && r.dim <= 4096) {
			size_t cap = 64 * (size_t)r.dim;
			if (data[0] % 6 >= 4) {
				int32_t *buf = malloc(cap * sizeof *buf);
				while (buf && vp_reader_read_ints(&r, buf, 64, &err) > 0)
					;
				free(buf);
			} else {
				float *buf = malloc(cap * sizeof *buf);
				while (buf && vp_reader_read(&r, buf, 64, &err) > 0)
					;
				free(buf);
			}
		}
		vp_reader_close(&r);
	}
	close(fd);
	return 0;
}
