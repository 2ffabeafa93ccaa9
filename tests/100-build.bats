#!/usr/bin/env bats
# vp-build: inputs, formats, atomic output, and every bad-input error.
load helpers

@test "builds from a file and from stdin to the same index contents" {
	small_data
	run -0 vp-build -o a.vpi base.fvecs
	run -0 bash -c 'cat base.fvecs | vp-build -o b.vpi -'
	run -0 bash -c 'vp-gen -n 500 -d 8 --integer -c 8 | vp-build -o c.vpi'
	# same vectors and norms (the header holds times, so compare sections)
	[ "$(vp-diag a.vpi | grep -E '^  (vectors|norms)')" = "$(vp-diag b.vpi | grep -E '^  (vectors|norms)')" ]
	[ "$(vp-diag a.vpi | grep -E '^  (vectors|norms)')" = "$(vp-diag c.vpi | grep -E '^  (vectors|norms)')" ]
}

@test "reads fbin, bvecs and u8bin" {
	vp-gen -n 50 -d 4 --integer -f fbin -o a.fbin
	vp-gen -n 50 -d 4 --integer -o a.fvecs
	run -0 vp-build -o f.vpi a.fbin
	run -0 vp-build -o v.vpi a.fvecs
	[ "$(vp-diag f.vpi | grep '^  vectors')" = "$(vp-diag v.vpi | grep '^  vectors')" ]
	# bvecs: dimension word then bytes
	perl -e 'for (1..10) { print pack("l<C3", 3, $_, 2 * $_, 255) }' > a.bvecs
	run -0 vp-build -o b.vpi a.bvecs
	run -0 vp-diag b.vpi
	[[ "$output" == *"vectors        10 x 3"* ]]
	perl -e 'print pack("L<L<", 10, 3); for (1..10) { print pack("C3", $_, 2 * $_, 255) }' > a.u8bin
	run -0 vp-build -o u.vpi a.u8bin
	[ "$(vp-diag b.vpi | grep '^  vectors')" = "$(vp-diag u.vpi | grep '^  vectors')" ]
	# format from the option when the name says nothing
	cp a.fbin data.bin
	run -0 vp-build -F fbin -o g.vpi data.bin
	run -0 bash -c 'vp-build -F fbin -o h.vpi < a.fbin'
}

@test "metrics are recorded in the index" {
	small_data
	for m in l2 ip cosine; do
		run -0 vp-build -m $m -o $m.vpi base.fvecs
		run -0 vp-diag $m.vpi
		[[ "$output" == *"metric         $m"* ]]
	done
}

@test "a truncated input is exit 3 naming the file and row; the old index survives" {
	small_data
	vp-build -o x.vpi base.fvecs
	before=$(cksum < x.vpi)
	head -c 1000 base.fvecs > cut.fvecs
	run -3 vp-build -o x.vpi cut.fvecs
	[[ "$output" == "vp-build: cut.fvecs: truncated record at row 27 (offset 972"* ]]
	[ "$(cksum < x.vpi)" = "$before" ]
	[ -z "$(ls -A | grep '\.tmp\.')" ]
}

@test "a dimension change mid-file is exit 3" {
	printf '1 2 3\n4 5 6\n7 8\n' | fvecs_from_text bad.fvecs
	run -3 vp-build -o x.vpi bad.fvecs
	[[ "$output" == *"bad.fvecs: row 2 has dimension 2, expected 3"* ]]
	[ ! -e x.vpi ]
}

@test "zero and absurd dimensions are exit 3" {
	perl -e 'print pack("l<", 0)' > zero.fvecs
	run -3 vp-build -o x.vpi zero.fvecs
	[[ "$output" == *"zero.fvecs: invalid dimension 0"* ]]
	perl -e 'print pack("l<l<", 100000000, 0)' > huge.fvecs
	run -3 vp-build -o x.vpi huge.fvecs
	[[ "$output" == *"huge.fvecs: invalid dimension 100000000"* ]]
	# a text file is not fvecs
	echo "hello world, not vectors" > text.fvecs
	run -3 vp-build -o x.vpi text.fvecs
	[[ "$output" == *"text.fvecs: invalid dimension"* ]]
}

@test "NaN and infinity are exit 3 naming row and column" {
	perl -e 'print pack("l<f<f<", 2, 1, 2), pack("l<f<", 2, 3), "\x00\x00\xc0\x7f"' > nan.fvecs
	run -3 vp-build -o x.vpi nan.fvecs
	[[ "$output" == *"nan.fvecs: NaN or infinity at row 1, column 1"* ]]
	perl -e 'print pack("l<", 1), "\x00\x00\x80\x7f"' > inf.fvecs
	run -3 vp-build -o x.vpi inf.fvecs
	[[ "$output" == *"inf.fvecs: NaN or infinity at row 0, column 0"* ]]
}

