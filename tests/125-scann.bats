#!/usr/bin/env bats
# SCANN: 4-bit PQ codes scanned in registers, then re-ranked with what
# keep= kept.  Recall against the exact answer, the same answers at every
# SIMD level, every metric, filters, segments, deletes and compaction,
# parameters, hostile sections.
load helpers

scann_data() {
	vp-gen -n 5000 -d 32 -c 40 --spread 0.3 -o base.fvecs
	vp-gen -n 200 -d 32 -c 40 --spread 0.3 --first 5000 -o query.fvecs
	vp-build -o flat.vpi base.fvecs
	vp-search -i flat.vpi -k 10 -f ivecs query.fvecs > gt.ivecs
}

recall_at() { # recall_at INDEX PARAMS...: recall@10 of the sweep's one point
	local ix=$1
	shift
	vp-bench -i "$ix" -q query.fvecs -g gt.ivecs "$@" --json |
		sed -n 's/.*"recall": \([0-9.]*\).*/\1/p' | head -1
}

at_least() { # at_least VALUE MIN WHAT
	awk -v r="$1" -v m="$2" 'BEGIN { exit !(r >= m) }' || { echo "$3: $1 < $2"; false; }
}

@test "SCANN: recall with the exact reorder, from one list to all; what vp-diag says" {
	scann_data
	vp-build -t SCANN -p nlist=32 -o s.vpi base.fvecs
	run -0 vp-diag --no-stats s.vpi
	[[ "$output" == *"type           SCANN"* ]]
	[[ "$output" == *"parameters     nlist=32, m=8, keep=originals"* ]]
	[[ "$output" == *"codes          4-bit PQ, m=8 (4 dimensions a sub-quantizer), 4.0 bytes a vector"* ]]
	[[ "$output" == *"reorder        exact, with the float32 originals"* ]]
	[[ "$output" == *"pq4_codebooks"* && "$output" == *"problems       none"* ]]
	# the estimates alone (4 dimensions a 4-bit code on this tightly
	# clustered set: 0.29) find few; the reorder lifts them
	at_least "$(recall_at s.vpi -p nprobe=32 -p reorder_k=10)" 0.25 "no reorder"
	at_least "$(recall_at s.vpi -p nprobe=32)" 0.65 "default reorder (4 x k)"
	at_least "$(recall_at s.vpi -p nprobe=32 -p reorder_k=400)" 0.999 "reorder 400"
	at_least "$(recall_at s.vpi -p nprobe=2 -p reorder_k=100)" 0.95 "nprobe 2"
	# exact distances after the reorder: FLAT's for the ids it returns
	vp-search -i s.vpi -k 10 -p nprobe=32 -p reorder_k=5000 query.fvecs > s.tsv
	vp-search -i flat.vpi -k 10 query.fvecs > f.tsv
	cmp s.tsv f.tsv
}

@test "SCANN keep=sq8 and keep=none: smaller files, the reorder they allow" {
	scann_data
	vp-build -t SCANN -p nlist=32 -o o.vpi base.fvecs
	vp-build -t SCANN -p nlist=32 -p keep=sq8 -o q.vpi base.fvecs
	vp-build -t SCANN -p nlist=32 -p keep=none -o n.vpi base.fvecs
	run -0 vp-diag --no-stats q.vpi
	[[ "$output" == *"keep=sq8"* && "$output" == *"reorder        with SQ8 codes"* ]]
	[[ "$output" == *"sq8_codes"* && "$output" != *"  vectors "* ]]
	run -0 vp-diag --no-stats n.vpi
	[[ "$output" == *"reorder        none: distances are the codes' estimates"* ]]
	[ "$(stat -c %s n.vpi)" -lt "$(stat -c %s q.vpi)" ]
	[ "$(stat -c %s q.vpi)" -lt "$(stat -c %s o.vpi)" ]
	at_least "$(recall_at q.vpi -p nprobe=32 -p reorder_k=400)" 0.95 "sq8 reorder"
	r=$(recall_at n.vpi -p nprobe=32)
	at_least "$r" 0.25 "no reorder"
	# keep=none ignores reorder_k: the same answers
	[ "$(recall_at n.vpi -p nprobe=32 -p reorder_k=400)" = "$r" ]
	# the code section is at most 1/4 of IVF_SQ8's, blocks' padding aside
	vp-build -t IVF_SQ8 -p nlist=32 -o sq.vpi base.fvecs
	a=$(vp-diag --no-stats --no-verify n.vpi | awk '$1 == "ivf_data" { print $4 }')
	b=$(vp-diag --no-stats --no-verify sq.vpi | awk '$1 == "ivf_data" { print $4 }')
	[ $((a * 4)) -le $((b + 32 * 16 * 16 * 4)) ] || { echo "codes $a against SQ8 $b"; false; }
}

