#!/usr/bin/env bats
# IVF_FLAT, IVF_SQ8, IVF_PQ through the programs.
load helpers

ivf_data() {
	vp-gen -n 5000 -d 32 -c 40 --spread 0.3 -o base.fvecs
	vp-gen -n 200 -d 32 -c 40 --spread 0.3 --first 5000 -o query.fvecs
	vp-build -o flat.vpi base.fvecs
	vp-search -i flat.vpi -k 10 -f ivecs query.fvecs > gt.ivecs
}

recall_of() { # recall_of PARAM JSON
	printf '%s\n' "$2" | sed -n "s/.*\"param\": \"$1\", \"recall\": \([0-9.]*\).*/\1/p"
}

@test "each IVF type reaches recall@10 >= 0.9 at a moderate nprobe" {
	ivf_data
	for t in IVF_FLAT IVF_SQ8; do
		vp-build -t $t -p nlist=32 -o $t.vpi base.fvecs
		run -0 vp-bench -i $t.vpi -q query.fvecs -g gt.ivecs -p nprobe=8 --json
		r=$(recall_of nprobe=8 "$output")
		awk -v r="$r" 'BEGIN { exit !(r >= 0.9) }' || { echo "$t recall $r"; false; }
	done
	vp-build -t IVF_PQ -p nlist=32 -p m=8 -o pq.vpi base.fvecs
	run -0 vp-bench -i pq.vpi -q query.fvecs -g gt.ivecs -p refine=0,100 --json
	r0=$(recall_of refine=0 "$output")
	r100=$(recall_of refine=100 "$output")
	awk -v a="$r0" -v b="$r100" 'BEGIN { exit !(b >= 0.9 && b > a) }' || { echo "pq recall $r0 -> $r100"; false; }
}

@test "all lists probed, IVF_FLAT is exact" {
	ivf_data
	vp-build -t IVF_FLAT -p nlist=16 -o ivf.vpi base.fvecs
	[ "$(vp-search -i ivf.vpi -p nprobe=16 -k 10 -f ivecs query.fvecs | cksum)" = "$(cksum < gt.ivecs)" ]
}

@test "IVF parameters: bounds, applicability, m dividing the dimension" {
	ivf_data
	run -2 vp-build -t IVF_FLAT -p nlist=0 -o x.vpi base.fvecs
	run -2 vp-build -t IVF_FLAT -p m=8 -o x.vpi base.fvecs
	[[ "$output" == *"parameter 'm' does not apply to IVF_FLAT indexes"* ]]
	run -2 vp-build -t IVF_PQ -p m=5 -o x.vpi base.fvecs
	[[ "$output" == *"m=5 does not divide the dimension 32"* ]]
	run -2 vp-build -t IVF_FLAT -p nlist=6000 -o x.vpi base.fvecs
	[[ "$output" == *"nlist 6000 is more than the 5000 vectors"* ]]
	vp-build -t IVF_SQ8 -p nlist=8 -o sq.vpi base.fvecs
	run -2 vp-search -i sq.vpi -p refine=10 query.fvecs
	[[ "$output" == *"parameter 'refine' does not apply to IVF_SQ8 indexes"* ]]
	run -2 vp-search -i sq.vpi -p ef=10 query.fvecs
	run -0 vp-search -i sq.vpi -p nprobe=65536 -k 2 query.fvecs
}

@test "a damaged inverted list is refused on open" {
	ivf_data
	vp-build -t IVF_FLAT -p nlist=8 -o ivf.vpi base.fvecs
	off=$(vp-diag --no-stats --no-verify ivf.vpi | awk '$1 == "ivf_offsets" { print $3 }')
	perl -e 'open(my $h, "+<:raw", $ARGV[0]) or die; seek($h, $ARGV[1] + 8, 0); print $h pack("Q<", 999999)' ivf.vpi "$off"
	run -3 vp-search -i ivf.vpi query.fvecs
	[[ "$output" == *"ivf.vpi: corrupt index: inverted lists out of range"* ]]
}

