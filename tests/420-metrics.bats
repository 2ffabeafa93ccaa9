#!/usr/bin/env bats
# --metrics: Prometheus text files from vp-search, vp-bench, vp-build and
# vp-warmup, valid for promtool, written atomically, rewritten during a run.
load helpers

# promtool_ok FILE: promtool's verdict, or a visible skip without it
promtool_ok() {
	command -v promtool >/dev/null ||
		skip "promtool not installed (Debian prometheus; scripts/install-deps installs it)"
	promtool check metrics < "$1"
}

# value FILE METRIC: the sample's value (METRIC may carry labels)
value() {
	awk -v m="$2" '$1 == m { print $2 }' "$1"
}

metrics_data() {
	small_data
	vp-build -o flat.vpi base.fvecs
	vp-search -i flat.vpi -k 10 -f ivecs query.fvecs > gt.ivecs
}

@test "vp-search --metrics: valid, and the counts match the run" {
	metrics_data
	run -0 vp-search -i flat.vpi -b 7 --cache cdir --metrics s.prom query.fvecs
	[ "${#lines[@]}" -eq 200 ]
	promtool_ok s.prom
	[ "$(value s.prom vp_search_queries_total)" = 20 ]
	[ "$(value s.prom vp_search_batches_total)" = 3 ]
	[ "$(value s.prom vp_search_batch_duration_seconds_count)" = 3 ]
	[ "$(value s.prom 'vp_search_batch_duration_seconds_bucket{le="+Inf"}')" = 3 ]
	[ "$(value s.prom vp_search_cache_lookups_total)" = 20 ]
	[ "$(value s.prom vp_search_index_size_bytes)" = "$(stat -c %s flat.vpi)" ]
	grep -q '^vp_search_index_info{index="flat.vpi",checksum="[0-9a-f]\{16\}",type="FLAT",gemm="[a-z]*"} 1$' s.prom
	[ "$(value s.prom vp_search_index_vectors)" = 500 ]
	grep -q '^vp_search_build_info{simd="[a-z0-9]*",simd_cpu="[a-z0-9]*",version="' s.prom
	grep -q '^vp_search_page_faults_total{kind="major"} [0-9]*$' s.prom
	grep -q '^vp_search_context_switches_total{kind="involuntary"} [0-9]*$' s.prom
	grep -q '^# TYPE vp_search_queries_total counter$' s.prom
	# a second run over the same cache: hits
	vp-search -i flat.vpi --cache cdir --metrics s.prom query.fvecs > /dev/null
	hits=$(value s.prom 'vp_search_cache_hits_total{level="l2"}')
	[ "$hits" -eq 20 ]
}

@test "histogram buckets are cumulative and end at the count" {
	metrics_data
	vp-bench -i flat.vpi -q query.fvecs -g gt.ivecs --metrics b.prom > /dev/null
	promtool_ok b.prom
	perl -e 'my ($prev, $n) = (-1, 0);
		while (<STDIN>) { next unless /^vp_bench_query_duration_seconds_bucket\{.*le="([^"]+)"\} (\d+)$/;
			$2 >= $prev or die "not cumulative\n"; $prev = $2; $n++; $inf = $2 if $1 eq "+Inf" }
		$inf == 20 && $n >= 2 or die "inf $inf, $n buckets\n"' < b.prom
	[ "$(value b.prom 'vp_bench_recall_ratio{param=""}')" = 1 ]
	[ "$(value b.prom vp_bench_queries_total)" = 20 ]
}

@test "vp-bench --metrics: a sweep, throughput mode" {
	metrics_data
	vp-build -t HNSW -o h.vpi base.fvecs
	vp-bench -i h.vpi -q query.fvecs -g gt.ivecs -p ef=10,40 --metrics b.prom > /dev/null
	promtool_ok b.prom
	[ "$(value b.prom vp_bench_runs_total)" = 2 ]
	grep -q '^vp_bench_recall_ratio{param="ef=40"} ' b.prom
	grep -q '^vp_bench_query_duration_seconds_count{param="ef=10"} 20$' b.prom
	vp-bench -i h.vpi -q query.fvecs -g gt.ivecs --mode throughput -j 2 --metrics t.prom > /dev/null
	promtool_ok t.prom
	! grep -q vp_bench_query_duration t.prom
	grep -q '^vp_bench_queries_per_second{param=""} ' t.prom
}

