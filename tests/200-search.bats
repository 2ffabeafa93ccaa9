#!/usr/bin/env bats
# vp-search: exact results against brute force, output formats, pipelines,
# and every bad-input error.
load helpers

@test "FLAT results are identical to brute force (ids and distances)" {
	small_data
	vp-build -o x.vpi base.fvecs
	run -0 vp-search -i x.vpi -k 10 query.fvecs
	brute_tsv base.fvecs query.fvecs 10 > want.tsv
	[ "$output" = "$(cat want.tsv)" ]
	# one thread, many threads, small batches: the same answer
	[ "$(vp-search -i x.vpi -k 10 -j 1 query.fvecs)" = "$(cat want.tsv)" ]
	[ "$(vp-search -i x.vpi -k 10 -j 2 -b 3 query.fvecs)" = "$(cat want.tsv)" ]
}

@test "the portable kernels (VP_SIMD=portable) give the same answer" {
	small_data
	vp-build -o x.vpi base.fvecs
	brute_tsv base.fvecs query.fvecs 5 > want.tsv
	[ "$(VP_SIMD=portable vp-search -i x.vpi -k 5 query.fvecs)" = "$(cat want.tsv)" ]
	[ "$(VP_SIMD=avx2 vp-search -i x.vpi -k 5 query.fvecs)" = "$(cat want.tsv)" ]
}

@test "pipelines: vp-gen | vp-build -, then queries on stdin" {
	run -0 bash -c 'vp-gen -n 300 -d 16 --integer | vp-build -o x.vpi -'
	run -0 bash -c 'vp-gen -n 7 -d 16 --integer --first 300 | vp-search -i x.vpi -k 3 -'
	[ "${#lines[@]}" -eq 21 ]
	[[ "${lines[0]}" == "0	0	"* ]]
	[[ "${lines[20]}" == "6	2	"* ]]
	# stdin without "-" too, and stdout into head (early close is not an error to report)
	run -0 bash -c 'vp-gen -n 7 -d 16 --integer --first 300 | vp-search -i x.vpi -k 3 | head -1'
	[ "${#lines[@]}" -eq 1 ]
}

@test "ivecs output: k ids per query, -1 past the index size" {
	printf '0 0\n1 0\n5 5\n' | fvecs_from_text base.fvecs
	printf '0.9 0\n' | fvecs_from_text q.fvecs
	vp-build -o x.vpi base.fvecs
	vp-search -i x.vpi -k 5 -f ivecs q.fvecs > out.ivecs
	[ "$(perl -e 'local $/; $_ = <STDIN>; print join(" ", unpack("l<*", $_))' < out.ivecs)" = "5 1 0 2 -1 -1" ]
	run -0 vp-search -i x.vpi -k 5 q.fvecs
	[ "${#lines[@]}" -eq 3 ]
	[[ "${lines[0]}" == "0	0	1	"* ]]
	# squared L2 0.01, within float tolerance
	echo "${lines[0]}" | awk '{ d = $4 - 0.01; exit !(d < 1e-6 && d > -1e-6) }'

}

@test "json output: one object per query" {
	printf '0 0\n1 0\n5 5\n' | fvecs_from_text base.fvecs
	printf '0.9 0\n5 4\n' | fvecs_from_text q.fvecs
	vp-build -o x.vpi base.fvecs
	run -0 vp-search -i x.vpi -k 2 -f json q.fvecs
	[[ "${lines[0]}" == '{"query":0,"ids":[1,0],"distances":['*']}' ]]
	# 0.01 and 0.81 to float precision
	echo "${lines[0]}" | perl -ne '/"distances":\[([^,]+),([^\]]+)\]/ or exit 1;
		exit !(abs($1 - 0.01) < 1e-6 && abs($2 - 0.81) < 1e-6)'
	[ "${lines[1]}" = '{"query":1,"ids":[2,1],"distances":[1,32]}' ]
}

@test "inner product and cosine rank by similarity" {
	printf '1 0\n0 1\n3 3\n-1 0\n' | fvecs_from_text base.fvecs
	printf '1 0.1\n' | fvecs_from_text q.fvecs
	vp-build -m ip -o ip.vpi base.fvecs
	vp-build -m cosine -o cos.vpi base.fvecs
	run -0 vp-search -i ip.vpi -k 4 -f json q.fvecs
	[[ "$output" == '{"query":0,"ids":[2,0,1,3],"distances":[-3.29999995,-1,'* ]]
	run -0 vp-search -i cos.vpi -k 4 -f json q.fvecs
	[[ "$output" == '{"query":0,"ids":[0,2,1,3],'* ]]
}

@test "a query dimension that differs from the index is exit 3" {
	small_data
	vp-build -o x.vpi base.fvecs
	vp-gen -n 3 -d 9 -o q9.fvecs
	run -3 vp-search -i x.vpi q9.fvecs
	[ "$output" = "vp-search: q9.fvecs: queries have dimension 9, index x.vpi has 8" ]
}