@test "IVF with inner product and cosine" {
	ivf_data
	vp-build -m cosine -o fc.vpi base.fvecs
	vp-search -i fc.vpi -k 10 -f ivecs query.fvecs > gtc.ivecs
	for t in IVF_FLAT IVF_SQ8; do
		vp-build -t $t -m cosine -p nlist=16 -o c.vpi base.fvecs
		run -0 vp-bench -i c.vpi -q query.fvecs -g gtc.ivecs -p nprobe=16 --json
		r=$(recall_of nprobe=16 "$output")
		awk -v r="$r" 'BEGIN { exit !(r >= 0.9) }' || { echo "$t cosine recall $r"; false; }
	done
}

@test "IVF_SQ8's integer scan answers as the float scan of a file without norms" {
	ivf_data
	for m in l2 ip cosine; do
		vp-build -q -t IVF_SQ8 -m $m -p nlist=32 -o i.vpi base.fvecs
		vp-diag -i i.vpi | grep -q ivf_norms
		# an index written before the integer scan: no norms, floats
		cp i.vpi f.vpi
		rename_section f.vpi ivf_norms ivf_normx
		vp-search -i i.vpi -k 10 -p nprobe=5 -b 1 query.fvecs > int.tsv
		vp-search -i f.vpi -k 10 -p nprobe=5 -b 1 query.fvecs > float.tsv
		[ "$(wc -l < int.tsv)" -eq 2000 ]
		# the same ids for (nearly) every query: the scans' sums differ by
		# rounding only, so a near tie at the k-th place may swap
		same=$(paste int.tsv float.tsv | awk '$3 == $7' | wc -l)
		[ "$same" -ge 1990 ] || { echo "$m: $same of 2000 ids equal"; false; }
		# and the distances of the same ids are the same: recomputed exactly
		paste int.tsv float.tsv | awk '$3 == $7 && $4 != $8 { bad++ } END { exit bad > 0 }'
	done
}

