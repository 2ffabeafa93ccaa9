#!/usr/bin/env bats
# vp-tune and the config file in the programs.
load helpers

tune_data() {
	vp-gen -n 4000 -d 16 -c 30 --spread 0.3 -o base.fvecs
	vp-gen -n 200 -d 16 -c 30 --spread 0.3 --first 4000 -o query.fvecs
}

@test "the recommendation meets its target when built at full size with -c" {
	tune_data
	run -0 --separate-stderr vp-tune base.fvecs -q query.fvecs --target-recall 0.9 \
		--types HNSW,IVF_FLAT --sample 2000 -o vp.yaml
	[[ "$output" == *"# data base.fvecs: 4000 vectors of dimension 16"* ]]
	[[ "$output" == *"intrinsic dimension"* ]]
	[[ "$output" == *"pareto"* ]]
	[[ "$output" == *"<- recommended"* ]]
	[[ "$stderr" == *"vp-tune: [1] "* ]]
	[ -s vp.yaml ]
	grep -q '^  target_recall: 0.9000' vp.yaml
	# build at full size from the file, search with its parameters
	vp-build -c vp.yaml -o x.vpi base.fvecs
	vp-build -o flat.vpi base.fvecs
	vp-search -i flat.vpi -k 10 -f ivecs query.fvecs > gt.ivecs
	vp-search -c vp.yaml -i x.vpi -f ivecs query.fvecs > got.ivecs
	run -0 vp-diag --no-stats x.vpi
	[[ "$output" == *"config         (as built)"* ]]
	[[ "$output" == *"target_recall: 0.9000"* ]]
	# recall of what vp-search -c returned
	r=$(perl -e 'sub rd { open(my $h, "<:raw", $_[0]) or die; local $/; my @v = unpack("l<*", <$h>);
		my @r; while (@v) { my $d = shift @v; push @r, [splice(@v, 0, $d)] } @r }
		my @g = rd($ARGV[0]); my @f = rd($ARGV[1]); my $hit = 0;
		for my $i (0 .. $#g) { my %t = map { $_ => 1 } @{$g[$i]}[0..9]; $hit += grep { $t{$_} } @{$f[$i]}[0..9] }
		printf "%.4f", $hit / (10 * @g)' gt.ivecs got.ivecs)
	awk -v r="$r" 'BEGIN { exit !(r >= 0.9) }' || { echo "recall at full size $r"; cat vp.yaml; false; }
}

@test "bayes is reproducible with a seed" {
	tune_data
	# the memory objective is measured exactly, so the whole run repeats
	vp-tune base.fvecs --target-recall 0.9 --types IVF_FLAT,IVF_SQ8,HNSW --method bayes \
		--objective memory --seed 5 --sample 1500 --nq 50 -o a.yaml > a.out 2>/dev/null
	vp-tune base.fvecs --target-recall 0.9 --types IVF_FLAT,IVF_SQ8,HNSW --method bayes \
		--objective memory --seed 5 --sample 1500 --nq 50 -o b.yaml > b.out 2>/dev/null
	# the same candidates in the same order (timings differ, so compare columns 1-3)
	[ "$(awk '/^[0-9]/ { print $1, $2, $3 }' a.out)" = "$(awk '/^[0-9]/ { print $1, $2, $3 }' b.out)" ]
	[ "$(awk '/^[0-9]/' a.out | wc -l)" -ge 5 ]
	vp-tune base.fvecs --target-recall 0.9 --types IVF_FLAT,IVF_SQ8,HNSW --method random \
		--objective memory --seed 5 --sample 1500 --nq 50 -o c.yaml > c.out 2>/dev/null
	[ "$(awk '/^[0-9]/ { print $2, $3 }' a.out | head -5)" != "$(awk '/^[0-9]/ { print $2, $3 }' c.out | head -5)" ] ||
	[ "$(awk '/^[0-9]/ { print $2, $3 }' a.out)" != "$(awk '/^[0-9]/ { print $2, $3 }' c.out)" ]
}

@test "budgets: a memory budget nothing fits exits 1 and writes no file" {
	tune_data
	run -1 --separate-stderr vp-tune base.fvecs --target-recall 0.9 --types FLAT,IVF_FLAT \
		--memory-budget 1K --sample 1000 -o vp.yaml
	[[ "$stderr" == *"no configuration reached recall@10 >= 0.9 within the memory budget"* ]]
	[ ! -e vp.yaml ]
	# a one-second time budget stops before all six HNSW candidates
	vp-gen -n 20000 -d 32 -o big.fvecs
	run -0 vp-tune big.fvecs --target-recall 0.5 --types HNSW --time-budget 1 --sample 19000 -o t.yaml
	[[ "$output" =~ time\ budget\ of\ 1\ s:\ [1-5]\ evaluations\ on\ the\ sample ]]
	# the memory budget is honoured in what is recommended
	run -0 vp-tune base.fvecs --target-recall 0.9 --types IVF_FLAT,IVF_SQ8 --objective memory \
		--sample 2000 -o m.yaml
	grep -q 'type: IVF_SQ8' m.yaml
}

@test "an unreachable target exits 1" {
	tune_data
	run -1 vp-tune base.fvecs --target-recall 1.0 --types IVF_SQ8 --sample 1000 -o vp.yaml
	[[ "$output" == *"no configuration reached recall@10 >= 1"* ]]
}

@test "vp-tune usage and data errors" {
	tune_data
	run -2 vp-tune base.fvecs -o vp.yaml
	[[ "$output" == *"--target-recall and -o are required"* ]]
	run -2 vp-tune base.fvecs --target-recall 1.5 -o vp.yaml
	run -2 vp-tune base.fvecs --target-recall 0.9 --objective speed -o vp.yaml
	run -2 vp-tune base.fvecs --target-recall 0.9 --types BTREE -o vp.yaml
	run -2 vp-tune base.fvecs --target-recall 0.9 --memory-budget lots -o vp.yaml
	run -2 vp-tune base.fvecs --target-recall 0.9 --method anneal -o vp.yaml
	vp-gen -n 10 -d 16 -o tiny.fvecs
	run -3 vp-tune tiny.fvecs --target-recall 0.9 -o vp.yaml
	vp-gen -n 10 -d 5 -o q5.fvecs
	run -3 vp-tune base.fvecs -q q5.fvecs --target-recall 0.9 -o vp.yaml
	run -4 vp-tune missing.fvecs --target-recall 0.9 -o vp.yaml
}

@test "bad config files: exit 3 with file, line and column; options override the file" {
	tune_data
	printf 'index:\n  type: HNSW\n  M: 500\n' > bad.yaml
	run -3 vp-build -c bad.yaml -o x.vpi base.fvecs
	[ "$output" = "vp-build: bad.yaml:3:6: 'M' is out of range (2..128)" ]
	printf 'index:\n  type: HNSW\n  colour: blue\n' > bad2.yaml
	run -3 vp-build -c bad2.yaml -o x.vpi base.fvecs
	[ "$output" = "vp-build: bad2.yaml:3:3: unknown key 'colour'" ]
	run -4 vp-build -c missing.yaml -o x.vpi base.fvecs
	[ ! -e x.vpi ]
	printf 'index: [\n' > broken.yaml
	vp-build -o ok.vpi base.fvecs
	run -3 vp-search -c broken.yaml -i ok.vpi query.fvecs
	[[ "$output" == "vp-search: broken.yaml:2:1: "* ]]
	printf 'index:\n  type: IVF_FLAT\n  nlist: 16\nsearch:\n  k: 3\n  nprobe: 4\n' > ivf.yaml
	# -t on the command line wins; the file's IVF nlist then does not apply
	run -3 vp-build -c ivf.yaml -t HNSW -o x.vpi base.fvecs
	[[ "$output" == *"parameter 'nlist' does not apply to HNSW indexes"* ]]
	vp-build -c ivf.yaml -o x.vpi base.fvecs
	run -0 vp-search -c ivf.yaml -i x.vpi query.fvecs
	[ "${#lines[@]}" -eq 600 ]
	run -0 vp-search -c ivf.yaml -k 1 -i x.vpi query.fvecs
	[ "${#lines[@]}" -eq 200 ]
	vp-build -t HNSW -o h.vpi base.fvecs
	run -2 vp-search -c ivf.yaml -i h.vpi query.fvecs
	[[ "$output" == *"ivf.yaml describes a IVF_FLAT index, h.vpi is HNSW"* ]]
}

# recall@10 of FOUND.ivecs against TRUTH.ivecs
recall10() {
	perl -e 'sub rd { open(my $h, "<:raw", $_[0]) or die; local $/; my @v = unpack("l<*", <$h>);
		my @r; while (@v) { my $d = shift @v; push @r, [splice(@v, 0, $d)] } @r }
		my @g = rd($ARGV[0]); my @f = rd($ARGV[1]); my $hit = 0;
		for my $i (0 .. $#g) { my %t = map { $_ => 1 } @{$g[$i]}[0..9]; $hit += grep { $t{$_} } @{$f[$i]}[0..9] }
		printf "%.4f", $hit / (10 * @g)' "$1" "$2"
}

@test "no query file: the recommendation holds on queries from clusters the base lacks" {
	# 600 small separate clusters (like the patches of 600 images); the
	# queries come from 600 others, drawn alike (another seed)
	vp-gen -n 12000 -d 16 -c 600 --spread 0.1 --seed 1 -o base.fvecs
	vp-gen -n 300 -d 16 -c 600 --spread 0.1 --seed 2 -o unseen.fvecs
	start=$SECONDS
	# (IVF: its builds are deterministic, so the test is too)
	run -0 --separate-stderr vp-tune base.fvecs --target-recall 0.9 --types IVF_FLAT,IVF_SQ8 \
		--time-budget 12 --sample 3000 -o vp.yaml
	# the budget covers everything, the check on the full base included
	# (12 s asked; the slack is for a loaded machine: 17 s was seen with
	# three fuzzers beside the suite, where about 13 s is usual)
	[ $((SECONDS - start)) -le 20 ] || { echo "took $((SECONDS - start)) s"; false; }
	[[ "$output" == *"reaches 0.9150: the target plus 15% of the misses it allows"* ]]
	[[ "$output" == *"each query's group is held out too"* ]]
	[[ "$output" =~ predicted\ recall@10\ on\ unseen\ queries:\ 0\.[0-9]+\ \(90%\ interval\ 0\.[0-9]+-[01]\.[0-9]+\),\ measured\ on\ the\ full\ base ]]
	grep -q '^  evaluated_on: full' vp.yaml
	grep -q '^  queries: held-out' vp.yaml
	grep -q '^  recall_needed: 0.9150' vp.yaml
	# the interval is stored around the point estimate, and clears what was needed
	perl -ne '$v{$1} = $2 if /^  (recall\w*): ([0-9.]+)/; END { exit !($v{recall_low} <= $v{recall} &&
		$v{recall} <= $v{recall_high} && $v{recall_low} >= $v{recall_needed}) }' vp.yaml
	vp-build -c vp.yaml -o x.vpi base.fvecs
	vp-build -o flat.vpi base.fvecs
	vp-search -i flat.vpi -k 10 -f ivecs unseen.fvecs > gt.ivecs
	vp-search -c vp.yaml -i x.vpi -f ivecs unseen.fvecs > got.ivecs
	r=$(recall10 gt.ivecs got.ivecs)
	awk -v r="$r" 'BEGIN { exit !(r >= 0.9) }' || { echo "recall on unseen queries $r"; cat vp.yaml; false; }
}