@test "an fbin whose header disagrees with its size is exit 3" {
	perl -e 'print pack("L<L<", 10, 4), "\0" x 20' > short.fbin
	run -3 vp-build -o x.vpi short.fbin
	[[ "$output" == *"short.fbin: header says 10 rows of dimension 4"* ]]
	# the same from a pipe: detected as a truncated record
	run -3 bash -c 'cat short.fbin | vp-build -F fbin -o x.vpi'
	[[ "$output" == *"<stdin>: truncated record at row 1"* ]]
}

@test "empty input is exit 3" {
	: > empty.fvecs
	run -3 vp-build -o x.vpi empty.fvecs
	[[ "$output" == *"empty.fvecs: no vectors to index"* ]]
	run -3 bash -c 'vp-build -o x.vpi < /dev/null'
}

@test "usage errors are exit 2" {
	small_data
	run -2 vp-build base.fvecs
	[[ "$output" == *"-o INDEX is required"* ]]
	run -2 vp-build -t BOGUS -o x.vpi base.fvecs
	[[ "$output" == *"unknown index type 'BOGUS'"* ]]
	run -2 vp-build -m hamming -o x.vpi base.fvecs
	run -2 vp-build -p nlist=10 -o x.vpi base.fvecs
	[[ "$output" == *"parameter 'nlist' does not apply to FLAT indexes"* ]]
	run -2 vp-build -p nonsense -o x.vpi base.fvecs
	run -2 vp-build -j 0 -o x.vpi base.fvecs
	run -2 vp-build -o x.vpi base.fvecs extra-arg
	[ ! -e x.vpi ]
}

@test "I/O errors are exit 4" {
	small_data
	run -4 vp-build -o x.vpi no-such-file.fvecs
	[[ "$output" == *"no-such-file.fvecs: No such file or directory"* ]]
	run -4 vp-build -o no/such/dir/x.vpi base.fvecs
	[[ "$output" == *"no/such/dir/x.vpi: cannot create temporary file"* ]]
	mkdir adir
	run -4 vp-build -o x.vpi adir
	[[ "$output" == *"adir: is a directory"* ]]
}

@test "a build killed while reading leaves the old index and no temporary file" {
	small_data
	vp-build -o x.vpi base.fvecs
	before=$(cksum < x.vpi)
	mkfifo slow
	( cat base.fvecs; sleep 30 ) > slow &
	feeder=$!
	vp-build -o x.vpi slow &
	pid=$!
	sleep 0.5
	kill -TERM $pid
	wait $pid || true
	kill $feeder 2>/dev/null || true
	[ "$(cksum < x.vpi)" = "$before" ]
	[ -z "$(ls -A | grep '\.tmp\.')" ]
}

@test "the index file is readable like any file the user creates" {
	small_data
	(umask 022 && vp-build -o x.vpi base.fvecs)
	[ "$(stat -c %a x.vpi)" = 644 ]
}

@test "finite values whose squares overflow are exit 3, not a crash in k-means" {
	vp-gen -n 200 -d 8 -o base.fvecs
	# one 4e27 in row 50: finite, but its squared distances overflow
	perl -e 'open(my $h, "+<:raw", $ARGV[0]) or die; seek($h, 50 * 36 + 4 + 12, 0);
		print $h pack("f<", 4e27)' base.fvecs
	for t in FLAT IVF_FLAT IVF_SQ8 IVF_PQ HNSW; do
		run -3 vp-build -t $t -o x.vpi base.fvecs
		[[ "$output" == *"base.fvecs: value 4e+27 at row 50, column 3 is too large"* ]] || { echo "$t: $output"; false; }
		[ ! -e x.vpi ]
	done
	[ -z "$(ls -A | grep tmp)" ]
}

@test "a failed build leaves no temporary file; a killed writer's leftovers go at the next build" {
	vp-gen -n 100 -d 8 -o base.fvecs
	run -2 vp-build -t IVF_FLAT -p nlist=500 -o b.vpi base.fvecs
	[ -z "$(ls -A | grep '\.tmp\.')" ] || { ls -A; false; }
	vp-build -o b.vpi base.fvecs
	cp b.vpi old.vpi
	vp-gen -n 10 -d 4 -o d4.fvecs
	run -3 vp-build --append -o b.vpi d4.fvecs
	cmp b.vpi old.vpi
	[ -z "$(ls -A | grep '\.tmp\.')" ] || { ls -A; false; }
	# leftovers of a dead process (no such pid) go; a live one's stay
	: > .b.vpi.tmp.999999999.AbCdEf
	: > ".b.vpi.tmp.$$.GhIjKl"
	vp-build -o b.vpi base.fvecs
	[ ! -e .b.vpi.tmp.999999999.AbCdEf ]
	[ -e ".b.vpi.tmp.$$.GhIjKl" ]
}
