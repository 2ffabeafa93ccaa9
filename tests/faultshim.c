/* faultshim: an LD_PRELOAD library of the tests (tests/190-iofault.bats)
 * that makes the Nth file-system call of a program fail, for I/O-fault
 * sweeps.  Counted calls: write and pwrite on regular files, fsync,
 * ftruncate, rename.
 *   VP_FAULT_AT=N      the Nth counted call fails (from 1); 0 or unset: none
 *   VP_FAULT_ERRNO=E   ENOSPC (default) or EIO
 *   VP_FAULT_SHORT=1   a write at N writes half and returns that instead
 *   VP_FAULT_COUNT=F   at exit, write the number of counted calls to file F */
#define _GNU_SOURCE 1
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

static long calls, at = -1;
static int err_no = ENOSPC, shortw;

static void setup(void)
{
	const char *s;
	if (at >= 0)
		return;
	at = (s = getenv("VP_FAULT_AT")) ? atol(s) : 0;
	if ((s = getenv("VP_FAULT_ERRNO")) && !strcmp(s, "EIO"))
		err_no = EIO;
	shortw = (s = getenv("VP_FAULT_SHORT")) && *s == '1';
}

__attribute__((destructor)) static void report(void)
{
	const char *s = getenv("VP_FAULT_COUNT");
	FILE *f;
	if (s && (f = fopen(s, "w"))) {
		fprintf(f, "%ld\n", calls);
		fclose(f);
	}
}

static int regular(int fd)
{
	struct stat st;
	return !fstat(fd, &st) && S_ISREG(st.st_mode);
}

/* 1: this call fails */
static int hit(void)
{
	setup();
	return ++calls == at;
}

ssize_t write(int fd, const void *b, size_t n)
{
	static ssize_t (*real)(int, const void *, size_t);
	if (!real)
		real = (ssize_t (*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
	if (regular(fd) && hit()) {
		if (shortw && n > 1)
			return real(fd, b, n / 2);
		errno = err_no;
		return -1;
	}
	return real(fd, b, n);
}

ssize_t pwrite(int fd, const void *b, size_t n, off_t off)
{
	static ssize_t (*real)(int, const void *, size_t, off_t);
	if (!real)
		real = (ssize_t (*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, "pwrite");
	if (regular(fd) && hit()) {
		if (shortw && n > 1)
			return real(fd, b, n / 2, off);
		errno = err_no;
		return -1;
	}
	return real(fd, b, n, off);
}

ssize_t pwrite64(int fd, const void *b, size_t n, off_t off)
{
	return pwrite(fd, b, n, off);
}

int fsync(int fd)
{
	static int (*real)(int);
	if (!real)
		real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
	if (hit()) {
		errno = err_no;
		return -1;
	}
	return real(fd);
}

int ftruncate(int fd, off_t len)
{
	static int (*real)(int, off_t);
	if (!real)
		real = (int (*)(int, off_t))dlsym(RTLD_NEXT, "ftruncate");
	if (hit()) {
		errno = err_no;
		return -1;
	}
	return real(fd, len);
}

int ftruncate64(int fd, off_t len)
{
	return ftruncate(fd, len);
}

int rename(const char *a, const char *b)
{
	static int (*real)(const char *, const char *);
	if (!real)
		real = (int (*)(const char *, const char *))dlsym(RTLD_NEXT, "rename");
	if (hit()) {
		errno = err_no;
		return -1;
	}
	return real(a, b);
}
