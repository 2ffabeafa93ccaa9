#!/usr/bin/env bats
# Filtered search: labels, the filter language, plans, recall at every
# selectivity against an exact filtered scan.
load helpers

# recall@10 of FOUND.ivecs against TRUTH.ivecs (rows of -1 padding ignored)
recall() {
	perl -e 'sub rd { open(my $h, "<:raw", $_[0]) or die; local $/; my @v = unpack("l<*", <$h>);
		my @r; while (@v) { my $d = shift @v; push @r, [splice(@v, 0, $d)] } @r }
		my @g = rd($ARGV[0]); my @f = rd($ARGV[1]); my ($hit, $tot) = (0, 0);
		for my $i (0 .. $#g) { my %t = map { $_ => 1 } grep { $_ >= 0 } @{$g[$i]};
			$tot += keys %t; $hit += grep { $t{$_} } @{$f[$i]} }
		printf "%.4f", $tot ? $hit / $tot : 1' "$1" "$2"
}

filter_data() {
	vp-gen -n 5000 -d 16 -c 30 --spread 0.3 -o base.fvecs
	vp-gen -n 100 -d 16 -c 30 --spread 0.3 --first 5000 -o query.fvecs
	# labels 0..999 cycling: label == v selects 0.1%, label < 10 1%, ...
	seq 0 4999 | awk '{ print $1 % 1000 }' > labels.txt
	vp-build --labels labels.txt -o flat.vpi base.fvecs
}

@test "FLAT filtered results equal an exact filtered brute force" {
	printf '0 0\n1 0\n2 0\n3 0\n4 0\n' | fvecs_from_text base.fvecs
	printf '0 0\n' | fvecs_from_text q.fvecs
	printf '1\n2\n1\n2\n1\n' > labels.txt
	vp-build --labels labels.txt -o x.vpi base.fvecs
	run -0 vp-search -i x.vpi -k 5 -f json --filter 'label == 2' q.fvecs
	[ "$output" = '{"query":0,"ids":[1,3],"distances":[1,9]}' ]
	run -0 vp-search -i x.vpi -k 2 -f json --filter 'label == 1 && id > 0' q.fvecs
	[ "$output" = '{"query":0,"ids":[2,4],"distances":[4,16]}' ]
	run -0 vp-search -i x.vpi -k 5 -f json --filter '!(label in {1})' q.fvecs
	[ "$output" = '{"query":0,"ids":[1,3],"distances":[1,9]}' ]
	run -0 vp-search -i x.vpi -k 5 -f json --filter 'label == 7' q.fvecs
	[ "$output" = '{"query":0,"ids":[],"distances":[]}' ]
}

@test "filtered recall >= 0.9 at every selectivity, and never fewer than k results" {
	filter_data
	vp-build -t HNSW --labels labels.txt -o hnsw.vpi base.fvecs
	vp-build -t IVF_FLAT -p nlist=32 --labels labels.txt -o ivf.vpi base.fvecs
	for f in 'label < 10' 'label < 100' 'label < 500' 'label >= 0' 'label < 50 || id < 100'; do
		vp-search -i flat.vpi -k 10 -f ivecs --filter "$f" query.fvecs > truth.ivecs
		for ix in hnsw ivf; do
			# the chosen plan and the exact one always; HNSW's own walk too
			# (it must not collapse when the filter is selective), while
			# IVF's own plan is expected to lose recall there
			for plan in auto prefilter $( [ $ix = hnsw ] && echo index ); do
				popt=""
				[ $plan = auto ] || popt="--plan $plan"
				vp-search -i $ix.vpi -k 10 -p $( [ $ix = hnsw ] && echo ef=64 || echo nprobe=8 ) \
					-f ivecs --filter "$f" $popt query.fvecs > got.ivecs
				r=$(recall truth.ivecs got.ivecs)
				awk -v r="$r" 'BEGIN { exit !(r >= 0.9) }' || { echo "$ix '$f' $plan: recall $r"; false; }
			done
		done
	done
	# 0.1%: 5 matching rows; all of them come back, from every index
	for ix in flat hnsw ivf; do
		vp-search -i $ix.vpi -k 10 -f json --filter 'label == 7' query.fvecs > got.json
		[ "$(head -1 got.json | grep -o '"ids":\[[^]]*\]' | tr ',' '\n' | wc -l)" -eq 5 ]
	done
	# HNSW's own plan at 1%: 50 matches, so 10 results for every query
	vp-search -i hnsw.vpi -k 10 -f ivecs --plan index --filter 'label < 10' query.fvecs > got.ivecs
	[ "$(perl -e 'local $/; $_ = <STDIN>; print scalar grep { $_ == -1 } unpack("l<*", $_)' < got.ivecs)" -eq 0 ]
}