@test "vp-build and vp-build --append --metrics" {
	small_data
	vp-build -t HNSW -o h.vpi --metrics b.prom base.fvecs
	promtool_ok b.prom
	[ "$(value b.prom vp_build_vectors_total)" = 500 ]
	[ "$(value b.prom vp_build_index_size_bytes)" = "$(stat -c %s h.vpi)" ]
	grep -q '^vp_build_index_info{index="h.vpi",type="HNSW",metric="l2",mode="build"} 1$' b.prom
	grep -q '^vp_build_last_success_timestamp_seconds [0-9]' b.prom
	vp-build --append -o h.vpi --metrics a.prom query.fvecs
	promtool_ok a.prom
	[ "$(value a.prom vp_build_vectors_total)" = 20 ]
	grep -q 'mode="append"' a.prom
	# a failed build writes no metrics file (and no index)
	run -3 vp-build -o bad.vpi --metrics f.prom /dev/null
	[ ! -e f.prom ] && [ ! -e bad.vpi ]
}

@test "vp-warmup --metrics, and --evict" {
	small_data
	vp-build -o x.vpi base.fvecs
	vp-warmup -q --metrics w.prom x.vpi
	promtool_ok w.prom
	[ "$(value w.prom 'vp_warmup_resident_ratio{when="after"}')" = 1 ]
	[ "$(value w.prom vp_warmup_bytes_touched_total)" -gt 0 ]
	run -0 vp-warmup --evict --metrics e.prom x.vpi
	[[ "$output" == "x.vpi: "*" pages, resident before "*"%, after eviction "*"%" ]]
	promtool_ok e.prom
	[ "$(value e.prom vp_warmup_bytes_touched_total)" = 0 ]
	run -2 vp-warmup --evict --lock x.vpi
	[[ "$output" == *"--lock and --evict are opposites"* ]]
	run -4 vp-warmup --evict nothere.vpi
}

@test "the file is replaced atomically: a new inode, no temporary left" {
	metrics_data
	vp-search -i flat.vpi --metrics m.prom query.fvecs > /dev/null
	i1=$(stat -c %i m.prom)
	vp-search -i flat.vpi --metrics m.prom query.fvecs > /dev/null
	i2=$(stat -c %i m.prom)
	[ "$i1" != "$i2" ]
	[ "$(ls -A | grep -c '\.tmp\.')" -eq 0 ]
	[ "$(stat -c %a m.prom)" = 644 ]
}

@test "--metrics-interval rewrites the file during a run" {
	metrics_data
	mkfifo in
	vp-search -i flat.vpi -b 5 --metrics m.prom --metrics-interval 0.1 in > out.tsv &
	pid=$!
	exec 7> in
	head -c $(( (4 + 8 * 4) * 5 )) query.fvecs >&7
	# the first batch is written while the search waits for more input
	for i in $(seq 100); do
		[ "$(value m.prom vp_search_queries_total 2>/dev/null)" = 5 ] && break
		sleep 0.1
	done
	[ "$(value m.prom vp_search_queries_total)" = 5 ]
	kill -0 "$pid"
	tail -c +$(( (4 + 8 * 4) * 5 + 1 )) query.fvecs >&7
	exec 7>&-
	wait "$pid"
	[ "$(value m.prom vp_search_queries_total)" = 20 ]
	[ "$(wc -l < out.tsv)" -eq 200 ]
}

@test "--metrics errors: an unwritable path is exit 4, a bad interval exit 2" {
	metrics_data
	run -4 --separate-stderr vp-search -i flat.vpi --metrics nodir/m.prom query.fvecs
	[[ "$stderr" == *"nodir/m.prom"* ]]
	run -4 vp-bench -i flat.vpi -q query.fvecs -g gt.ivecs --metrics nodir/m.prom
	run -4 vp-build -o y.vpi --metrics nodir/m.prom base.fvecs
	# the index itself was written: only the metrics failed
	[ -f y.vpi ]
	run -2 vp-search -i flat.vpi --metrics-interval 0 --metrics m.prom query.fvecs
	run -2 vp-search -i flat.vpi --metrics-interval x --metrics m.prom query.fvecs
	run -2 vp-search -i flat.vpi --metrics '' query.fvecs
}
