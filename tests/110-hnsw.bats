#!/usr/bin/env bats
# HNSW through the programs: recall against FLAT, parameters, corruption.
load helpers

hnsw_data() {
	vp-gen -n 4000 -d 16 -c 30 -o base.fvecs
	vp-gen -n 200 -d 16 -c 30 --first 4000 -o query.fvecs
	vp-build -o flat.vpi base.fvecs
	vp-search -i flat.vpi -k 10 -f ivecs query.fvecs > gt.ivecs
}

@test "HNSW reaches recall@10 >= 0.9 at a moderate ef, and more with a larger ef" {
	hnsw_data
	run -0 vp-build -t HNSW -p M=12 -p efConstruction=100 -o h.vpi base.fvecs
	run -0 vp-bench -i h.vpi -q query.fvecs -g gt.ivecs -p ef=16,128 --json
	r16=$(printf '%s\n' "$output" | sed -n 's/.*"param": "ef=16", "recall": \([0-9.]*\).*/\1/p')
	r128=$(printf '%s\n' "$output" | sed -n 's/.*"param": "ef=128", "recall": \([0-9.]*\).*/\1/p')
	awk -v a="$r16" -v b="$r128" 'BEGIN { exit !(a >= 0.9 && b >= a && b >= 0.98) }' ||
		{ echo "recall ef=16 $r16, ef=128 $r128"; false; }
}

@test "the same seed on one thread builds the same graph" {
	hnsw_data
	vp-build -t HNSW -j 1 -s 3 -o a.vpi base.fvecs
	vp-build -t HNSW -j 1 -s 3 -o b.vpi base.fvecs
	[ "$(vp-diag --no-stats a.vpi | grep '^  hnsw')" = "$(vp-diag --no-stats b.vpi | grep '^  hnsw')" ]
	vp-build -t HNSW -j 1 -s 4 -o c.vpi base.fvecs
	[ "$(vp-diag --no-stats a.vpi | grep '^  hnsw')" != "$(vp-diag --no-stats c.vpi | grep '^  hnsw')" ]
}

@test "HNSW parameters are checked against their bounds" {
	hnsw_data
	run -2 vp-build -t HNSW -p M=1 -o h.vpi base.fvecs
	[[ "$output" == *"parameter 'M': 1 is out of range 2..128"* ]]
	run -2 vp-build -t HNSW -p efConstruction=5000 -o h.vpi base.fvecs
	run -2 vp-build -t HNSW -p nlist=4 -o h.vpi base.fvecs
	[[ "$output" == *"parameter 'nlist' does not apply to HNSW indexes"* ]]
	vp-build -t HNSW -o h.vpi base.fvecs
	run -2 vp-search -i h.vpi -p ef=0 query.fvecs
	run -2 vp-search -i h.vpi -p nprobe=4 query.fvecs
	[[ "$output" == *"parameter 'nprobe' does not apply to HNSW indexes"* ]]
	run -2 vp-search -i h.vpi -p efConstruction=10 query.fvecs
	[[ "$output" == *"is a build parameter"* ]]
	run -0 vp-search -i h.vpi -p ef=50 -k 3 query.fvecs
}

@test "a link pointing outside the graph is refused on open, not followed" {
	hnsw_data
	vp-build -t HNSW -o h.vpi base.fvecs
	off=$(vp-diag --no-stats --no-verify h.vpi | awk '$1 == "hnsw_l0" { print $3 }')
	# overwrite node 0's first link with 0xffffffff and fix nothing else:
	# the section checksum is only checked by --verify, the bounds always
	perl -e 'open(my $h, "+<:raw", $ARGV[0]) or die; seek($h, $ARGV[1] + 4, 0); print $h pack("L<", 0xffffffff)' h.vpi "$off"
	run -3 vp-search -i h.vpi query.fvecs
	[[ "$output" == *"h.vpi: corrupt index: hnsw link out of range"* ]]
	run -1 vp-diag h.vpi
}

@test "k larger than ef and than the index" {
	vp-gen -n 30 -d 4 -o small.fvecs
	vp-build -t HNSW -o h.vpi small.fvecs
	run -0 vp-search -i h.vpi -k 50 -p ef=5 -f json small.fvecs
	# every one of the 30 vectors is found (ef is raised to k)
	[ "$(printf '%s\n' "${lines[0]}" | grep -o '"ids":\[[^]]*\]' | tr ',' '\n' | wc -l)" -eq 30 ]
}
