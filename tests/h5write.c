/* h5write: the tests' maker of ann-benchmarks-like HDF5 files.
 * usage: h5write OUT.hdf5 NAME=FILE.fvecs|FILE.ivecs [NAME=... | NAME:f64=FILE.fvecs]...
 * Each *vecs file becomes a two-dimensional dataset NAME (float32, int32,
 * or float64 with ":f64"), as ann-benchmarks lays out train, test and
 * neighbors. */
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
	hid_t f;
	if (argc < 3) {
		fprintf(stderr, "usage: h5write OUT.hdf5 NAME=FILE...\n");
		return 2;
	}
	f = H5Fcreate(argv[1], H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
	if (f < 0)
		return 1;
	for (int a = 2; a < argc; a++) {
		char name[256], *eq = strchr(argv[a], '=');
		int ints = strstr(argv[a], ".ivecs") != NULL, f64 = 0;
		FILE *in;
		int32_t d = 0;
		size_t n = 0, cap = 1024;
		unsigned char *buf = malloc(cap * 4), *row;
		hsize_t dims[2];
		hid_t sp, ds, ft, mt;
		if (!eq || (size_t)(eq - argv[a]) >= sizeof name)
			return 2;
		memcpy(name, argv[a], (size_t)(eq - argv[a]));
		name[eq - argv[a]] = 0;
		if (strstr(name, ":f64")) {
			*strstr(name, ":f64") = 0;
			f64 = 1;
		}
		if (!(in = fopen(eq + 1, "rb")))
			return 1;
		while (fread(&d, 4, 1, in) == 1) {
			if ((n + 1) * (size_t)d * 4 > cap)
				buf = realloc(buf, cap = 2 * (n + 1) * (size_t)d * 4);
			if (fread(buf + n * (size_t)d * 4, 4, (size_t)d, in) != (size_t)d)
				return 1;
			n++;
		}
		fclose(in);
		dims[0] = n;
		dims[1] = (hsize_t)d;
		sp = H5Screate_simple(2, dims, NULL);
		ft = ints ? H5T_STD_I32LE : f64 ? H5T_IEEE_F64LE : H5T_IEEE_F32LE;
		mt = ints ? H5T_NATIVE_INT32 : H5T_NATIVE_FLOAT;
		ds = H5Dcreate2(f, name, ft, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
		row = buf;
		if (ds < 0 || H5Dwrite(ds, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, row) < 0)
			return 1;
		H5Dclose(ds);
		H5Sclose(sp);
		free(buf);
	}
	H5Fclose(f);
	return 0;
}