@test "SCANN: the same answers at every SIMD level; inner product and cosine" {
	scann_data
	vp-build -t SCANN -p nlist=32 -o s.vpi base.fvecs
	# the same ids (the exact reorder's distances may differ in the last
	# digit: each level sums the floats in its own order)
	want=$(VP_SIMD=portable vp-search -i s.vpi -k 10 -p nprobe=4 -b 1 query.fvecs | cut -f1-3 | cksum)
	for lv in avx2 native; do
		[ "$(VP_SIMD=$lv vp-search -i s.vpi -k 10 -p nprobe=4 -b 1 query.fvecs |
		     cut -f1-3 | cksum)" = "$want" ]
	done
	# without a reorder: the codes' sums alone rank them
	vp-build -t SCANN -p nlist=32 -p keep=none -o n.vpi base.fvecs
	want=$(VP_SIMD=portable vp-search -i n.vpi -k 10 -p nprobe=4 query.fvecs | cut -f1-3 | cksum)
	for lv in avx2 native; do
		[ "$(VP_SIMD=$lv vp-search -i n.vpi -k 10 -p nprobe=4 query.fvecs |
		     cut -f1-3 | cksum)" = "$want" ]
	done
	for m in ip cosine; do
		vp-build -m $m -o f$m.vpi base.fvecs
		vp-search -i f$m.vpi -k 10 -f ivecs query.fvecs > g$m.ivecs
		vp-build -t SCANN -m $m -p nlist=32 -o s$m.vpi base.fvecs
		r=$(vp-bench -i s$m.vpi -q query.fvecs -g g$m.ivecs -p nprobe=32 -p reorder_k=200 --json |
		    sed -n 's/.*"recall": \([0-9.]*\).*/\1/p' | head -1)
		at_least "$r" 0.97 "$m"
	done
}

@test "SCANN: filters, segments and appends, deletes and compaction" {
	scann_data
	vp-build -t SCANN -p nlist=16 -o s.vpi base.fvecs
	# every id returned passes, and the nearest passing rows are found
	vp-search -i s.vpi -k 10 -p nprobe=16 -p reorder_k=400 --filter 'id < 1000' query.fvecs > sf.tsv
	vp-search -i flat.vpi -k 10 --filter 'id < 1000' query.fvecs > ff.tsv
	[ "$(awk '$3 >= 1000' sf.tsv | wc -l)" -eq 0 ]
	[ "$(wc -l < sf.tsv)" -eq 2000 ]
	hit=$(join -j1 <(awk '{ print $1 "_" $3 }' sf.tsv | sort) <(awk '{ print $1 "_" $3 }' ff.tsv | sort) | wc -l)
	[ "$hit" -ge 1950 ] || { echo "filtered: $hit of 2000"; false; }
	# appends: a second segment with its own lists and codebooks
	vp-gen -n 2000 -d 32 -c 40 --spread 0.3 --first 7000 -o more.fvecs
	vp-build --append -o s.vpi more.fvecs
	run -0 vp-diag --no-stats s.vpi
	[[ "$output" == *"segments       2"* ]]
	cat base.fvecs more.fvecs > all.fvecs
	vp-build -o fa.vpi all.fvecs
	vp-search -i fa.vpi -k 10 -f ivecs query.fvecs > gt.ivecs
	at_least "$(recall_at s.vpi -p nprobe=16 -p reorder_k=400)" 0.99 "two segments"
	# deletes: never returned; compaction keeps the answers
	seq 0 2 6999 > del.txt
	vp-build -q --delete del.txt -o s.vpi
	vp-search -i s.vpi -k 10 -p nprobe=16 query.fvecs > d.tsv
	[ "$(awk '$3 % 2 == 0 && $3 < 7000' d.tsv | wc -l)" -eq 0 ]
	vp-build -q --compact s.vpi
	run -0 vp-diag --no-stats s.vpi
	[[ "$output" != *"deleted "* ]]
	vp-search -i s.vpi -k 10 -p nprobe=16 query.fvecs > c.tsv
	cmp d.tsv c.tsv
}