@test "the planner: prefilter when selective, the index when not; --explain and --plan" {
	filter_data
	vp-build -t HNSW --labels labels.txt -o hnsw.vpi base.fvecs
	run -0 vp-search -i hnsw.vpi --filter 'label == 7' --explain
	[[ "$output" == *"selectivity  0.0010"* ]]
	[[ "$output" =~ prefilter\ +yes\ +[0-9.]+\ +1.00\ +\<-\ chosen ]]
	run -0 vp-search -i hnsw.vpi --filter 'label >= 0' --explain
	[[ "$output" == *"selectivity  1.0000"* ]]
	[[ "$output" =~ index\ +yes\ +[0-9.]+\ +0.97\ +\<-\ chosen ]]
	[[ "$output" =~ ivf-wide\ +no ]]
	run -0 vp-search -i hnsw.vpi --filter 'label >= 0' --plan prefilter --explain
	[[ "$output" =~ prefilter\ +yes\ +[0-9.]+\ +1.00\ +\<-\ chosen ]]
	run -0 vp-search -i hnsw.vpi --filter 'label < 100' --explain=analyze query.fvecs
	[[ "$output" =~ analyze\ +100\ queries,\ [0-9.]+\ us/query\ measured ]]
	vp-build -t IVF_FLAT -p nlist=32 --labels labels.txt -o ivf.vpi base.fvecs
	run -0 vp-search -i ivf.vpi -p nprobe=4 --filter 'label < 50' --explain
	[[ "$output" == *"(nprobe="* ]]
	# IVF_FLAT's prefilter plan scans every list: exact
	vp-search -i flat.vpi -k 10 -f ivecs --filter 'label < 50' query.fvecs > truth.ivecs
	vp-search -i ivf.vpi -k 10 -f ivecs --filter 'label < 50' --plan prefilter query.fvecs > got.ivecs
	[ "$(recall truth.ivecs got.ivecs)" = "1.0000" ]
	# at 1%, nprobe=4 lists hold too few matches: IVF's own plan probes on
	# until they do, and the widened plan probes 1/selectivity times more
	vp-search -i flat.vpi -k 10 -f ivecs --filter 'label < 10' query.fvecs > truth.ivecs
	vp-search -i ivf.vpi -p nprobe=4 -k 10 -f ivecs --filter 'label < 10' --plan index query.fvecs > own.ivecs
	vp-search -i ivf.vpi -p nprobe=4 -k 10 -f ivecs --filter 'label < 10' --plan ivf-wide query.fvecs > wide.ivecs
	awk -v a="$(recall truth.ivecs own.ivecs)" -v b="$(recall truth.ivecs wide.ivecs)" 'BEGIN { exit !(a >= 0.95 && b >= 0.95) }' 
}

