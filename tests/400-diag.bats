#!/usr/bin/env bats
# vp-diag: index inspection, checksum verification, --system.
load helpers

@test "a sound index: header, sections, statistics, exit 0" {
	printf '3 4\n0 0\n6 8\n' | fvecs_from_text base.fvecs
	vp-build -o x.vpi base.fvecs
	run -0 vp-diag x.vpi
	[[ "$output" == *"type           FLAT"* ]]
	[[ "$output" == *"vectors        3 x 2"* ]]
	[[ "$output" == *"norms          min 0, mean 5, max 10"* ]]
	[[ "$output" == *"zero vectors   1"* ]]
	[[ "$output" == *"nan vectors    0"* ]]
	[[ "$output" == *"problems       none"* ]]
	[ "$(printf '%s\n' "$output" | grep -c ' ok$')" -eq 4 ]
}

@test "a damaged section is a problem found: exit 1, MISMATCH named" {
	small_data
	vp-build -o x.vpi base.fvecs
	flip_byte x.vpi 4100
	run -1 --separate-stderr vp-diag x.vpi
	[[ "$output" == *"vectors               0"*"MISMATCH"* ]]
	[[ "$output" == *"problems       1"* ]]
	[[ "$stderr" == *"checksum mismatch in section 'vectors'"* ]]
	# --no-verify skips the checksums
	run -0 vp-diag --no-verify --no-stats x.vpi
}

@test "a file that is not an index is exit 3" {
	small_data
	run -3 vp-diag base.fvecs
	[[ "$output" == "vp-diag: base.fvecs: not a vp index (bad magic)" ]]
	run -4 vp-diag missing.vpi
	run -2 vp-diag
	run -2 vp-diag a b
}

@test "--system names the CPU, SIMD level and the kernels in use" {
	run -0 vp-diag --system
	[[ "$output" == *"cores"* ]]
	[[ "$output" == *"page size"* ]]
	[[ "$output" == *"huge pages"* ]]
	[[ "$output" =~ kernels\ +(portable|avx2|avx512) ]]
	run -0 env VP_SIMD=portable vp-diag --system
	[[ "$output" =~ kernels\ +portable ]]
	run -2 vp-diag --system x.vpi
}

@test "a creation time gmtime cannot show is printed as a number, not a crash" {
	command -v xxhsum >/dev/null || skip "xxhsum (Debian xxhash) is not installed"
	small_data
	vp-build -o x.vpi base.fvecs
	put64 x.vpi 64 7fffffffffffffff
	rehash x.vpi
	run -0 vp-search -i x.vpi -k 1 query.fvecs
	run -0 vp-diag --no-stats x.vpi
	[[ "$output" == *"built          at an unrepresentable time (9223372036854775807)"* ]]
}

@test "per-type structure: a section vp-search refuses is a problem here, and --append refuses it" {
	command -v xxhsum >/dev/null || skip "xxhsum (Debian xxhash) is not installed"
	vp-gen -n 2000 -d 16 -o base.fvecs
	vp-build -t IVF_PQ -p nlist=8 -o pq.vpi base.fvecs
	run -0 vp-diag --no-stats pq.vpi
	[[ "$output" == *"structure      ok (opens for search)"* ]]
	# rename the codebook section; every checksum still holds
	perl -e 'open(my $h, "+<:raw", $ARGV[0]) or die; local $/; my $b = <$h>;
		my $t = unpack("Q<", substr($b, 40, 8)); my $n = unpack("L<", substr($b, 36, 4));
		for my $i (0 .. $n - 1) { my $o = $t + 64 * $i;
			if (substr($b, $o, 12) eq "pq_codebooks") { seek($h, $o + 11, 0); print $h "z" } }' pq.vpi
	rehash pq.vpi
	run -3 vp-search -i pq.vpi -k 1 base.fvecs
	run -1 vp-diag --no-stats pq.vpi
	[[ "$output" == *"structure      pq.vpi"* ]]
	[[ "$output" == *"problems       1"* ]]
	cp pq.vpi before.vpi
	run -3 vp-build --append -o pq.vpi base.fvecs
	cmp pq.vpi before.vpi
}