@test "the search parameter is re-fitted on the full base; --no-full-check leaves the sample's" {
	# IVF on a half sample keeps rows per list with half the lists, so the
	# sample's nprobe probes twice the share of the base it will at full
	# size: the check on the full base must raise it
	vp-gen -n 4000 -d 16 -c 30 --spread 0.3 -o base.fvecs
	run -0 vp-tune base.fvecs --target-recall 0.95 --types IVF_FLAT --method grid --sample 1500 -o a.yaml
	[[ "$output" == *"full base, IVF_FLAT lists: recall"* ]]
	grep -q '^  evaluated_on: full' a.yaml
	run -0 vp-tune base.fvecs --target-recall 0.95 --types IVF_FLAT --method grid --sample 1500 \
		--no-full-check -o b.yaml
	[[ "$output" != *"# full base,"* ]]
	[[ "$output" == *"measured on a sample only"* ]]
	grep -q '^  evaluated_on: sample' b.yaml
	# given queries are real traffic: no allowance on top of the target
	vp-gen -n 200 -d 16 -c 30 --spread 0.3 --first 4000 -o query.fvecs
	run -0 vp-tune base.fvecs -q query.fvecs --target-recall 0.9 --types IVF_FLAT --sample 1500 -o c.yaml
	[[ "$output" == *"reaches 0.9000"* ]]
	grep -q '^  queries: given' c.yaml
}
