#!/usr/bin/env bats
# vp-bench: recall, QPS, latency, JSON, the regression gate.
load helpers

bench_data() {
	small_data
	vp-build -o x.vpi base.fvecs
	vp-search -i x.vpi -k 10 -f ivecs query.fvecs > gt.ivecs
}

@test "latency mode: recall 1.0 on FLAT, percentiles in order" {
	bench_data
	run -0 vp-bench -i x.vpi -q query.fvecs -g gt.ivecs -k 10
	[[ "${lines[0]}" == "# index x.vpi: FLAT l2, 500 x 8,"* ]]
	[[ "${lines[2]}" == param*recall*qps*p50_us*p99.9_us*max_us ]]
	row=(${lines[3]})
	[ "${row[0]}" = "-" ]
	[ "${row[1]}" = "1.0000" ]
	# min <= p50 <= p90 <= p95 <= p99 <= p99.9 <= max
	echo "${lines[3]}" | awk '{ exit !($4 <= $6 && $6 <= $7 && $7 <= $8 && $8 <= $9 && $9 <= $10 && $10 <= $11) }'
}

@test "throughput mode and --nq" {
	bench_data
	run -0 vp-bench -i x.vpi -q query.fvecs -g gt.ivecs --mode throughput -j 2 -n 5
	[[ "${lines[1]}" == "# 5 queries, k=10, mode throughput, 2 threads"* ]]
	row=(${lines[3]})
	[ "${row[1]}" = "1.0000" ]
}

@test "recall counts what is missing: a wrong ground truth gives recall 0" {
	bench_data
	perl -e 'for (1..20) { print pack("l<l<10", 10, (-5) x 10) }' > wrong.ivecs
	run -0 vp-bench -i x.vpi -q query.fvecs -g wrong.ivecs
	row=(${lines[3]})
	[ "${row[1]}" = "0.0000" ]
}

@test "--hist prints the latency histogram" {
	bench_data
	run -0 vp-bench -i x.vpi -q query.fvecs -g gt.ivecs --hist
	[[ "$output" == *"# latency histogram (us)"* ]]
	# the counts add up to the number of queries
	sum=$(printf '%s\n' "$output" | sed -n '/# latency histogram/,$p' | awk 'NF == 3 || NF == 2 { s += $2 } END { print s }')
	[ "$sum" -eq 20 ]
}