@test "IVF_FLAT's screen (quant=sq8) answers exactly as the float scan, every metric, filtered, deleted" {
	ivf_data
	seq 0 4999 | awk '{ print $1 % 7 }' > labels.txt
	seq 3 11 4999 > del.txt
	for m in l2 ip cosine; do
		vp-build -q -t IVF_FLAT -m $m -p nlist=32 -p quant=sq8 --labels labels.txt --segment-size 2000 -o s.vpi base.fvecs
		vp-build -q -t IVF_FLAT -m $m -p nlist=32 -p quant=none --labels labels.txt --segment-size 2000 -o n.vpi base.fvecs
		vp-diag --no-stats s.vpi | grep -q '^screen  *SQ8 codes'
		vp-diag --no-stats n.vpi | grep -q '^screen  *none'
		[ "$(vp-diag --no-stats s.vpi | grep -c '^  ivf_screen ')" -eq 3 ]
		! vp-diag --no-stats n.vpi | grep -q ivf_screen
		# one query at a time (-b 1) goes through the screen
		for args in "-p nprobe=5" "-p nprobe=1" "-p nprobe=32" "-p nprobe=3 --filter label<3" \
			    "-p nprobe=3 --filter label==5 -k 50"; do
			vp-search -i s.vpi -k 10 -b 1 $args query.fvecs > s.tsv
			vp-search -i n.vpi -k 10 -b 1 $args query.fvecs > n.tsv
			[ -s s.tsv ]
			cmp s.tsv n.tsv || { echo "$m $args differs"; false; }
		done
		# a batch goes by list, on the floats: the same answers
		vp-search -i s.vpi -k 10 -b 200 -p nprobe=5 query.fvecs > b.tsv
		vp-search -i s.vpi -k 10 -b 1 -p nprobe=5 query.fvecs > s.tsv
		cmp s.tsv b.tsv
		# deletes: skipped, as by the float scan
		vp-build -q --delete del.txt -o s.vpi
		vp-build -q --delete del.txt -o n.vpi
		vp-search -i s.vpi -k 10 -b 1 -p nprobe=5 query.fvecs > s.tsv
		vp-search -i n.vpi -k 10 -b 1 -p nprobe=5 query.fvecs > n.tsv
		cmp s.tsv n.tsv
		! awk '($3 - 3) % 11 == 0' s.tsv | grep -q .
		# compaction carries the screen: the same answers after it
		vp-build -q --compact s.vpi
		[ "$(vp-diag --no-stats s.vpi | grep -c '^  screen_err ')" -eq 3 ]
		vp-search -i s.vpi -k 10 -b 1 -p nprobe=5 query.fvecs > c.tsv
		cmp s.tsv c.tsv
	done
	# every SIMD level: the screen's answers are that level's float scan's
	for m in l2 ip; do
		vp-build -q -t IVF_FLAT -m $m -p nlist=32 -p quant=sq8 -o s.vpi base.fvecs
		vp-build -q -t IVF_FLAT -m $m -p nlist=32 -p quant=none -o n.vpi base.fvecs
		for lv in portable avx2 native; do
			VP_SIMD=$lv vp-search -i s.vpi -k 10 -b 1 -p nprobe=5 query.fvecs > s.tsv
			VP_SIMD=$lv vp-search -i n.vpi -k 10 -b 1 -p nprobe=5 query.fvecs > n.tsv
			cmp s.tsv n.tsv || { echo "$m $lv differs"; false; }
		done
	done
	# all lists: FLAT's exact answers
	vp-build -q -t IVF_FLAT -p nlist=16 -p quant=sq8 -o a.vpi base.fvecs
	[ "$(vp-search -i a.vpi -p nprobe=16 -k 10 -b 1 -f ivecs query.fvecs | cksum)" = "$(cksum < gt.ivecs)" ]
	# more rows held than the screen keeps at once (4096): scored in turns
	vp-build -q -t IVF_FLAT -p nlist=16 -p quant=none -o an.vpi base.fvecs
	head -c $(( 20 * (4 + 32 * 4) )) query.fvecs > q20.fvecs
	vp-search -i a.vpi -p nprobe=16 -k 4500 -b 1 q20.fvecs > s.tsv
	vp-search -i an.vpi -p nprobe=16 -k 4500 -b 1 q20.fvecs > n.tsv
	[ "$(wc -l < s.tsv)" -eq 90000 ]
	cmp s.tsv n.tsv
	# an append gets a screen of its own; a file from before the screen
	# (its sections renamed) scans in floats, with the same answers
	head -c $(( 3000 * (4 + 32 * 4) )) base.fvecs > a.fvecs
	tail -c $(( 2000 * (4 + 32 * 4) )) base.fvecs > b.fvecs
	vp-build -q -t IVF_FLAT -p nlist=16 -p quant=sq8 -o p.vpi a.fvecs
	vp-build -q --append -o p.vpi b.fvecs
	[ "$(vp-diag --no-stats p.vpi | grep -c '^  ivf_screen ')" -eq 2 ]
	vp-search -i p.vpi -k 10 -b 1 -p nprobe=4 query.fvecs > s.tsv
	cp p.vpi o.vpi
	rename_section o.vpi ivf_screen ivf_screex
	rename_section o.vpi ivf_screen ivf_screex
	vp-search -i o.vpi -k 10 -b 1 -p nprobe=4 query.fvecs > o.tsv
	cmp s.tsv o.tsv
}