@test "the planner: label locality of the HNSW graph in --explain" {
	filter_data
	vp-build -t HNSW --labels labels.txt -o cyc.vpi base.fvecs
	# labels that follow position: the nearest of 10 reference points
	head -c $((10 * 68)) query.fvecs > ten.fvecs
	vp-build -o ten.vpi ten.fvecs
	vp-search -i ten.vpi -k 1 base.fvecs | cut -f 3 > near.txt
	vp-build -t HNSW --labels near.txt -o near.vpi base.fvecs
	run -0 vp-search -i cyc.vpi --filter 'label < 100' --explain
	loc_cyc=$(printf '%s\n' "$output" | awk '$1 == "locality" { print $2 }')
	run -0 vp-search -i near.vpi --filter 'label == 3' --explain
	loc_near=$(printf '%s\n' "$output" | awk '$1 == "locality" { print $2 }')
	# cycling labels say nothing about position; nearest-point labels do
	# (what that does to the index plan's cost: tests/unit/test_plan.c,
	# where the timed per-distance cost is fixed)
	awk -v a="$loc_cyc" -v b="$loc_near" 'BEGIN { exit !(a < 0.1 && b > 0.5) }'
	# an id filter has no locality line
	run -0 vp-search -i cyc.vpi --filter 'id < 100' --explain
	[[ "$output" != *"locality"* ]]
}

@test "filter errors: parse errors name the column; labels are checked" {
	filter_data
	run -2 vp-search -i flat.vpi --filter 'label = 3' query.fvecs
	[ "${lines[0]}" = "vp-search: filter: column 7: expected ==, !=, <, <=, >, >= or 'in'" ]
	run -2 vp-search -i flat.vpi --filter 'label in {1,2' query.fvecs
	[[ "$output" == *"filter: column 14: expected ',' or '}'"* ]]
	run -2 vp-search -i flat.vpi --plan ivf-wide --filter 'label == 1' query.fvecs
	[[ "$output" == *"plan 'ivf-wide' does not apply to FLAT indexes"* ]]
	run -2 vp-search -i flat.vpi --plan sideways --filter 'label == 1' query.fvecs
	run -2 vp-search -i flat.vpi --explain query.fvecs
	[[ "$output" == *"--explain and --plan need --filter"* ]]
	vp-build -o nolabels.vpi base.fvecs
	run -2 vp-search -i nolabels.vpi --filter 'label == 1' query.fvecs
	[[ "$output" == *"nolabels.vpi has no labels to filter on"* ]]
	run -2 vp-search -i nolabels.vpi --filter 'id < 5 || label == 1' --explain
	[[ "$output" == *"nolabels.vpi has no labels to filter on"* ]]
	run -0 vp-search -i nolabels.vpi -k 2 --filter 'id < 10' query.fvecs
	run -0 vp-search -i nolabels.vpi --filter 'id < 10' --explain
	[[ "$output" == *"selectivity  0.0020 "* ]]
	head -3 labels.txt > short.txt
	run -3 vp-build --labels short.txt -o x.vpi base.fvecs
	[[ "$output" == *"short.txt: 3 labels for 5000 vectors"* ]]
	printf '1\nseven\n' > words.txt
	run -3 vp-build --labels words.txt -o x.vpi base.fvecs
	[[ "$output" == *"words.txt:2: 'seven' is not a 32-bit integer"* ]]
	run -4 vp-build --labels missing.txt -o x.vpi base.fvecs
	# labels as ivecs of dimension 1, and appends that keep labels
	perl -e 'for (0 .. 4999) { print pack("l<l<", 1, $_ % 1000) }' > labels.ivecs
	vp-build --labels labels.ivecs -o iv.vpi base.fvecs
	[ "$(vp-search -i iv.vpi -k 3 --filter 'label < 9' query.fvecs)" = "$(vp-search -i flat.vpi -k 3 --filter 'label < 9' query.fvecs)" ]
	run -2 vp-build --append -o iv.vpi query.fvecs
	[[ "$output" == *"has labels: give --labels for every segment or for none"* ]]
	seq 1 100 > more.txt
	run -0 vp-build --append --labels more.txt -o iv.vpi query.fvecs
	run -0 vp-search -i iv.vpi -k 1 -f json --filter 'id >= 5000 && label == 42' query.fvecs
	[[ "${lines[0]}" == '{"query":0,"ids":[5041],'* ]]
}
