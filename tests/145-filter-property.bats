#!/usr/bin/env bats
# The property test of --filter (issue 15): 300 seeded random expressions,
# up to 32 terms, checked against tests/filterprop.pl's own evaluator on
# FLAT (exact sets and k-th distances), HNSW and IVF_FLAT under every plan,
# and --explain's selectivity against the true passing fraction.
load helpers

@test "random filter expressions: vp-search agrees with an independent evaluator" {
	vp-gen -n 2000 -d 8 -c 20 --spread 0.4 --seed 7 -o base.fvecs
	vp-gen -n 5 -d 8 -c 20 --spread 0.4 --seed 7 --first 2000 -o query.fvecs
	# labels -3..12 drawn independently of position
	perl -e 'srand(3); print int(rand(16)) - 3, "\n" for 1 .. 2000' > labels.txt
	vp-build --labels labels.txt -o flat.vpi base.fvecs
	vp-build -t HNSW --labels labels.txt -o hnsw.vpi base.fvecs
	vp-build -t IVF_FLAT -p nlist=16 --labels labels.txt -o ivf.vpi base.fvecs
	run perl "$BATS_TEST_DIRNAME/filterprop.pl" 1 300 10 base.fvecs query.fvecs labels.txt 0.02 \
		flat.vpi:auto hnsw.vpi:auto,index,prefilter ivf.vpi:auto,index,prefilter,ivf-wide
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "${lines[-1]}" == "300 expressions ("*" past 8 nodes), 2400 searches checked: 0 failures in 0 expressions" ]]
}

@test "the minimal case of issue 15: five != terms" {
	printf '0 0\n1 0\n2 0\n3 0\n4 0\n5 0\n6 0\n' | fvecs_from_text base.fvecs
	printf '0 0\n' | fvecs_from_text q.fvecs
	printf '0\n1\n2\n3\n4\n5\n6\n' > labels.txt
	vp-build --labels labels.txt -o flat.vpi base.fvecs
	run -0 vp-search -i flat.vpi -k 1 -f json \
		--filter 'label != 0 && label != 1 && label != 2 && label != 3 && label != 4' q.fvecs
	[ "$output" = '{"query":0,"ids":[5],"distances":[25]}' ]
	run -0 vp-search -i flat.vpi -k 5 -f json \
		--filter '!(label == 0 || label == 1 || label == 2 || label == 3 || label == 4 || label == 6) || id == 0' q.fvecs
	[ "$output" = '{"query":0,"ids":[0,5],"distances":[0,25]}' ]
	# the estimate is exact here: 2 of 7 rows
	run -0 vp-search -i flat.vpi --explain \
		--filter 'label != 0 && label != 1 && label != 2 && label != 3 && label != 4'
	[[ "$output" == *"selectivity  0.2857 "* ]]
}
