/*
 * vp_io: readers and writers for the *vecs and *bin vector layouts.
 *
 * Files and streams are read the same way, with read(2) into a buffer of
 * STREAM_CHUNK or more, so both share one set of checks.  Not mmap: rows
 * are copied out anyway, and on a virtual machine the page faults of a
 * mapping cost more than the copy from the page cache (vp-search spent
 * 2.7 us a query reading a mapped fvecs of Fashion-MNIST, 1 us with read).
 * A regular file's size is still known, so its row count is.
 */
#include "vp_io.h"

/* Biased float exponent of 2^50: values from there up are refused. */
#define VP_VALUE_EXP_MAX (127u + 50u)

#include <errno.h>
#include <math.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vp_hdf5.h"

#define STREAM_CHUNK (1u << 20)

static const char *const fmt_names[] = {
	"auto", "fvecs", "bvecs", "ivecs", "fbin", "u8bin", "ibin", "hdf5",
};

enum vp_vecfmt vp_vecfmt_parse(const char *s)
{
	for (int i = 1; i < (int)(sizeof fmt_names / sizeof *fmt_names); i++)
		if (s && !strcmp(s, fmt_names[i]))
			return (enum vp_vecfmt)i;
	return VP_FMT_AUTO;
}

const char *vp_vecfmt_name(enum vp_vecfmt fmt)
{
	return fmt_names[(unsigned)fmt < sizeof fmt_names / sizeof *fmt_names ? fmt : 0];
}

static enum vp_vecfmt fmt_from_name(const char *path)
{
	const char *dot = path ? strrchr(path, '.') : NULL;
	enum vp_vecfmt f = dot ? vp_vecfmt_parse(dot + 1) : VP_FMT_AUTO;
	return f == VP_FMT_AUTO ? VP_FMT_FVECS : f;
}

static int is_bin(enum vp_vecfmt f)
{
	return f == VP_FMT_FBIN || f == VP_FMT_U8BIN || f == VP_FMT_IBIN;
}

static size_t elem_size(enum vp_vecfmt f)
{
	return (f == VP_FMT_BVECS || f == VP_FMT_U8BIN) ? 1 : 4;
}

static size_t row_bytes(const struct vp_reader *r)
{
	return (is_bin(r->fmt) ? 0 : 4) + (size_t)r->dim * elem_size(r->fmt);
}

/* Makes at least need bytes available at buf+off unless the input ends
 * first; returns the number available. */
static long fill(struct vp_reader *r, size_t need, struct vp_error *err)
{
	if (r->len - r->off >= need)
		return (long)(r->len - r->off);
	if (r->off) {
		memmove(r->buf, r->buf + r->off, r->len - r->off);
		r->len -= r->off;
		r->off = 0;
	}
	if (need > r->cap) {
		size_t cap = need > 2 * r->cap ? need : 2 * r->cap;
		if (cap < STREAM_CHUNK)
			cap = STREAM_CHUNK;
		unsigned char *b = realloc(r->buf, cap);
		if (!b)
			return vp_seterr(err, VP_E_NOMEM, "%s: out of memory",
					 r->name);
		r->buf = b;
		r->cap = cap;
	}
	while (!r->eof && r->len < need) {
		ssize_t got = read(r->fd, r->buf + r->len, r->cap - r->len);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			return vp_seterr_errno(err, VP_E_IO, errno, "%s: read",
					       r->name);
		}
		if (got == 0)
			r->eof = 1;
		r->len += (size_t)got;
	}
	return (long)(r->len - r->off);
}

