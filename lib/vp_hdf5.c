/* vp_hdf5: HDF5 datasets as vector input (vp_hdf5.h), through libhdf5. */
#include "vp_hdf5.h"

#include <dlfcn.h>
#include <errno.h>
#include <hdf5.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef VP_HDF5_SONAME
#define VP_HDF5_SONAME "libhdf5_serial.so" /* ./configure names the build's */
#endif

/* libhdf5 is loaded at the first HDF5 input, not linked: with what it
 * needs (curl, ssl, kerberos, ldap: 30 libraries on Debian) it made every
 * program start in 6.7 ms instead of 2.4 (a program printing a line,
 * linked with and without it), which a pipeline of small invocations pays
 * each time, HDF5 or not.  The soname is the one the build compiled
 * against, so the header's types and constants are the library's. */
#if H5_VERSION_GE(1, 12, 0)
typedef __typeof__(&H5Fis_accessible) is_fn;
#define IS_NAME "H5Fis_accessible"
#else
typedef __typeof__(&H5Fis_hdf5) is_fn;
#define IS_NAME "H5Fis_hdf5"
#endif
static struct {
	__typeof__(&H5open) open;
	__typeof__(&H5Eset_auto2) eset_auto2;
	is_fn is;
	__typeof__(&H5Fopen) fopen;
	__typeof__(&H5Fclose) fclose;
	__typeof__(&H5Lexists) lexists;
	__typeof__(&H5Dopen2) dopen2;
	__typeof__(&H5Dclose) dclose;
	__typeof__(&H5Dget_space) dget_space;
	__typeof__(&H5Dget_type) dget_type;
	__typeof__(&H5Dread) dread;
	__typeof__(&H5Sget_simple_extent_ndims) sndims;
	__typeof__(&H5Sget_simple_extent_dims) sdims;
	__typeof__(&H5Sselect_hyperslab) shyperslab;
	__typeof__(&H5Screate_simple) screate;
	__typeof__(&H5Sclose) sclose;
	__typeof__(&H5Tget_class) tget_class;
	__typeof__(&H5Tclose) tclose;
	__typeof__(&H5Gget_info) gget_info;
	__typeof__(&H5Lget_name_by_idx) lname;
	hid_t *native_float, *native_int32;
	int ok;
	char why[256];
} h5;

static void h5_load(void)
{
	void *d = dlopen(VP_HDF5_SONAME, RTLD_NOW | RTLD_LOCAL);
	const char *bad = NULL;
	if (!d) {
		snprintf(h5.why, sizeof h5.why, "%s", dlerror());
		return;
	}
#define SYM(field, name) \
	if (!bad && !(*(void **)&h5.field = dlsym(d, name))) \
		bad = name
	SYM(open, "H5open");
	SYM(eset_auto2, "H5Eset_auto2");
	SYM(is, IS_NAME);
	SYM(fopen, "H5Fopen");
	SYM(fclose, "H5Fclose");
	SYM(lexists, "H5Lexists");
	SYM(dopen2, "H5Dopen2");
	SYM(dclose, "H5Dclose");
	SYM(dget_space, "H5Dget_space");
	SYM(dget_type, "H5Dget_type");
	SYM(dread, "H5Dread");
	SYM(sndims, "H5Sget_simple_extent_ndims");
	SYM(sdims, "H5Sget_simple_extent_dims");
	SYM(shyperslab, "H5Sselect_hyperslab");
	SYM(screate, "H5Screate_simple");
	SYM(sclose, "H5Sclose");
	SYM(tget_class, "H5Tget_class");
	SYM(tclose, "H5Tclose");
	SYM(gget_info, "H5Gget_info");
	SYM(lname, "H5Lget_name_by_idx");
	SYM(native_float, "H5T_NATIVE_FLOAT_g");
	SYM(native_int32, "H5T_NATIVE_INT32_g");
#undef SYM
	if (bad) {
		snprintf(h5.why, sizeof h5.why, "%s lacks %s", VP_HDF5_SONAME, bad);
		return;
	}
	/* the native types are set by H5open (what the H5T_NATIVE_* macros
	 * call first) */
	if (h5.open() < 0) {
		snprintf(h5.why, sizeof h5.why, "H5open failed");
		return;
	}
	h5.ok = 1;
}

