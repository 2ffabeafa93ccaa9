#!/usr/bin/env bats
# HNSW traversal codes (quant=sq8): what the build writes, recall with the
# exact re-rank, the same answers at every SIMD level, hostile sections.
load helpers

codes_data() { # codes_data DIM
	vp-gen -n 3000 -d "$1" -c 20 -o base.fvecs
	vp-gen -n 100 -d "$1" -c 20 --first 3000 -o query.fvecs
	vp-build -o flat.vpi base.fvecs
	vp-search -i flat.vpi -k 10 -f ivecs query.fvecs > gt.ivecs
}

@test "auto: codes from 64 dimensions, floats below; quant names in vp-diag and the config" {
	codes_data 64
	vp-build -t HNSW -o h.vpi base.fvecs
	run -0 vp-diag --no-stats h.vpi
	[[ "$output" == *"parameters     M=16, efConstruction=200, quant=sq8"* ]]
	[[ "$output" == *"traversal      sq8 codes, 64-byte rows (4.0x smaller than the floats)"*"x k candidates re-ranked"* ]]
	[[ "$output" == *"hnsw_gcode"* && "$output" == *"hnsw_gcp"* ]]
	[[ "$output" == *"quant: auto"* || "$output" != *"quant: 8"* ]]
	vp-gen -n 500 -d 16 -o small.fvecs
	vp-build -t HNSW -o s.vpi small.fvecs
	run -0 vp-diag --no-stats s.vpi
	[[ "$output" == *"quant=none"* && "$output" == *"traversal      float32"* ]]
	[[ "$output" != *"hnsw_gcode"* ]]
	# asked for, codes at any dimension
	vp-build -t HNSW -p quant=sq8 -o s8.vpi small.fvecs
	run -0 vp-diag --no-stats s8.vpi
	[[ "$output" == *"quant=sq8"* && "$output" == *"hnsw_gcode"* ]]
}

@test "quant=sq8 reaches the recall of the float walk, with exact distances" {
	codes_data 96
	vp-build -t HNSW -p quant=sq8 -o q.vpi base.fvecs
	vp-build -t HNSW -p quant=none -o f.vpi base.fvecs
	run -0 vp-bench -i q.vpi -q query.fvecs -g gt.ivecs -p ef=16,64 --json
	q16=$(printf '%s\n' "$output" | sed -n 's/.*"param": "ef=16", "recall": \([0-9.]*\).*/\1/p')
	q64=$(printf '%s\n' "$output" | sed -n 's/.*"param": "ef=64", "recall": \([0-9.]*\).*/\1/p')
	run -0 vp-bench -i f.vpi -q query.fvecs -g gt.ivecs -p ef=64 --json
	f64=$(printf '%s\n' "$output" | sed -n 's/.*"param": "ef=64", "recall": \([0-9.]*\).*/\1/p')
	awk -v a="$q16" -v b="$q64" -v f="$f64" 'BEGIN { exit !(a >= 0.85 && b >= 0.97 && b >= f - 0.02) }' ||
		{ echo "sq8 ef=16 $q16, ef=64 $q64; floats ef=64 $f64"; false; }
	# the distances are the exact ones of the ids returned (FLAT's)
	vp-search -i q.vpi -p ef=64 -k 5 query.fvecs > q.tsv
	vp-search -i flat.vpi -k 3000 query.fvecs > all.tsv
	awk -F'\t' 'NR == FNR { d[$1 " " $3] = $4; next }
		{ e = d[$1 " " $3]; x = $4 - e; if (x < 0) x = -x; if (x > 1e-4 * (1 + e)) { print "row", $0, "exact", e; bad = 1 } }
		END { exit bad }' all.tsv q.tsv
}

