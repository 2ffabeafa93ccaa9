#!/usr/bin/env bats
# ann-benchmarks HDF5 files as input: vp-build x.hdf5:train, vp-bench -q
# x.hdf5:test -g x.hdf5:neighbors (tests/h5write.c makes the files).
load helpers

setup() {
	T=$(mktemp -d "${BATS_TMPDIR:-/tmp}/vp.XXXXXX")
	cd "$T" || return 1
	cc -O1 -o h5write "$BATS_TEST_DIRNAME/h5write.c" $(pkg-config --cflags --libs hdf5) ||
		skip "cannot build tests/h5write.c (Debian libhdf5-dev)"
	small_data
	vp-build -o flat.vpi base.fvecs
	vp-search -i flat.vpi -k 100 -f ivecs query.fvecs > gt.ivecs
	./h5write ann.hdf5 train=base.fvecs test=query.fvecs neighbors=gt.ivecs test64:f64=query.fvecs
}

@test "an index built from x.hdf5:train answers as one built from the fvecs" {
	run -0 vp-build -o h.vpi ann.hdf5:train
	[ "$(vp-search -i h.vpi -k 10 ann.hdf5:test)" = "$(vp-search -i flat.vpi -k 10 query.fvecs)" ]
	# float64 datasets are converted; -F hdf5 names a file of any name
	[ "$(vp-search -i h.vpi -k 10 ann.hdf5:test64)" = "$(vp-search -i flat.vpi -k 10 query.fvecs)" ]
	cp ann.hdf5 ann.data
	[ "$(vp-search -i h.vpi -k 10 -F hdf5 ann.data:test)" = "$(vp-search -i flat.vpi -k 10 query.fvecs)" ]
}

@test "vp-bench reads queries and neighbors from the same HDF5 file" {
	vp-build -t HNSW -p M=8 -o h.vpi ann.hdf5:train
	run -0 vp-bench -i h.vpi -q ann.hdf5:test -g ann.hdf5:neighbors -p ef=64
	a=$(echo "${lines[3]}" | awk '{ print $2 }')
	run -0 vp-bench -i h.vpi -q query.fvecs -g gt.ivecs -p ef=64
	[ "$a" = "$(echo "${lines[3]}" | awk '{ print $2 }')" ]
	run -0 vp-tune -o t.yaml -r 0.9 --no-full-check --time-budget 20 -q ann.hdf5:test ann.hdf5:train
}

@test "HDF5 errors name the file and what is wrong" {
	run -2 vp-build -o x.vpi ann.hdf5
	[[ "$output" == *"ann.hdf5: name the dataset to read: ann.hdf5:train"* ]]
	run -3 vp-build -o x.vpi ann.hdf5:nope
	[[ "$output" == *"ann.hdf5: no dataset 'nope' (it has: neighbors, test, test64, train)"* ]]
	run -4 vp-build -o x.vpi missing.hdf5:train
	[[ "$output" == *"missing.hdf5"* ]]
	cp base.fvecs fake.hdf5
	run -3 vp-build -o x.vpi fake.hdf5:train
	[[ "$output" == *"fake.hdf5: not an HDF5 file"* ]]
	run -3 vp-bench -i flat.vpi -q ann.hdf5:test -g ann.hdf5:train
	[[ "$output" == *"holds floating-point numbers, not ids"* ]]
	# NaN in a dataset is caught like in any input
	perl -e 'print pack("l<f<*", 8, 1, 2, 3, "NaN", 5, 6, 7, 8)' > nan.fvecs
	./h5write nan.hdf5 train=nan.fvecs
	run -3 vp-build -o x.vpi nan.hdf5:train
	[[ "$output" == *"NaN or infinity at row 0, column 3"* ]]
	# a truncated file
	head -c 3000 ann.hdf5 > cut.hdf5
	run -3 vp-build -o x.vpi cut.hdf5:train
	[ ! -e x.vpi ]
}

@test "libhdf5 is loaded at the first HDF5 input, not at every program's start" {
	command -v ldd > /dev/null || skip "no ldd"
	for p in vp-build vp-search vp-bench vp-diag vp-warmup vp-tune vp-gen vp-merge; do
		run -0 ldd "$top/bin/$p"
		[[ "$output" != *libhdf5* ]] || { echo "$p links libhdf5"; false; }
	done
	# and an HDF5 input still reads (the library found when needed)
	small_data
	cc -O1 -o h5write "$BATS_TEST_DIRNAME/h5write.c" $(pkg-config --cflags --libs hdf5) ||
		skip "cannot build tests/h5write.c (Debian libhdf5-dev)"
	./h5write one.hdf5 train=base.fvecs
	run -0 vp-build -q -o x.vpi one.hdf5:train
}
