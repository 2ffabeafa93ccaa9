/* vp_alog: LZ4-compressed blocks of access records. */
#include "vp_alog.h"

#include <errno.h>
#include <fcntl.h>
#include <lz4.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

int vp_alog_open(struct vp_alog *a, const char *path, struct vp_error *err)
{
	a->len = 0;
	a->buf = malloc(VP_ALOG_BLOCK);
	if (!a->buf)
		return vp_seterr(err, VP_E_NOMEM, "out of memory");
	a->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
	if (a->fd < 0) {
		free(a->buf);
		return vp_seterr_errno(err, VP_E_IO, errno, "%s", path);
	}
	return 0;
}

static int flush(struct vp_alog *a, struct vp_error *err)
{
	int bound = LZ4_compressBound((int)a->len);
	char *out;
	int n;
	uint32_t h[3];
	if (!a->len)
		return 0;
	out = malloc(12 + (size_t)bound);
	if (!out)
		return vp_seterr(err, VP_E_NOMEM, "out of memory");
	n = LZ4_compress_default((const char *)a->buf, out + 12, (int)a->len, bound);
	memcpy(h, "VPAL", 4);
	h[1] = (uint32_t)a->len;
	h[2] = (uint32_t)n;
	memcpy(out, h, 12);
	/* one write per block under the lock: appends never interleave */
	flock(a->fd, LOCK_EX);
	if (n <= 0 || write(a->fd, out, 12 + (size_t)n) != 12 + n) {
		int e = errno;
		flock(a->fd, LOCK_UN);
		free(out);
		return vp_seterr_errno(err, VP_E_IO, e, "access log: write");
	}
	flock(a->fd, LOCK_UN);
	free(out);
	a->len = 0;
	return 0;
}

int vp_alog_add(struct vp_alog *a, uint32_t query, uint16_t seg, uint16_t kind,
		const uint32_t *items, uint32_t count, struct vp_error *err)
{
	size_t need = 12 + (size_t)count * 4;
	int rc;
	if (need > VP_ALOG_BLOCK)
		count = (uint32_t)((VP_ALOG_BLOCK - 12) / 4), need = VP_ALOG_BLOCK;
	if (a->len + need > VP_ALOG_BLOCK && (rc = flush(a, err)))
		return rc;
	memcpy(a->buf + a->len, &query, 4);
	memcpy(a->buf + a->len + 4, &seg, 2);
	memcpy(a->buf + a->len + 6, &kind, 2);
	memcpy(a->buf + a->len + 8, &count, 4);
	if (count) /* items may be NULL when there are none (FLAT) */
		memcpy(a->buf + a->len + 12, items, (size_t)count * 4);
	a->len += need;
	return 0;
}

int vp_alog_close(struct vp_alog *a, struct vp_error *err)
{
	int rc = flush(a, err);
	if (close(a->fd) && !rc)
		rc = vp_seterr_errno(err, VP_E_IO, errno, "access log: close");
	free(a->buf);
	a->buf = NULL;
	return rc;
}

long vp_alog_read(const char *path,
		  void (*fn)(void *ctx, uint32_t query, uint16_t seg,
			     uint16_t kind, const uint32_t *items, uint32_t count),
		  void *ctx, struct vp_error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	unsigned char *raw = malloc(VP_ALOG_BLOCK);
	char *comp = malloc((size_t)LZ4_compressBound(VP_ALOG_BLOCK));
	uint32_t *items = malloc(VP_ALOG_BLOCK);
	long records = 0;
	uint64_t off = 0;

	if (fd < 0 || !raw || !comp || !items) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		free(raw); free(comp); free(items);
		return fd < 0 ? vp_seterr_errno(err, VP_E_IO, e, "%s", path)
			      : vp_seterr(err, VP_E_NOMEM, "out of memory");
	}
	for (;;) {
		uint32_t h[3];
		ssize_t got = read(fd, h, sizeof h);
		int n;
		if (got == 0)
			break;
		if (got != (ssize_t)sizeof h || memcmp(h, "VPAL", 4) || h[1] > VP_ALOG_BLOCK ||
		    h[2] > (uint32_t)LZ4_compressBound(VP_ALOG_BLOCK) ||
		    read(fd, comp, h[2]) != (ssize_t)h[2] ||
		    (n = LZ4_decompress_safe(comp, (char *)raw, (int)h[2], VP_ALOG_BLOCK)) != (int)h[1]) {
			records = vp_seterr(err, VP_E_FORMAT, "%s: bad access-log block at "
					    "offset %llu", path, (unsigned long long)off);
			break;
		}
		off += 12 + h[2];
		for (size_t p = 0; p + 12 <= h[1];) {
			uint32_t q, cnt;
			uint16_t seg, kind;
			memcpy(&q, raw + p, 4);
			memcpy(&seg, raw + p + 4, 2);
			memcpy(&kind, raw + p + 6, 2);
			memcpy(&cnt, raw + p + 8, 4);
			if (p + 12 + (size_t)cnt * 4 > h[1]) {
				records = vp_seterr(err, VP_E_FORMAT, "%s: bad access-log "
						    "record in block at offset %llu", path,
						    (unsigned long long)(off - 12 - h[2]));
				goto out;
			}
			memcpy(items, raw + p + 12, (size_t)cnt * 4);
			fn(ctx, q, seg, kind, items, cnt);
			records++;
			p += 12 + (size_t)cnt * 4;
		}
	}
out:
	close(fd);
	free(raw);
	free(comp);
	free(items);
	return records;
}