static uint32_t get_u32(const unsigned char *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

static int check_dim(struct vp_reader *r, int64_t d, struct vp_error *err)
{
	if (d <= 0 || d > (int64_t)VP_DIM_MAX)
		return vp_seterr(err, VP_E_FORMAT,
				 "%s: invalid dimension %lld in the first record "
				 "(expected 1..%u; is this a %s file?)",
				 r->name, (long long)d, VP_DIM_MAX,
				 vp_vecfmt_name(r->fmt));
	r->dim = (uint32_t)d;
	return 0;
}

int vp_reader_open(struct vp_reader *r, const char *path, enum vp_vecfmt fmt,
		   struct vp_error *err)
{
	struct stat st;
	long avail;
	int rc;

	memset(r, 0, sizeof *r);
	r->count = UINT64_MAX;
	if (fmt == VP_FMT_HDF5 || (fmt == VP_FMT_AUTO && vp_hdf5_spec(path))) {
		r->fd = -1;
		r->fmt = VP_FMT_HDF5;
		return vp_hdf5_open(r, path, err);
	}
	if (!path || !strcmp(path, "-")) {
		r->name = "<stdin>";
		r->fd = 0;
		r->fmt = fmt ? fmt : VP_FMT_FVECS;
	} else {
		r->name = path;
		r->fd = open(path, O_RDONLY | O_CLOEXEC);
		if (r->fd < 0)
			return vp_seterr_errno(err, VP_E_IO, errno, "%s", path);
		r->own_fd = 1;
		r->fmt = fmt ? fmt : fmt_from_name(path);
	}
	if (fstat(r->fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		rc = vp_seterr(err, VP_E_IO, "%s: is a directory", r->name);
		goto fail;
	}
	if (fstat(r->fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
		r->sized = 1;
		r->total_bytes = (uint64_t)st.st_size;
		posix_fadvise(r->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	}
	avail = fill(r, is_bin(r->fmt) ? 8 : 4, err);
	if (avail < 0) {
		rc = (int)avail;
		goto fail;
	}
	if (avail == 0) { /* empty input: no rows, no dimension */
		r->count = 0;
		return 0;
	}
	if (is_bin(r->fmt)) {
		uint64_t n, need;
		if (avail < 8) {
			rc = vp_seterr(err, VP_E_FORMAT,
				       "%s: truncated %s header (%ld bytes)",
				       r->name, vp_vecfmt_name(r->fmt), avail);
			goto fail;
		}
		n = get_u32(r->buf + r->off);
		if (n > 0 && (rc = check_dim(r, get_u32(r->buf + r->off + 4), err)))
			goto fail;
		if (n == 0)
			r->dim = get_u32(r->buf + r->off + 4);
		r->off += 8;
		r->consumed = 8;
		r->count = n;
		need = 8 + n * row_bytes(r);
		if (r->sized && need != r->total_bytes) {
			rc = vp_seterr(err, VP_E_FORMAT,
				       "%s: header says %llu rows of dimension %u "
				       "(%llu bytes), but the file has %llu bytes",
				       r->name, (unsigned long long)n, r->dim,
				       (unsigned long long)need,
				       (unsigned long long)r->total_bytes);
			goto fail;
		}
		return 0;
	}
	if (avail < 4) {
		rc = vp_seterr(err, VP_E_FORMAT,
			       "%s: truncated record at row 0 (offset 0)", r->name);
		goto fail;
	}
	if ((rc = check_dim(r, (int32_t)get_u32(r->buf + r->off), err)))
		goto fail;
	if (r->sized && r->total_bytes % row_bytes(r) == 0)
		r->count = r->total_bytes / row_bytes(r);
	return 0;
fail:
	vp_reader_close(r);
	return rc;
}

/* Returns a pointer to the next row's values, NULL at a clean end, or sets
 * *rc to an error. */
static const unsigned char *next_row(struct vp_reader *r, int *rc,
				     struct vp_error *err)
{
	size_t rb = row_bytes(r);
	long avail;
	const unsigned char *p;

	*rc = 0;
	if (r->dim == 0)
		return NULL;
	if (is_bin(r->fmt) && r->row == r->count) {
		avail = fill(r, 1, err);
		if (avail > 0)
			*rc = vp_seterr(err, VP_E_FORMAT,
					"%s: unexpected data after %llu rows "
					"(offset %llu)", r->name,
					(unsigned long long)r->count,
					(unsigned long long)r->consumed);
		else if (avail < 0)
			*rc = (int)avail;
		return NULL;
	}
	avail = fill(r, rb, err);
	if (avail < 0) {
		*rc = (int)avail;
		return NULL;
	}
	if (avail == 0 && !is_bin(r->fmt))
		return NULL;
	if (!is_bin(r->fmt) && avail >= 4) {
		int32_t d = (int32_t)get_u32(r->buf + r->off);
		if (d != (int32_t)r->dim) {
			*rc = vp_seterr(err, VP_E_DIM,
					"%s: row %llu has dimension %d, expected %u "
					"(offset %llu)", r->name,
					(unsigned long long)r->row, d, r->dim,
					(unsigned long long)r->consumed);
			return NULL;
		}
	}
	if ((size_t)avail < rb) {
		*rc = vp_seterr(err, VP_E_FORMAT,
				"%s: truncated record at row %llu (offset %llu: "
				"%ld of %zu bytes)", r->name,
				(unsigned long long)r->row,
				(unsigned long long)r->consumed, avail, rb);
		return NULL;
	}
	p = r->buf + r->off + (is_bin(r->fmt) ? 0 : 4);
	r->off += rb;
	r->consumed += rb;
	return p;
}

int vp_reader_check(const struct vp_reader *r, const float *rows, size_t n,
		    size_t d, struct vp_error *err)
{
	uint32_t bad = 0;
	/* the biased exponent: 255 is NaN or infinity; from VP_VALUE_EXP_MAX
	 * (|v| >= 2^50) up, squared distances of 65536 dimensions could
	 * overflow float to inf */
	for (size_t j = 0; j < n * d; j++) {
		uint32_t u;
		memcpy(&u, rows + j, 4);
		bad |= ((u >> 23) & 0xffu) >= VP_VALUE_EXP_MAX;
	}
	if (!bad)
		return 0;
	for (size_t j = 0; j < n * d; j++) {
		uint32_t u;
		memcpy(&u, rows + j, 4);
		if (((u >> 23) & 0xffu) < VP_VALUE_EXP_MAX)
			continue;
		if (((u >> 23) & 0xffu) == 0xffu)
			return vp_seterr(err, VP_E_VALUE, "%s: NaN or infinity at row %llu, "
					 "column %zu", r->name,
					 (unsigned long long)(r->row + j / d), j % d);
		return vp_seterr(err, VP_E_VALUE, "%s: value %g at row %llu, column %zu "
				 "is too large (at most 2^50 in magnitude: squared "
				 "distances would overflow)", r->name, (double)rows[j],
				 (unsigned long long)(r->row + j / d), j % d);
	}
	return 0;
}

long vp_reader_read(struct vp_reader *r, float *out, size_t max_rows,
		    struct vp_error *err)
{
	size_t got = 0, d = r->dim;
	int rc;

	if (r->fmt == VP_FMT_HDF5)
		return vp_hdf5_read(r, out, max_rows, 0, err);
	if (r->fmt == VP_FMT_IVECS || r->fmt == VP_FMT_IBIN)
		return vp_seterr(err, VP_E_FORMAT,
				 "%s: %s holds integer ids, not vectors",
				 r->name, vp_vecfmt_name(r->fmt));
	while (got < max_rows) {
		const unsigned char *p = next_row(r, &rc, err);
		float *o = out + got * d;
		if (!p) {
			if (rc)
				return rc;
			break;
		}
		if (elem_size(r->fmt) == 1) {
			for (size_t j = 0; j < d; j++)
				o[j] = (float)p[j];
		} else {
			memcpy(o, p, d * sizeof(float));
			if ((rc = vp_reader_check(r, o, 1, d, err)))
				return rc;
		}
		r->row++;
		got++;
	}
	return (long)got;
}

long vp_reader_read_ints(struct vp_reader *r, int32_t *out, size_t max_rows,
			 struct vp_error *err)
{
	size_t got = 0, d = r->dim;
	int rc;

	if (r->fmt == VP_FMT_HDF5)
		return vp_hdf5_read(r, out, max_rows, 1, err);
	if (r->fmt != VP_FMT_IVECS && r->fmt != VP_FMT_IBIN)
		return vp_seterr(err, VP_E_FORMAT,
				 "%s: expected ivecs or ibin, not %s", r->name,
				 vp_vecfmt_name(r->fmt));
	while (got < max_rows) {
		const unsigned char *p = next_row(r, &rc, err);
		if (!p) {
			if (rc)
				return rc;
			break;
		}
		memcpy(out + got * d, p, d * sizeof(int32_t));
		r->row++;
		got++;
	}
	return (long)got;
}

void vp_reader_close(struct vp_reader *r)
{
	vp_hdf5_close(r);
	free(r->buf);
	if (r->own_fd && r->fd >= 0)
		close(r->fd);
	r->buf = NULL;
	r->fd = -1;
	r->own_fd = r->sized = 0;
}

/* Reads every row through reader r into a growing array of elem-sized
 * values; shared by the float and int variants. */
static int read_all(const char *path, enum vp_vecfmt fmt, int ints, void **out,
		    size_t *n, uint32_t *dim, struct vp_error *err)
{
	struct vp_reader r;
	size_t cap, have = 0, batch;
	char *data = NULL;
	int known, rc = vp_reader_open(&r, path, fmt, err);

	if (rc)
		return rc;
	*dim = r.dim;
	if (r.dim == 0) {
		vp_reader_close(&r);
		*out = NULL;
		*n = 0;
		return 0;
	}
	batch = 4096;
	/* a known count gets one spare row, so the read that finds the end
	 * needs no growth: a doubling realloc of a large array moves it, and
	 * its first use afterwards pays for the move page by page */
	known = r.count != UINT64_MAX && r.count > 0;
	cap = known ? (size_t)r.count + 1 : batch;
	for (;;) {
		long got;
		if (known && have < cap && cap - have < batch)
			batch = cap - have;
		if (have + batch > cap || !data) {
			size_t ncap = cap;
			char *nd;
			while (have + batch > ncap)
				ncap *= 2;
			nd = realloc(data, ncap * r.dim * 4);
			if (!nd) {
				rc = vp_seterr(err, VP_E_NOMEM,
					       "%s: out of memory after %zu rows",
					       r.name, have);
				goto fail;
			}
			data = nd;
			cap = ncap;
		}
		got = ints ? vp_reader_read_ints(&r, (int32_t *)data + have * r.dim,
						 batch, err)
			   : vp_reader_read(&r, (float *)data + have * r.dim,
					    batch, err);
		if (got < 0) {
			rc = (int)got;
			goto fail;
		}
		if (got == 0)
			break;
		have += (size_t)got;
	}
	vp_reader_close(&r);
	*out = data;
	*n = have;
	return 0;
fail:
	free(data);
	vp_reader_close(&r);
	return rc;
}

int vp_read_all(const char *path, enum vp_vecfmt fmt, float **out, size_t *n,
		uint32_t *dim, struct vp_error *err)
{
	return read_all(path, fmt, 0, (void **)out, n, dim, err);
}

int vp_read_all_ints(const char *path, enum vp_vecfmt fmt, int32_t **out,
		     size_t *n, uint32_t *dim, struct vp_error *err)
{
	return read_all(path, fmt, 1, (void **)out, n, dim, err);
}

int vp_write_raw(void *stream, const void *data, size_t bytes,
		 struct vp_error *err)
{
	if (bytes && fwrite(data, 1, bytes, (FILE *)stream) != bytes)
		return vp_seterr_errno(err, VP_E_IO, errno, "write");
	return 0;
}

/* One *vecs writer for both element types: a dimension word, then the row. */
static int write_vecs(void *stream, const void *rows, size_t n, uint32_t dim,
		      struct vp_error *err)
{
	const char *p = rows;
	int32_t d = (int32_t)dim;
	for (size_t i = 0; i < n; i++, p += (size_t)dim * 4) {
		int rc = vp_write_raw(stream, &d, 4, err);
		if (!rc)
			rc = vp_write_raw(stream, p, (size_t)dim * 4, err);
		if (rc)
			return rc;
	}
	return 0;
}

int vp_write_fvecs(void *stream, const float *rows, size_t n, uint32_t dim,
		   struct vp_error *err)
{
	return write_vecs(stream, rows, n, dim, err);
}

int vp_write_ivecs(void *stream, const int32_t *rows, size_t n, uint32_t dim,
		   struct vp_error *err)
{
	return write_vecs(stream, rows, n, dim, err);
}

int vp_write_fbin_header(void *stream, uint32_t n, uint32_t dim,
			 struct vp_error *err)
{
	uint32_t h[2] = { n, dim };
	return vp_write_raw(stream, h, sizeof h, err);
}

size_t vp_fmt_u64(char *buf, uint64_t v)
{
	char tmp[20];
	size_t n = 0;
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (size_t i = 0; i < n; i++)
		buf[i] = tmp[n - 1 - i];
	return n;
}

size_t vp_fmt_i64(char *buf, int64_t v)
{
	if (v < 0) {
		buf[0] = '-';
		return 1 + vp_fmt_u64(buf + 1, (uint64_t)0 - (uint64_t)v);
	}
	return vp_fmt_u64(buf, (uint64_t)v);
}

size_t vp_fmt_g9(char *buf, float v)
{
	double d = v;
	/* "%.9g" prints an integer below 1e9 in full, without exponent or
	 * point: L2 distances of integer data (SIFT, MNIST) all are */
	if (d > -1e9 && d < 1e9 && d == (double)(int64_t)d) {
		if (d == 0 && signbit(d)) {
			buf[0] = '-';
			buf[1] = '0';
			return 2;
		}
		return vp_fmt_i64(buf, (int64_t)d);
	}
	{
		char tmp[VP_NUM_MAX + 1];
		int n = snprintf(tmp, sizeof tmp, "%.9g", d);
		if (n < 0 || n > VP_NUM_MAX)
			n = 0;
		memcpy(buf, tmp, (size_t)n);
		return (size_t)n;
	}
}

int vp_read_text(const char *path, size_t max, char **out, size_t *len,
		 struct vp_error *err)
{
	FILE *f = fopen(path, "rb");
	size_t n = 0, cap = 1 << 16;
	char *b;

	*out = NULL;
	*len = 0;
	if (!f)
		return vp_seterr_errno(err, VP_E_IO, errno, "%s", path);
	if (!(b = malloc(cap))) {
		fclose(f);
		return vp_seterr(err, VP_E_NOMEM, "out of memory");
	}
	for (;;) {
		size_t got = fread(b + n, 1, cap - n - 1, f);
		n += got;
		if (n > max) {
			free(b);
			fclose(f);
			return vp_seterr(err, VP_E_FORMAT, "%s: larger than %zu bytes", path, max);
		}
		if (got == 0)
			break;
		if (n + 1 == cap) {
			char *nb = realloc(b, cap * 2);
			if (!nb) {
				free(b);
				fclose(f);
				return vp_seterr(err, VP_E_NOMEM, "out of memory");
			}
			b = nb;
			cap *= 2;
		}
	}
	if (ferror(f)) {
		free(b);
		fclose(f);
		return vp_seterr(err, VP_E_IO, "%s: read error", path);
	}
	fclose(f);
	b[n] = 0;
	*out = b;
	*len = n;
	return 0;
}