@test "IVF_FLAT's screen: on from 64 dimensions (quant=auto), and hostile sections" {
	vp-gen -n 3000 -d 64 -c 20 -o base.fvecs
	vp-gen -n 100 -d 64 -c 20 --first 3000 -o query.fvecs
	vp-build -q -t IVF_FLAT -p nlist=16 -o s.vpi base.fvecs
	run -0 vp-diag --no-stats s.vpi
	[[ "$output" == *"quant=sq8"* && "$output" == *"screen         SQ8 codes"* ]]
	vp-build -q -t IVF_FLAT -p nlist=16 -p quant=none -o n.vpi base.fvecs
	vp-search -i n.vpi -k 10 -b 1 -p nprobe=4 query.fvecs > n.tsv
	# one of the sections missing: refused, naming it
	cp s.vpi a.vpi
	rename_section a.vpi screen_err screen_erx
	run -3 vp-search -i a.vpi query.fvecs
	[[ "$output" == *"a.vpi: corrupt index: section 'screen_err'"* ]]
	# errors that are not numbers or negative (a hostile file): those
	# rows are scored as if unbounded, the answers stay the float scan's
	command -v xxhsum > /dev/null || skip "xxhsum (Debian xxhash) not installed"
	off=$(vp-diag --no-stats --no-verify s.vpi | awk '$1 == "screen_err" { print $3 }')
	perl -e 'open(my $h, "+<:raw", $ARGV[0]) or die; seek($h, $ARGV[1], 0);
		print $h pack("L<", 0x7fc00000) x 1000; print $h pack("f<", -1) x 1000' s.vpi "$off"
	rehash s.vpi
	vp-search -i s.vpi -k 10 -b 1 -p nprobe=4 query.fvecs > s.tsv
	cmp s.tsv n.tsv
	# weighted norms that are not numbers: the same
	off=$(vp-diag --no-stats --no-verify s.vpi | awk '$1 == "screen_norms" { print $3 }')
	perl -e 'open(my $h, "+<:raw", $ARGV[0]) or die; seek($h, $ARGV[1], 0);
		print $h pack("L<", 0x7fc00000) x 3000' s.vpi "$off"
	rehash s.vpi
	vp-search -i s.vpi -k 10 -b 1 -p nprobe=4 query.fvecs > s.tsv
	cmp s.tsv n.tsv
	# an SQ8 range that is not a number: refused on open
	off=$(vp-diag --no-stats --no-verify s.vpi | awk '$1 == "sq8_step" { print $3 }')
	perl -e 'open(my $h, "+<:raw", $ARGV[0]) or die; seek($h, $ARGV[1] + 8, 0);
		print $h pack("L<", 0x7fc00000)' s.vpi "$off"
	rehash s.vpi
	run -3 vp-search -i s.vpi query.fvecs
	[[ "$output" == *"s.vpi: corrupt index: SQ8 range of dimension 2 is not finite"* ]]
	# as IVF_SQ8's
	vp-build -q -t IVF_SQ8 -p nlist=16 -o q.vpi base.fvecs
	off=$(vp-diag --no-stats --no-verify q.vpi | awk '$1 == "sq8_min" { print $3 }')
	perl -e 'open(my $h, "+<:raw", $ARGV[0]) or die; seek($h, $ARGV[1] + 20, 0);
		print $h pack("L<", 0x7f800000)' q.vpi "$off"
	rehash q.vpi
	run -3 vp-search -i q.vpi query.fvecs
	[[ "$output" == *"q.vpi: corrupt index: SQ8 range of dimension 5 is not finite"* ]]
}

@test "IVF_FLAT and IVF_SQ8 batches searched by list answer exactly as one query at a time" {
	ivf_data
	for tm in IVF_FLAT:l2 IVF_FLAT:ip IVF_FLAT:cosine IVF_SQ8:l2 IVF_SQ8:ip IVF_SQ8:cosine; do
		t=${tm%:*} m=${tm#*:}
		vp-build -t $t -m $m -p nlist=32 --segment-size 2000 -o f$t$m.vpi base.fvecs
		# -b 1: one query at a time (per-query scan); -b 200: by list
		vp-search -i f$t$m.vpi -k 10 -p nprobe=5 -b 1 -j 1 query.fvecs > one.tsv
		vp-search -i f$t$m.vpi -k 10 -p nprobe=5 -b 200 -j 1 query.fvecs > batch.tsv
		vp-search -i f$t$m.vpi -k 10 -p nprobe=5 -b 200 -j 2 query.fvecs > batch2.tsv
		cmp one.tsv batch.tsv
		cmp one.tsv batch2.tsv
		[ "$(wc -l < one.tsv)" -eq 2000 ]
	done
	# the distances are exact: FLAT's for the same ids
	vp-search -i fIVF_FLATl2.vpi -k 10 -p nprobe=32 -b 200 query.fvecs > all.tsv
	vp-search -i flat.vpi -k 10 query.fvecs > exact.tsv
	cmp all.tsv exact.tsv
	# the access log records the lists each query probed, either way
	vp-search -i fIVF_FLATl2.vpi -p nprobe=3 -b 1 --access-log a1.log query.fvecs > /dev/null
	vp-search -i fIVF_FLATl2.vpi -p nprobe=3 -b 200 --access-log a2.log query.fvecs > /dev/null
	# (apart from the file name, a time record per batch, and the clock
	# times of the runs, which differ once a run takes over a second)
	[ "$(vp-diag --access-log a1.log | grep -v '^access log\|^records\|^cost\|^time')" = \
	  "$(vp-diag --access-log a2.log | grep -v '^access log\|^records\|^cost\|^time')" ]
}