@test "SCANN parameters: m, keep, reorder_k and where they apply" {
	scann_data
	run -2 vp-build -t SCANN -p m=5 -o x.vpi base.fvecs
	[[ "$output" == *"m=5 does not divide the dimension 32"* ]]
	run -2 vp-build -t SCANN -p keep=floats -o x.vpi base.fvecs
	[[ "$output" == *"keep"* ]]
	run -2 vp-build -t IVF_FLAT -p keep=sq8 -o x.vpi base.fvecs
	vp-build -t SCANN -p nlist=8 -p m=16 -o s.vpi base.fvecs
	run -0 vp-diag --no-stats s.vpi
	[[ "$output" == *"m=16 (2 dimensions a sub-quantizer), 8.0 bytes a vector"* ]]
	run -2 vp-search -i s.vpi -p reorder_k=-1 query.fvecs
	run -2 vp-search -i s.vpi -p refine=20 query.fvecs
	run -0 vp-search -i s.vpi -p reorder_k=3 -k 10 query.fvecs
	[ "$(echo "$output" | wc -l)" -eq 2000 ]
	head -c $((132 * 10)) base.fvecs > ten.fvecs
	run -2 vp-build -t SCANN -p nlist=2 -o x.vpi ten.fvecs
	[[ "$output" == *"SCANN needs at least 16 vectors to train its codebooks"* ]]
}