@test "bad queries are exit 3 naming the file" {
	small_data
	vp-build -o x.vpi base.fvecs
	head -c 100 query.fvecs > cut.fvecs
	run -3 vp-search -i x.vpi cut.fvecs
	[[ "$output" == *"cut.fvecs: truncated record at row 2"* ]]
	run -3 bash -c 'cat cut.fvecs | vp-search -i x.vpi'
	[[ "$output" == *"<stdin>: truncated record at row 2"* ]]
	perl -e 'print pack("l<f<*", 8, 1..7), "\x00\x00\xc0\x7f"' > nan.fvecs
	run -3 vp-search -i x.vpi nan.fvecs
	[[ "$output" == *"nan.fvecs: NaN or infinity at row 0, column 7"* ]]
}

@test "corrupt, truncated and foreign index files are exit 3, never a crash" {
	small_data
	vp-build -o x.vpi base.fvecs
	cp x.vpi hdr.vpi; flip_byte hdr.vpi 20
	run -3 vp-search -i hdr.vpi query.fvecs
	[[ "$output" == *"hdr.vpi: corrupt index: header checksum mismatch"* ]]
	head -c 5000 x.vpi > trunc.vpi
	run -3 vp-search -i trunc.vpi query.fvecs
	[[ "$output" == *"trunc.vpi: corrupt index: file is 5000 bytes"* ]]
	run -3 vp-search -i base.fvecs query.fvecs
	[[ "$output" == *"base.fvecs: not a vp index (bad magic)"* ]]
	: > empty.vpi
	run -3 vp-search -i empty.vpi query.fvecs
	[[ "$output" == *"empty.vpi: not a vp index"* ]]
	# a flipped vector byte passes the cheap check, and --verify catches it
	cp x.vpi body.vpi; flip_byte body.vpi 4200
	run -0 vp-search -i body.vpi query.fvecs
	run -3 vp-search --verify -i body.vpi query.fvecs
	[[ "$output" == *"body.vpi: checksum mismatch in section 'vectors'"* ]]
}

@test "random garbage in every header byte never crashes the reader" {
	small_data
	vp-build -o x.vpi base.fvecs
	for off in 0 8 12 16 20 24 32 36 40 48 56 80 176 200 248 256 280 300; do
		cp x.vpi g.vpi; flip_byte g.vpi $off
		run vp-search -i g.vpi query.fvecs
		[ "$status" -eq 3 ] || { echo "offset $off: status $status: $output"; false; }
	done
}

@test "usage and I/O errors" {
	small_data
	vp-build -o x.vpi base.fvecs
	run -2 vp-search query.fvecs
	[[ "$output" == *"-i INDEX is required"* ]]
	run -2 vp-search -i x.vpi -k 0 query.fvecs
	run -2 vp-search -i x.vpi -f xml query.fvecs
	run -2 vp-search -i x.vpi -p ef=10 query.fvecs
	[[ "$output" == *"parameter 'ef' does not apply to FLAT indexes"* ]]
	run -4 vp-search -i missing.vpi query.fvecs
	[[ "$output" == *"missing.vpi: No such file or directory"* ]]
	run -4 vp-search -i x.vpi missing.fvecs
}

@test "a rebuild replaces the index under a running reader without disturbing it" {
	small_data
	vp-build -o x.vpi base.fvecs
	want=$(vp-search -i x.vpi -k 3 query.fvecs)
	# queries trickle in while the index is rebuilt from other data
	mkfifo qpipe
	{ head -c $((10 * 36)) query.fvecs
	  while [ ! -e rebuilt ]; do sleep 0.1; done
	  tail -c +$((10 * 36 + 1)) query.fvecs; } > qpipe &
	vp-search -i x.vpi -k 3 -b 1 qpipe > got.tsv &
	pid=$!
	sleep 0.5
	vp-gen -n 400 -d 8 --integer -s 5 | vp-build -o x.vpi -
	touch rebuilt
	wait $pid
	[ "$(cat got.tsv)" = "$want" ]
	# a new reader sees the new index
	[ "$(vp-search -i x.vpi -k 3 query.fvecs)" != "$want" ]
}

@test "exact search: OpenBLAS blocks and vp's kernel give the same answers, at any batch size" {
	vp-gen -n 3000 -d 24 --integer -c 8 -o base.fvecs
	vp-gen -n 600 -d 24 --integer -c 8 --first 3000 -o query.fvecs
	vp-build -o x.vpi base.fvecs
	a=$(VP_GEMM=blas vp-search -i x.vpi -k 7 -j 2 query.fvecs | cksum)
	b=$(VP_GEMM=vp vp-search -i x.vpi -k 7 -j 2 query.fvecs | cksum)
	c=$(vp-search -i x.vpi -k 7 -j 1 -b 1 query.fvecs | cksum)
	d=$(VP_SIMD=portable vp-search -i x.vpi -k 7 -b 50 query.fvecs | cksum)
	[ "$a" = "$b" ] && [ "$a" = "$c" ] && [ "$a" = "$d" ]
	# and the brute force agrees
	[ "$(vp-search -i x.vpi -k 7 query.fvecs | head -70)" = "$(brute_tsv base.fvecs query.fvecs 7 | head -70)" ]
}
