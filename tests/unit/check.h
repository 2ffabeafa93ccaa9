/* check.h: the smallest table-friendly test harness.  CHECK counts; a
 * failure prints the file, line and a message; check_done() prints
 * "NAME: N passed, N failed" and returns the exit status. */
#ifndef CHECK_H
#define CHECK_H

#include <stdio.h>

static int check_pass, check_fail;

#define CHECK(cond, ...)                                                  \
	do {                                                              \
		if (cond) {                                               \
			check_pass++;                                     \
		} else {                                                  \
			check_fail++;                                     \
			printf("not ok: %s:%d: ", __FILE__, __LINE__);    \
			printf(__VA_ARGS__);                              \
			printf("\n");                                     \
		}                                                         \
	} while (0)

static inline int check_done(const char *name)
{
	printf("%s: %d passed, %d failed\n", name, check_pass, check_fail);
	return check_fail ? 1 : 0;
}

#endif