static int h5_ready(const char *path, struct vp_error *err)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, h5_load);
	if (!h5.ok)
		return vp_seterr(err, VP_E_IO, "%s: reading HDF5 needs libhdf5 (Debian "
				 "libhdf5-dev or its runtime package): %s", path, h5.why);
	return 0;
}

/* Where the file name ends: after ".hdf5" or ".h5" followed by ':' (a
 * dataset named) or the end (none named); NULL for other paths. */
static const char *split(const char *path)
{
	static const char *const ext[] = { ".hdf5", ".h5" };
	const char *best = NULL;
	for (int i = 0; path && i < 2; i++)
		for (const char *e = strstr(path, ext[i]); e; e = strstr(e + 1, ext[i])) {
			const char *after = e + strlen(ext[i]);
			if ((*after == ':' || !*after) && (!best || after > best))
				best = after;
		}
	return best;
}

int vp_hdf5_spec(const char *path)
{
	return split(path) != NULL;
}

/* "train, test, neighbors": the datasets at the root, for messages. */
static void list_root(hid_t f, char *out, size_t cap)
{
	H5G_info_t gi;
	size_t len = 0;
	out[0] = 0;
	if (h5.gget_info(f, &gi) < 0)
		return;
	for (hsize_t i = 0; i < gi.nlinks && i < 32; i++) {
		char name[64];
		if (h5.lname(f, ".", H5_INDEX_NAME, H5_ITER_INC, i, name,
				       sizeof name, H5P_DEFAULT) < 0)
			continue;
		len += (size_t)snprintf(out + len, len < cap ? cap - len : 0, "%s%s",
					i ? ", " : "", name);
	}
}

int vp_hdf5_open(struct vp_reader *r, const char *path, struct vp_error *err)
{
	/* -F hdf5 on a file of another name: the last ':' splits */
	const char *colon = split(path) ? split(path) : path ? strrchr(path, ':') : NULL;
	char file[4096], have[512];
	hid_t sp, ty;
	hsize_t dims[2] = { 0, 1 };
	int nd, rc = 0;
	H5T_class_t cls;

	if ((rc = h5_ready(path, err)))
		return rc;
	/* libhdf5 prints its error stack by default: vp returns errors */
	h5.eset_auto2(H5E_DEFAULT, NULL, NULL);
	r->name = path;
	if (!colon || !*colon || !colon[1])
		return vp_seterr(err, VP_E_ARG, "%s: name the dataset to read: %s:train, "
				 "%s:test or %s:neighbors (ann-benchmarks)", path, path, path,
				 path);
	if ((size_t)(colon - path) >= sizeof file)
		return vp_seterr(err, VP_E_ARG, "%s: file name too long", path);
	memcpy(file, path, (size_t)(colon - path));
	file[colon - path] = 0;
	if (access(file, R_OK))
		return vp_seterr_errno(err, VP_E_IO, errno, "%s", file);
#if H5_VERSION_GE(1, 12, 0)
	if (h5.is(file, H5P_DEFAULT) <= 0)
#else
	if (h5.is(file) <= 0)
#endif
		return vp_seterr(err, VP_E_FORMAT, "%s: not an HDF5 file", file);
	if ((r->h5f = h5.fopen(file, 0x0000u /* H5F_ACC_RDONLY, without its H5open call */,
				   H5P_DEFAULT)) < 0) {
		r->h5f = 0;
		return vp_seterr(err, VP_E_FORMAT, "%s: cannot open as HDF5", file);
	}
	if (h5.lexists(r->h5f, colon + 1, H5P_DEFAULT) <= 0 ||
	    (r->h5d = h5.dopen2(r->h5f, colon + 1, H5P_DEFAULT)) < 0) {
		r->h5d = 0;
		list_root(r->h5f, have, sizeof have);
		vp_hdf5_close(r);
		return vp_seterr(err, VP_E_FORMAT, "%s: no dataset '%s' (it has: %s)", file,
				 colon + 1, have[0] ? have : "none");
	}
	sp = h5.dget_space(r->h5d);
	nd = sp < 0 ? -1 : h5.sndims(sp);
	if (nd == 1 || nd == 2)
		h5.sdims(sp, dims, NULL);
	if (sp >= 0)
		h5.sclose(sp);
	ty = h5.dget_type(r->h5d);
	cls = ty < 0 ? H5T_NO_CLASS : h5.tget_class(ty);
	if (ty >= 0)
		h5.tclose(ty);
	if (nd != 1 && nd != 2)
		rc = vp_seterr(err, VP_E_FORMAT, "%s: dataset '%s' has %d dimensions, "
			       "not rows x columns", file, colon + 1, nd);
	else if (cls != H5T_FLOAT && cls != H5T_INTEGER)
		rc = vp_seterr(err, VP_E_FORMAT, "%s: dataset '%s' does not hold numbers",
			       file, colon + 1);
	else if (dims[1] < 1 || dims[1] > VP_DIM_MAX)
		rc = vp_seterr(err, VP_E_FORMAT, "%s: dataset '%s' has %llu columns "
			       "(expected 1..%u)", file, colon + 1,
			       (unsigned long long)dims[1], VP_DIM_MAX);
	if (rc) {
		vp_hdf5_close(r);
		return rc;
	}
	r->h5int = cls == H5T_INTEGER;
	r->dim = dims[0] ? (uint32_t)dims[1] : 0;
	r->count = dims[0];
	return 0;
}