@test "refine: more candidates re-ranked never lowers recall; k re-ranked caps it" {
	codes_data 64
	vp-build -t HNSW -p quant=sq8 -o q.vpi base.fvecs
	run -0 vp-bench -i q.vpi -q query.fvecs -g gt.ivecs -p refine=10,15,40 --json
	r10=$(printf '%s\n' "$output" | sed -n 's/.*"param": "refine=10", "recall": \([0-9.]*\).*/\1/p')
	r40=$(printf '%s\n' "$output" | sed -n 's/.*"param": "refine=40", "recall": \([0-9.]*\).*/\1/p')
	awk -v a="$r10" -v b="$r40" 'BEGIN { exit !(b >= a && b >= 0.95) }' ||
		{ echo "refine=10 $r10, refine=40 $r40"; false; }
	run -2 vp-search -i q.vpi -p refine=-1 query.fvecs
	run -2 vp-search -i q.vpi -p refine=x query.fvecs
	[[ "$output" == *"'x' is not an integer"* ]]
}

@test "every SIMD level returns the same answers on integer data" {
	vp-gen -n 3000 -d 80 -c 20 --integer -o base.fvecs
	vp-gen -n 100 -d 80 -c 20 --integer --first 3000 -o query.fvecs
	vp-build -t HNSW -j 1 -o q.vpi base.fvecs
	vp-search -i q.vpi -p ef=32 -j 1 query.fvecs > native.tsv
	for lvl in portable avx2; do
		VP_SIMD=$lvl vp-search -i q.vpi -p ef=32 -j 1 query.fvecs > $lvl.tsv
		cmp native.tsv $lvl.tsv
	done
	# and the build: the same graph from the same codes at every level
	VP_SIMD=portable vp-build -t HNSW -j 1 -o p.vpi base.fvecs
	[ "$(vp-diag --no-stats q.vpi | grep '^  hnsw_l0' | awk '{ print $5 }')" = \
	  "$(vp-diag --no-stats p.vpi | grep '^  hnsw_l0' | awk '{ print $5 }')" ]
	# two threads: the same answers as one
	vp-search -i q.vpi -p ef=32 -j 2 query.fvecs > two.tsv
	cmp native.tsv two.tsv
}

@test "quant: bad values, the vp.yaml key, and appends keep each segment's codes" {
	codes_data 64
	run -2 vp-build -t HNSW -p quant=sq4 -o x.vpi base.fvecs
	[[ "$output" == *"'sq4' is not one of auto, none, sq8"* ]]
	run -2 vp-build -t HNSW -p quant=8 -o x.vpi base.fvecs
	run -2 vp-build -t IVF_SQ8 -p quant=sq8 -o x.vpi base.fvecs
	[[ "$output" == *"does not apply to IVF_SQ8"* ]]
	[ ! -e x.vpi ]
	printf 'index:\n  type: HNSW\n  quant: none\n' > none.yaml
	vp-build -c none.yaml -o n.vpi base.fvecs
	run -0 vp-diag --no-stats n.vpi
	[[ "$output" == *"quant=none"* ]]
	printf 'index:\n  type: HNSW\n  quant: 3\n' > bad.yaml
	run -3 vp-build -c bad.yaml -o n2.vpi base.fvecs
	[[ "$output" == *"bad.yaml:3:"*"must be one of auto, none, sq8"* ]]
	# append: the new segment gets codes of its own
	head -c $(( 1500 * (4 + 64 * 4) )) base.fvecs > a.fvecs
	tail -c $(( 1500 * (4 + 64 * 4) )) base.fvecs > b.fvecs
	vp-build -t HNSW -o s.vpi a.fvecs
	vp-build --append -o s.vpi b.fvecs
	run -0 vp-diag --no-stats s.vpi
	[ "$(printf '%s\n' "$output" | grep -c '^  hnsw_gcode ')" -eq 2 ]
	run -0 vp-bench -i s.vpi -q query.fvecs -g gt.ivecs -p ef=64 --json
	r=$(printf '%s\n' "$output" | sed -n 's/.*"param": "ef=64", "recall": \([0-9.]*\).*/\1/p')
	awk -v r="$r" 'BEGIN { exit !(r >= 0.95) }' || { echo "recall $r"; false; }
}

