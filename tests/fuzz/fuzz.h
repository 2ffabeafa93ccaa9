/* fuzz.h: what the fuzz targets share.  Each target is a libFuzzer entry
 * point over one of vp's parsers; inputs that name a file are written to a
 * memfd and opened as /proc/self/fd/N, the way a user's file would be. */
#ifndef FUZZ_H
#define FUZZ_H

#define _GNU_SOURCE 1
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

/* Writes data to a fresh memfd; sets path to its /proc name.  Returns the
 * fd (close it after use), or -1. */
static int fuzz_file(const uint8_t *data, size_t n, char *path, size_t cap)
{
	int fd = memfd_create("vpfuzz", 0);
	size_t off = 0;
	if (fd < 0)
		return -1;
	while (off < n) {
		ssize_t w = write(fd, data + off, n - off);
		if (w <= 0) {
			close(fd);
			return -1;
		}
		off += (size_t)w;
	}
	snprintf(path, cap, "/proc/self/fd/%d", fd);
	return fd;
}

#endif
