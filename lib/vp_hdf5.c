/* vp_hdf5: HDF5 datasets as vector input (vp_hdf5.h), through libhdf5. */
#include "vp_hdf5.h"

#include <errno.h>
#include <hdf5.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
	if (H5Gget_info(f, &gi) < 0)
		return;
	for (hsize_t i = 0; i < gi.nlinks && i < 32; i++) {
		char name[64];
		if (H5Lget_name_by_idx(f, ".", H5_INDEX_NAME, H5_ITER_INC, i, name,
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

	/* libhdf5 prints its error stack by default: vp returns errors */
	H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
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
	if (H5Fis_accessible(file, H5P_DEFAULT) <= 0)
#else
	if (H5Fis_hdf5(file) <= 0)
#endif
		return vp_seterr(err, VP_E_FORMAT, "%s: not an HDF5 file", file);
	if ((r->h5f = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT)) < 0) {
		r->h5f = 0;
		return vp_seterr(err, VP_E_FORMAT, "%s: cannot open as HDF5", file);
	}
	if (H5Lexists(r->h5f, colon + 1, H5P_DEFAULT) <= 0 ||
	    (r->h5d = H5Dopen2(r->h5f, colon + 1, H5P_DEFAULT)) < 0) {
		r->h5d = 0;
		list_root(r->h5f, have, sizeof have);
		vp_hdf5_close(r);
		return vp_seterr(err, VP_E_FORMAT, "%s: no dataset '%s' (it has: %s)", file,
				 colon + 1, have[0] ? have : "none");
	}
	sp = H5Dget_space(r->h5d);
	nd = sp < 0 ? -1 : H5Sget_simple_extent_ndims(sp);
	if (nd == 1 || nd == 2)
		H5Sget_simple_extent_dims(sp, dims, NULL);
	if (sp >= 0)
		H5Sclose(sp);
	ty = H5Dget_type(r->h5d);
	cls = ty < 0 ? H5T_NO_CLASS : H5Tget_class(ty);
	if (ty >= 0)
		H5Tclose(ty);
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
	fsp = H5Dget_space(r->h5d);
	if (fsp < 0)
		return vp_seterr(err, VP_E_IO, "%s: cannot read", r->name);
	if (H5Sget_simple_extent_ndims(fsp) == 1) {
		/* a column: one value a row */
		hsize_t s1 = r->row, c1 = n;
		st = H5Sselect_hyperslab(fsp, H5S_SELECT_SET, &s1, NULL, &c1, NULL);
		msp = H5Screate_simple(1, &c1, NULL);
	} else {
		st = H5Sselect_hyperslab(fsp, H5S_SELECT_SET, start, NULL, cnt, NULL);
		msp = H5Screate_simple(2, cnt, NULL);
	}
	if (st >= 0 && msp >= 0)
		st = H5Dread(r->h5d, ints ? H5T_NATIVE_INT32 : H5T_NATIVE_FLOAT, msp, fsp,
			     H5P_DEFAULT, out);
	if (msp >= 0)
		H5Sclose(msp);
	H5Sclose(fsp);
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
		H5Dclose(r->h5d);
	if (r->h5f > 0)
		H5Fclose(r->h5f);
	r->h5d = r->h5f = 0;
}
