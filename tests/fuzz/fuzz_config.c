/* vp.yaml: load and check, then write back what was read. */
#include <stdio.h>

#include "fuzz.h"
#include "vp_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
	struct vp_config c;
	struct vp_error err = { 0 };
	char path[64];
	int fd = fuzz_file(data, n, path, sizeof path);
	if (fd < 0)
		return 0;
	vp_config_init(&c);
	if (!vp_config_load(&c, path, &err)) {
		FILE *f = fopen("/dev/null", "w");
		if (f) {
			vp_config_write(&c, f, &err);
			fclose(f);
		}
	}
	close(fd);
	return 0;
}