long vp_hdf5_read(struct vp_reader *r, void *out, size_t max_rows, int ints,
		  struct vp_error *err)
{
	hsize_t start[2] = { r->row, 0 }, cnt[2];
	hid_t fsp, msp;
	herr_t st;
	size_t n;
	int rc;

	if (ints && !r->h5int)
		return vp_seterr(err, VP_E_FORMAT, "%s: holds floating-point numbers, "
				 "not ids", r->name);
	if (r->row >= r->count || max_rows == 0)
		return 0;
	n = r->count - r->row < max_rows ? (size_t)(r->count - r->row) : max_rows;
	cnt[0] = n;
	cnt[1] = r->dim;
	fsp = h5.dget_space(r->h5d);
	if (fsp < 0)
		return vp_seterr(err, VP_E_IO, "%s: cannot read", r->name);
	if (h5.sndims(fsp) == 1) {
		/* a column: one value a row */
		hsize_t s1 = r->row, c1 = n;
		st = h5.shyperslab(fsp, H5S_SELECT_SET, &s1, NULL, &c1, NULL);
		msp = h5.screate(1, &c1, NULL);
	} else {
		st = h5.shyperslab(fsp, H5S_SELECT_SET, start, NULL, cnt, NULL);
		msp = h5.screate(2, cnt, NULL);
	}
	if (st >= 0 && msp >= 0)
		st = h5.dread(r->h5d, ints ? *h5.native_int32 : *h5.native_float, msp, fsp,
			     H5P_DEFAULT, out);
	if (msp >= 0)
		h5.sclose(msp);
	h5.sclose(fsp);
	if (st < 0 || msp < 0)
		return vp_seterr(err, VP_E_FORMAT, "%s: cannot read rows %llu..%llu "
				 "(damaged file, or values out of range)", r->name,
				 (unsigned long long)r->row,
				 (unsigned long long)(r->row + n - 1));
	if (!ints && (rc = vp_reader_check(r, out, n, r->dim, err)))
		return rc;
	r->row += n;
	return (long)n;
}

void vp_hdf5_close(struct vp_reader *r)
{
	if (r->h5d > 0)
		h5.dclose(r->h5d);
	if (r->h5f > 0)
		h5.fclose(r->h5f);
	r->h5d = r->h5f = 0;
}