@test "hostile code sections are refused with exit 3, never followed" {
	codes_data 64
	vp-build -t HNSW -p quant=sq8 -o h.vpi base.fvecs
	# one of the pair missing
	cp h.vpi a.vpi
	rename_section a.vpi hnsw_gcode hnsw_gcodx
	run -3 vp-search -i a.vpi query.fvecs
	[[ "$output" == *"a.vpi: corrupt index: sections 'hnsw_gcp'/'hnsw_gcode' of segment 0 missing or mis-sized"* ]]
	run -1 vp-diag a.vpi
	# a stride that does not match the dimension (it would walk off the rows)
	cp h.vpi b.vpi
	off=$(vp-diag --no-stats --no-verify b.vpi | awk '$1 == "hnsw_gcp" { print $3 }')
	perl -e 'open(my $h, "+<:raw", $ARGV[0]) or die; seek($h, $ARGV[1], 0); print $h pack("L<", 4096)' b.vpi "$off"
	run -3 vp-search -i b.vpi query.fvecs
	[[ "$output" == *"b.vpi: corrupt index: sections 'hnsw_gcp'/'hnsw_gcode'"* ]]
	# a NaN scale
	cp h.vpi c.vpi
	perl -e 'open(my $h, "+<:raw", $ARGV[0]) or die; seek($h, $ARGV[1] + 4, 0); print $h pack("L<", 0x7fc00000)' c.vpi "$off"
	run -3 vp-search -i c.vpi query.fvecs
	# a re-rank ratio out of its range (1..8)
	cp h.vpi r.vpi
	perl -e 'open(my $h, "+<:raw", $ARGV[0]) or die; seek($h, $ARGV[1] + 8, 0); print $h pack("f<", 1e9)' r.vpi "$off"
	run -3 vp-search -i r.vpi query.fvecs
	# an infinite offset
	cp h.vpi d.vpi
	perl -e 'open(my $h, "+<:raw", $ARGV[0]) or die; seek($h, $ARGV[1] + 16, 0); print $h pack("L<", 0x7f800000)' d.vpi "$off"
	run -3 vp-search -i d.vpi query.fvecs
	# code bytes out of range: wrong distances at worst, never a crash
	cp h.vpi e.vpi
	coff=$(vp-diag --no-stats --no-verify e.vpi | awk '$1 == "hnsw_gcode" { print $3 }')
	perl -e 'open(my $h, "+<:raw", $ARGV[0]) or die; seek($h, $ARGV[1], 0); print $h "\xff" x 6400' e.vpi "$coff"
	run -0 vp-search -i e.vpi -k 5 query.fvecs
	# --verify names the damaged section
	run -3 vp-search -i e.vpi --verify query.fvecs
	[[ "$output" == *"hnsw_gcode"* ]]
}

@test "an HNSW index written before codes existed (format 1.0) opens, walks the floats, appends" {
	# tests/data/hnsw-1.0-float.vpi: written by vp at commit 66bc16a from
	# vp-gen -n 300 -d 8 -c 4 --integer, M=8, efConstruction=64, seed 5
	old="$BATS_TEST_DIRNAME/data/hnsw-1.0-float.vpi"
	cp "$old" old.vpi
	run -0 vp-diag old.vpi
	[[ "$output" == *"format         1.0"* && "$output" == *"quant=none"* ]]
	[[ "$output" == *"traversal      float32 vectors"* ]]
	[[ "$output" == *"problems       none"* || "$output" == *"structure      ok"* ]]
	# on integer data with ef covering every row the answers are exact:
	# the same distances at every rank (ties may order ids differently)
	vp-gen -n 300 -d 8 -c 4 --integer -o base.fvecs
	vp-gen -n 20 -d 8 -c 4 --integer --first 300 -o query.fvecs
	vp-build -o flat.vpi base.fvecs
	vp-search -i flat.vpi -k 5 query.fvecs | cut -f1,2,4 > want.tsv
	vp-search -i old.vpi -k 5 -p ef=300 query.fvecs | cut -f1,2,4 > got.tsv
	[ "$(wc -l < got.tsv)" -eq 100 ]
	cmp want.tsv got.tsv
	# the file is what vp-gen makes today (the data behind it unchanged)
	vp-search -i old.vpi --verify -k 1 query.fvecs > /dev/null
	# an append keeps the index's parameters: no codes in the new segment
	vp-gen -n 50 -d 8 -c 4 --integer --first 1000 -o more.fvecs
	vp-build --append -o old.vpi more.fvecs
	run -0 vp-diag --no-stats old.vpi
	[[ "$output" == *"segments       2"* && "$output" != *"hnsw_gcode"* ]]
}

