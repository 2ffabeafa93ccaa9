#!/usr/bin/env bats
# Segments: --segment-size, --append, stable ids, the merge across segments.
load helpers

@test "a two-segment FLAT index returns the same ids as a one-segment one" {
	small_data
	vp-build -o one.vpi base.fvecs
	run -0 vp-build --segment-size 300 -o two.vpi base.fvecs
	run -0 vp-diag two.vpi
	[[ "$output" == *"segments       2"* ]]
	[[ "$output" == *"segment 1    ids 300..499"* ]]
	[ "$(vp-search -i two.vpi -k 10 query.fvecs)" = "$(vp-search -i one.vpi -k 10 query.fvecs)" ]
	# many small segments, and more segments than a merge takes at once
	vp-build --segment-size 7 -o many.vpi base.fvecs
	[ "$(vp-search -i many.vpi -k 10 query.fvecs)" = "$(vp-search -i one.vpi -k 10 query.fvecs)" ]
	# k past the size of every segment
	[ "$(vp-search -i many.vpi -k 30 -f ivecs query.fvecs | cksum)" = "$(vp-search -i one.vpi -k 30 -f ivecs query.fvecs | cksum)" ]
}

@test "--append adds a segment; ids continue and the result equals a full build" {
	small_data
	head -c $((200 * 36)) base.fvecs > first.fvecs
	tail -c +$((200 * 36 + 1)) base.fvecs > rest.fvecs
	vp-build -o grown.vpi first.fvecs
	before=$(vp-diag grown.vpi | grep '^  vectors')
	run -0 vp-build --append -o grown.vpi rest.fvecs
	run -0 vp-diag grown.vpi
	[[ "$output" == *"vectors        500 x 8"* ]]
	[[ "$output" == *"segment 1    ids 200..499"* ]]
	# the old segment's bytes are copied, not rebuilt
	[ "$(vp-diag grown.vpi | grep '^  vectors' | head -1 | awk '{ print $5 }')" = "$(echo "$before" | awk '{ print $5 }')" ]
	vp-build -o full.vpi base.fvecs
	[ "$(vp-search -i grown.vpi -k 10 query.fvecs)" = "$(vp-search -i full.vpi -k 10 query.fvecs)" ]
	# appending from stdin, twice more
	run -0 bash -c 'vp-gen -n 50 -d 8 --integer -s 9 | vp-build --append -o grown.vpi'
	run -0 bash -c 'vp-gen -n 50 -d 8 --integer -s 10 | vp-build --append -o grown.vpi -'
	run -0 vp-diag grown.vpi
	[[ "$output" == *"vectors        600 x 8"* ]]
	[[ "$output" == *"segments       4"* ]]
}

@test "appending to approximate indexes keeps their type and parameters" {
	vp-gen -n 3000 -d 16 -c 20 -o base.fvecs
	vp-gen -n 1000 -d 16 -c 20 --first 3000 -o more.fvecs
	vp-gen -n 100 -d 16 -c 20 --first 4000 -o query.fvecs
	cat base.fvecs more.fvecs > all.fvecs
	vp-build -o flat.vpi all.fvecs
	vp-search -i flat.vpi -k 10 -f ivecs query.fvecs > gt.ivecs
	for t in HNSW IVF_FLAT IVF_SQ8; do
		vp-build -t $t -p $( [ $t = HNSW ] && echo M=8 || echo nlist=16 ) -o $t.vpi base.fvecs
		run -0 vp-build --append -o $t.vpi more.fvecs
		run -0 vp-diag --no-stats $t.vpi
		[[ "$output" == *"type           $t"* ]]
		[[ "$output" == *"segments       2"* ]]
		run -0 vp-bench -i $t.vpi -q query.fvecs -g gt.ivecs -p $( [ $t = HNSW ] && echo ef=64 || echo nprobe=16 )
		r=$(echo "${lines[3]}" | awk '{ print $2 }')
		awk -v r="$r" 'BEGIN { exit !(r >= 0.9) }' || { echo "$t recall $r"; false; }
	done
}

@test "append errors: wrong dimension, wrong type, missing index, parameters" {
	small_data
	vp-build -o x.vpi base.fvecs
	before=$(cksum < x.vpi)
	vp-gen -n 10 -d 9 -o d9.fvecs
	run -3 vp-build --append -o x.vpi d9.fvecs
	[[ "$output" == *"d9.fvecs: vectors have dimension 9, index x.vpi has 8"* ]]
	run -2 vp-build --append -t HNSW -o x.vpi query.fvecs
	[[ "$output" == *"x.vpi is a FLAT index, not HNSW"* ]]
	run -2 vp-build --append -m ip -o x.vpi query.fvecs
	run -2 vp-build --append -p M=8 -o x.vpi query.fvecs
	run -4 vp-build --append -o missing.vpi query.fvecs
	run -3 vp-build --append -o base.fvecs query.fvecs
	[ "$(cksum < x.vpi)" = "$before" ]
	run -2 vp-build --segment-size 0 -o y.vpi base.fvecs
}

@test "vp-bench reports build time and vectors per second per segment" {
	small_data
	vp-build --segment-size 250 -o s.vpi base.fvecs
	vp-search -i s.vpi -k 10 -f ivecs query.fvecs > gt.ivecs
	run -0 vp-bench -i s.vpi -q query.fvecs -g gt.ivecs
	[[ "${lines[0]}" == *"vectors/s), 2 segments: 250 in "* ]]
	run -0 vp-bench -i s.vpi -q query.fvecs -g gt.ivecs --json
	[[ "$output" == *'"segments": [{"count": 250, "first_id": 0, "build_seconds": '* ]]
	[[ "$output" == *'"build_eps": '* ]]
}