@test "--cold-start times from the first query, with the same answers" {
	bench_data
	run -0 --separate-stderr vp-bench -i x.vpi -q query.fvecs -g gt.ivecs --json
	warm=$output
	vp-warmup -q --evict x.vpi
	run -0 --separate-stderr vp-bench -i x.vpi -q query.fvecs -g gt.ivecs --json --cold-start
	[[ "$warm" == *'"cold_start": false'* ]]
	[[ "$output" == *'"cold_start": true'* ]]
	# all 20 queries timed, the recall of the warm run
	r() { perl -MJSON::PP -e 'local $/; my $j = decode_json(<STDIN>);
		printf "%d %.6f", scalar(@{$j->{runs}}), $j->{runs}[0]{recall}'; }
	[ "$(r <<< "$output")" = "$(r <<< "$warm")" ]
	[ "$(r <<< "$output")" = "1 1.000000" ]
	run -0 vp-bench --help
	[[ "$output" == *"--cold-start"* ]]
}

@test "--json writes the documented schema" {
	bench_data
	run -0 --separate-stderr vp-bench -i x.vpi -q query.fvecs -g gt.ivecs --json
	for key in '"schema": "vp-bench/2"' '"type": "FLAT"' '"count": 500' '"queries": 20' \
		   '"k": 10' '"mode": "latency"' '"runs": [' '"recall": 1.000000' '"latency_us": {' \
		   '"p999": ' '"histogram_us": [' '"peak_rss_bytes": ' '"build_seconds": '; do
		[[ "$output" == *"$key"* ]] || { echo "missing $key"; false; }
	done
	printf '%s\n' "$output" > run.json
	# vp-bench/2: the evidence vp-diag --check reads
	perl -MJSON::PP -e 'local $/; my $j = decode_json(<STDIN>);
		my $s = $j->{system};
		for (qw(simd simd_cpu kernels affinity cpus_allowed threads_requested cgroup
			mem_total_bytes rusage residency)) { exists $s->{$_} or die "system.$_\n" }
		for (qw(user_seconds system_seconds major_faults minor_faults voluntary_switches
			involuntary_switches)) { exists $s->{rusage}{$_} or die "rusage.$_\n" }
		$s->{residency}{before} >= 0 && $s->{residency}{before} <= 1 or die "residency\n";
		$s->{cpus_allowed} >= 1 or die "cpus\n";
		$j->{queries_path} eq "query.fvecs" && $j->{gt_path} eq "gt.ivecs" or die "paths\n";
		exists $j->{index}{health}{duplicate_rows} or die "health\n";
		$j->{index}{health}{rows_checked} == 500 or die "rows\n";
		ref $j->{index}{params} eq "HASH" or die "params\n"' <<< "$output"
	# the result is valid input for --baseline: same numbers, no regression
	run -0 vp-bench -i x.vpi -q query.fvecs -g gt.ivecs --baseline run.json --max-regression 100
}

@test "--baseline: a regression past the limit exits 1 and says what fell" {
	bench_data
	cat > fast.json <<-'JSON'
	{"schema": "vp-bench/1", "runs": [{"param": "", "recall": 1.0, "qps": 1e12}]}
	JSON
	run -1 vp-bench -i x.vpi -q query.fvecs -g gt.ivecs --baseline fast.json --max-regression 10
	[[ "$output" == *"regression: qps"*"baseline 1000000000000"* ]]
	cat > slow.json <<-'JSON'
	{"schema": "vp-bench/1", "runs": [{"param": "", "recall": 0.5, "qps": 1}]}
	JSON
	run -0 vp-bench -i x.vpi -q query.fvecs -g gt.ivecs --baseline slow.json --max-regression 10
	cat > better-recall.json <<-'JSON'
	{"schema": "vp-bench/1", "runs": [{"param": "", "recall": 1.5, "qps": 1}]}
	JSON
	run -1 vp-bench -i x.vpi -q query.fvecs -g gt.ivecs --baseline better-recall.json
	[[ "$output" == *"regression: recall"* ]]
}

@test "a bad baseline file is exit 3 with line and column" {
	bench_data
	printf '{"runs": [\n  {"qps": }]}\n' > bad.json
	run -3 vp-bench -i x.vpi -q query.fvecs -g gt.ivecs --baseline bad.json
	[[ "$output" == *"bad.json:2:11: unexpected character"* ]]
	echo '{"other": 1}' > other.json
	run -3 vp-bench -i x.vpi -q query.fvecs -g gt.ivecs --baseline other.json
	[[ "$output" == *"other.json: not a vp-bench --json result"* ]]
	run -4 vp-bench -i x.vpi -q query.fvecs -g gt.ivecs --baseline missing.json
}

@test "ground truth and query errors" {
	bench_data
	vp-search -i x.vpi -k 5 -f ivecs query.fvecs > gt5.ivecs
	run -3 vp-bench -i x.vpi -q query.fvecs -g gt5.ivecs -k 10
	[[ "$output" == *"gt5.ivecs: ground truth has 5 ids per query, fewer than k=10"* ]]
	head -c $((10 * 44)) gt.ivecs > gt10rows.ivecs
	run -3 vp-bench -i x.vpi -q query.fvecs -g gt10rows.ivecs
	[[ "$output" == *"ground truth has 10 rows, fewer than the 20 queries"* ]]
	run -3 vp-bench -i x.vpi -q query.fvecs -g query.fvecs
	vp-gen -n 5 -d 3 -o q3.fvecs
	run -3 vp-bench -i x.vpi -q q3.fvecs -g gt.ivecs
	[[ "$output" == *"queries have dimension 3, index x.vpi has 8"* ]]
}

@test "usage errors: sweeping a parameter FLAT does not have" {
	bench_data
	run -2 vp-bench -i x.vpi -q query.fvecs -g gt.ivecs -p ef=10,20
	[[ "$output" == *"parameter 'ef' does not apply to FLAT indexes"* ]]
	run -2 vp-bench -i x.vpi -q query.fvecs
	run -2 vp-bench -i x.vpi -q query.fvecs -g gt.ivecs --mode fast
	run -2 vp-bench -i x.vpi -q query.fvecs -g gt.ivecs --max-regression 200
}

@test "--json: the health check leaves the page cache as it found it" {
	vp-gen -n 200000 -d 64 -c 32 -o b.fvecs
	vp-gen -n 5 -d 64 -c 32 --first 200000 -o q.fvecs
	# two copies of a row: the duplicate count reads every row
	head -c 260 b.fvecs >> b.fvecs
	vp-build -q -t IVF_FLAT -p nlist=64 -o f.vpi b.fvecs
	vp-search -i f.vpi -k 10 -f ivecs -p nprobe=64 q.fvecs > gt.ivecs
	run -0 vp-warmup --evict f.vpi
	left=$(echo "$output" | perl -ne 'print int($1) if /after eviction ([0-9.]+)%/')
	[ "$left" -lt 50 ] || skip "this filesystem keeps the file in memory after DONTNEED ($left% left)"
	run -0 vp-bench -i f.vpi -q q.fvecs -g gt.ivecs -p nprobe=2 --huge-pages off --json
	perl -MJSON::PP -e 'local $/; my $j = decode_json(<STDIN>); my $h = $j->{index}{health};
		$h->{rows_checked} == 200001 or die "rows\n"; $h->{duplicate_rows} == 1 or die "dup\n"' <<< "$output"
	# none of them brought in: five queries at nprobe 2 score a few rows
	# (the rest of what is resident: readahead windows, 8 MB on a virtio
	# disk, around the lists' ids and the screen); reading every row for
	# the count brought in all 51 MB
	pct=$(vp-diag --residency f.vpi | perl -ne 'print int($1) if /^  ivf_data .* ([0-9.]+)%$/')
	[ "$pct" -lt 50 ]
	# a warm file counts the same
	cat f.vpi > /dev/null
	run -0 vp-bench -i f.vpi -q q.fvecs -g gt.ivecs -p nprobe=2 --json
	perl -MJSON::PP -e 'local $/; my $j = decode_json(<STDIN>); my $h = $j->{index}{health};
		$h->{rows_checked} == 200001 or die "rows\n"; $h->{duplicate_rows} == 1 or die "dup\n"' <<< "$output"
}