@test "rows stored in graph order: ids, labels and id filters map back; a hostile row map is refused" {
	codes_data 64
	seq 0 2999 | awk '{ print $1 % 7 }' > labels.txt
	vp-build -t HNSW -l labels.txt -o h.vpi base.fvecs
	run -0 vp-diag --no-stats h.vpi
	[[ "$output" == *"row_ids"* ]]
	# ids come back once each and within range: k = all rows, ef = all
	# rows (a node the graph leaves unreachable may be missing: -1)
	vp-search -i h.vpi -k 3000 -p ef=3000 -f ivecs query.fvecs | head -c $((4 + 3000 * 4)) > all.ivecs
	od -An -v -td4 -j4 all.ivecs | tr -s ' ' '\n' | grep -v '^$' | grep -v '^-1$' > ids.txt
	[ "$(sort -n ids.txt | uniq | wc -l)" -eq "$(wc -l < ids.txt)" ]
	[ "$(wc -l < ids.txt)" -ge 2950 ]
	awk '$1 < 0 || $1 >= 3000 { bad = 1 } END { exit bad }' ids.txt
	# a label filter and an id filter answer with the right rows, under
	# the index plan (the walk) and the prefilter plan (the scan)
	for plan in index prefilter; do
		vp-search -i h.vpi -k 10 --plan $plan --filter 'label == 3' query.fvecs > l.tsv
		awk -F'\t' 'NR == FNR { lab[NR - 1] = $1; next } lab[$3] != 3 { print "row", $0; bad = 1 } END { exit bad }' labels.txt l.tsv
		vp-search -i h.vpi -k 10 --plan $plan --filter 'id < 100' query.fvecs > i.tsv
		awk -F'\t' '$3 >= 100 || $3 < 0 { print "row", $0; bad = 1 } END { exit bad || NR != 1000 }' i.tsv
	done
	# exact on the ids: a filter on ids equal to FLAT's answer over them
	vp-build -l labels.txt -o flat7.vpi base.fvecs
	vp-search -i flat7.vpi -k 5 --filter 'id in {5, 17, 300, 2999, 1234, 42}' query.fvecs | cut -f1,2,3 > want.tsv
	vp-search -i h.vpi -k 5 --plan prefilter --filter 'id in {5, 17, 300, 2999, 1234, 42}' query.fvecs | cut -f1,2,3 > got.tsv
	cmp want.tsv got.tsv
	# a row map entry past the segment: exit 3, never an id of elsewhere
	off=$(vp-diag --no-stats --no-verify h.vpi | awk '$1 == "row_ids" { print $3 }')
	perl -e 'open(my $h, "+<:raw", $ARGV[0]) or die; seek($h, $ARGV[1] + 40, 0); print $h pack("L<", 3000)' h.vpi "$off"
	run -3 vp-search -i h.vpi query.fvecs
	[[ "$output" == *"h.vpi: corrupt index: row_ids of segment 0 out of range"* ]]
}