@test "SCANN, L2 and cosine: per-entry biases, one table a query; older files without them still search" {
	command -v xxhsum > /dev/null || skip "xxhsum (Debian xxhash) not installed"
	scann_data
	for m in l2 cosine; do
		vp-build -q -t SCANN -m $m -p nlist=16 -o s.vpi base.fvecs
		vp-diag --no-stats s.vpi | grep -q pq4_bias
		# as a file written before the biases: one quantized table a list
		cp s.vpi o.vpi
		rename_section o.vpi pq4_bias pq4_biax
		vp-diag --no-stats s.vpi | grep -q "^table          one a query"
		vp-diag --no-stats o.vpi | grep -q "^table          one a probed list"
		# the codes' estimates alone (reorder_k=k): the same ranking up
		# to the tables' quantization (finer with one table a query)
		r=$(recall_at s.vpi -p nprobe=4 -p reorder_k=10)
		o=$(recall_at o.vpi -p nprobe=4 -p reorder_k=10)
		awk -v r="$r" -v o="$o" 'BEGIN { exit !(r >= o - 0.02 && r > 0.1) }' ||
			{ echo "$m: recall $r with biases, $o without"; false; }
		# with a long reorder both are exact
		vp-search -i s.vpi -k 10 -p nprobe=16 -p reorder_k=1000 query.fvecs > s.tsv
		vp-search -i o.vpi -k 10 -p nprobe=16 -p reorder_k=1000 query.fvecs > o.tsv
		cmp s.tsv o.tsv
	done
	# inner product needs none (its table is the query's alone)
	vp-build -q -t SCANN -m ip -p nlist=16 -o i.vpi base.fvecs
	! vp-diag --no-stats i.vpi | grep -q pq4_bias
	# biases that are not numbers (a hostile file): those entries never
	# rank, the others do, nothing breaks; all of them: no results
	vp-build -q -t SCANN -p nlist=16 -p keep=none -o n.vpi base.fvecs
	off=$(vp-diag --no-stats --no-verify n.vpi | awk '$1 == "pq4_bias" { print $3 }')
	nan() { perl -e 'open(my $h, "+<:raw", $ARGV[0]) or die; seek($h, $ARGV[1], 0);
		print $h pack("L<", 0x7fc00000) x $ARGV[2]' n.vpi "$off" "$1"; rehash n.vpi; }
	nan 100
	run -0 vp-search -i n.vpi -k 10 -p nprobe=16 query.fvecs
	[ "$(printf '%s\n' "$output" | awk '$3 >= 0 && $4 !~ /nan/' | wc -l)" -eq 2000 ]
	nan 5000
	run -0 vp-search -i n.vpi -k 10 -p nprobe=16 query.fvecs
	[ -z "$output" ]
}

@test "SCANN: hostile sections are refused on open" {
	command -v xxhsum > /dev/null || skip "xxhsum (Debian xxhash) not installed"
	scann_data
	vp-build -t SCANN -p nlist=8 -o s.vpi base.fvecs
	cp s.vpi a.vpi
	rename_section a.vpi pq4_codebooks pq4_codebookz
	run -3 vp-search -i a.vpi query.fvecs
	[[ "$output" == *"a.vpi: corrupt index"*"pq4_codebooks"* ]]
	# keep= out of range in the header (parameter 9)
	cp s.vpi b.vpi
	put64 b.vpi $((80 + 8 * 9)) 7
	rehash b.vpi
	run -3 vp-search -i b.vpi query.fvecs
	[[ "$output" == *"b.vpi: corrupt index: SCANN keep=7"* ]]
	# a codebook value that is not finite
	cp s.vpi c.vpi
	off=$(vp-diag --no-stats --no-verify c.vpi | awk '$1 == "pq4_codebooks" { print $3 }')
	perl -e 'open(my $h, "+<:raw", $ARGV[0]) or die; seek($h, $ARGV[1] + 4, 0); print $h pack("L<", 0x7fc00000)' c.vpi "$off"
	run -3 vp-search -i c.vpi query.fvecs
	[[ "$output" == *"c.vpi: corrupt index: pq4_codebooks holds a value that is not finite"* ]]
	# codes shorter than the lists need
	cp s.vpi d.vpi
	rename_section d.vpi ivf_data ivf_datx
	run -3 vp-search -i d.vpi query.fvecs
	[[ "$output" == *"d.vpi: corrupt index"*"ivf_data"* ]]
	# m that does not divide the dimension
	cp s.vpi e.vpi
	put64 e.vpi $((80 + 8 * 1)) 5
	rehash e.vpi
	run -3 vp-search -i e.vpi query.fvecs
	[[ "$output" == *"does not divide"* ]]
	run -0 vp-search -i s.vpi query.fvecs
}

@test "SCANN anisotropic=T: score-aware codes rank inner products better before the reorder" {
	# unit rows and queries (perl scales each fvecs row)
	norm='open(my $i, "<:raw", $ARGV[0]) or die; open(my $o, ">:raw", $ARGV[1]) or die;
		while (read($i, my $h, 4) == 4) { my $d = unpack("l<", $h); read($i, my $r, 4 * $d);
		my @v = unpack("f<*", $r); my $s = 0; $s += $_ * $_ for @v; $s = sqrt($s) || 1;
		print $o $h, pack("f<*", map { $_ / $s } @v) }'
	vp-gen -n 5000 -d 64 -c 40 --spread 0.5 -o b.fvecs
	vp-gen -n 200 -d 64 -c 40 --spread 0.5 --first 5000 -o q.fvecs
	perl -e "$norm" b.fvecs base.fvecs
	perl -e "$norm" q.fvecs query.fvecs
	vp-build -m ip -o f.vpi base.fvecs
	vp-search -i f.vpi -k 10 -f ivecs query.fvecs > gt.ivecs
	vp-build -t SCANN -m ip -p nlist=16 -p keep=none -o p.vpi base.fvecs
	vp-build -t SCANN -m ip -p nlist=16 -p keep=none -p anisotropic=0.4 -o a.vpi base.fvecs
	run -0 vp-diag --no-stats a.vpi
	[[ "$output" == *"anisotropic=0.4"* ]]
	rp=$(recall_at p.vpi -p nprobe=16)
	ra=$(recall_at a.vpi -p nprobe=16)
	awk -v a="$ra" -v p="$rp" 'BEGIN { exit !(a > p) }' || { echo "anisotropic $ra, plain $rp"; false; }
	# the same codes whatever the thread count
	vp-build -t SCANN -m ip -p nlist=16 -p keep=none -p anisotropic=0.4 -j 1 -o a1.vpi base.fvecs
	cmp <(vp-search -i a.vpi -p nprobe=16 query.fvecs) <(vp-search -i a1.vpi -p nprobe=16 query.fvecs)
	run -2 vp-build -t SCANN -p anisotropic=1 -o x.vpi base.fvecs
	[[ "$output" == *"parameter 'anisotropic': 1 is out of range 0..0.999"* ]]
	run -2 vp-build -t SCANN -p anisotropic=x -o x.vpi base.fvecs
	[[ "$output" == *"'x' is not a number"* ]]
}
