#!/usr/bin/env bats
# vp-warmup: page-cache residency before and after, --lock.
load helpers

@test "warms an index and reports residency before and after" {
	small_data
	vp-build -o x.vpi base.fvecs
	run -0 vp-warmup x.vpi
	[[ "$output" =~ ^x\.vpi:\ [0-9]+\ pages,\ resident\ before\ [0-9.]+%,\ after\ 100\.0% ]]
	run -0 vp-warmup -q x.vpi
	[ -z "$output" ]
}

@test "--lock holds the index until SIGTERM, then exits 0" {
	small_data
	vp-build -o x.vpi base.fvecs
	vp-warmup --lock x.vpi > out.txt &
	pid=$!
	sleep 0.5
	kill -0 $pid
	kill -TERM $pid
	wait $pid
	grep -q ', locked$' out.txt
}

@test "bad index files and usage" {
	small_data
	run -3 vp-warmup base.fvecs
	[[ "$output" == *"base.fvecs: not a vp index"* ]]
	run -4 vp-warmup missing.vpi
	run -2 vp-warmup
}

# warm_data: an IVF_FLAT index of 40000 x 64 (10 MB), a skewed workload (20
# queries, each asked 10 times) and its access log
warm_data() {
	vp-gen -n 40000 -d 64 -c 64 -o base.fvecs
	vp-gen -n 20 -d 64 -c 64 --first 40000 -o few.fvecs
	for i in $(seq 10); do cat few.fvecs; done > skewed.fvecs
	vp-build -t IVF_FLAT -p nlist=256 -o ivf.vpi base.fvecs
	vp-search -i ivf.vpi -p nprobe=4 --access-log a.log skewed.fvecs > /dev/null
}

@test "--access-log --dry-run: the plan, within the budget, hot lists first" {
	warm_data
	run -0 vp-warmup --access-log a.log --budget 40% --dry-run ivf.vpi
	[[ "$output" == *"plan           ivf.vpi from a.log, strategy all"* ]]
	[[ "$output" == *"units          "*" ivf lists planned, of 256 ("*" in the log)"* ]]
	[[ "$output" == *"log            "*" records, 200 queries, 800 accesses, timed"* ]]
	# 20 distinct queries of 4 lists each: at most 80 lists, all planned
	[[ "$output" == *"expected       hit rate 100.0% of accesses, 100.0% of queries served whole"* ]]
	size=$(stat -c %s ivf.vpi)
	bytes=$(echo "$output" | perl -ne 'print $1 if /^bytes +(\d+) of/')
	[ "$bytes" -le $((size * 4 / 10)) ]
	# every list in the plan was probed (score > 0), hottest first
	echo "$output" | perl -ne 'if (/^  list \d+, segment 0: \d+ bytes, score ([0-9.e+]+)$/) {
		$1 > 0 or die "unprobed\n"; defined $p and $1 > $p and die "order\n"; $p = $1 }'
	# a budget too small for every probed list: coverage below 100%
	run -0 vp-warmup --access-log a.log --budget 3% --strategy frequency --dry-run ivf.vpi
	[[ "$output" != *"hit rate 100.0%"* ]]
	bytes=$(echo "$output" | perl -ne 'print $1 if /^bytes +(\d+) of/')
	[ "$bytes" -le $((size * 3 / 100)) ]
}

@test "--access-log brings in the plan: mincore shows it, the workload then faults nothing in" {
	warm_data
	run -0 vp-warmup --evict ivf.vpi
	left=$(echo "$output" | perl -ne 'print int($1) if /after eviction ([0-9.]+)%/')
	[ "$left" -lt 50 ] || skip "this filesystem keeps the file in memory after DONTNEED ($left% left)"
	run -0 vp-warmup --access-log a.log --budget 40% ivf.vpi
	[[ "$output" == *"brought in "*" (strategy all): expected hit rate 100.0% of accesses"* ]]
	after=$(echo "$output" | perl -ne 'print int($1) if /, after ([0-9.]+)%/')
	[ "$after" -le 45 ]
	run -0 vp-diag --residency ivf.vpi
	[[ "$output" == *"ivf_centroids         0"*"100.0%"* ]]
	data=$(echo "$output" | perl -ne 'print int($1) if /^  ivf_data .* ([0-9.]+)%$/')
	[ "$data" -gt 0 ] && [ "$data" -le 45 ]
	# the same workload now finds what it needs in memory
	vp-search -i ivf.vpi -k 10 -f ivecs skewed.fvecs > gt.ivecs
	vp-bench -i ivf.vpi -q skewed.fvecs -g gt.ivecs -p nprobe=4 --huge-pages off --json > run.json
	perl -MJSON::PP -e 'local $/; my $j = decode_json(<STDIN>); my $r = $j->{system}{residency};
		$r->{after} - $r->{before} < 0.02 or die "grew from $r->{before} to $r->{after}\n"' < run.json
}

@test "--access-log: HNSW regions, every strategy, bad options" {
	small_data
	vp-build -t HNSW -o h.vpi base.fvecs
	vp-search -i h.vpi --access-log h.log query.fvecs > /dev/null
	run -0 vp-diag --access-log h.log
	[[ "$output" == *"hnsw regions   "*" nodes each"* ]]
	for s in frequency recency correlation all; do
		run -0 vp-warmup --access-log h.log --strategy $s --budget 60% --dry-run h.vpi
		[[ "$output" == *"hnsw regions planned"* ]]
	done
	run -0 vp-warmup --access-log h.log --strategy recency --at 08:30 --dry-run h.vpi
	[[ "$output" == *"at 08:30"* ]]
	run -0 vp-warmup --access-log h.log --half-life 6h --budget 1M h.vpi
	run -2 vp-warmup --budget 50% h.vpi
	run -2 vp-warmup --dry-run h.vpi
	run -2 vp-warmup --access-log h.log --budget 150% h.vpi
	run -2 vp-warmup --access-log h.log --budget lots h.vpi
	run -2 vp-warmup --access-log h.log --strategy hottest h.vpi
	run -2 vp-warmup --access-log h.log --at 25:00 h.vpi
	run -2 vp-warmup --access-log h.log --half-life 0 h.vpi
	run -2 vp-warmup --access-log h.log --evict h.vpi
	run -4 vp-warmup --access-log missing.log h.vpi
	[[ "$output" == *"missing.log"* ]]
	printf 'VPALxxxxxxxxxxxx' > bad.log
	run -3 vp-warmup --access-log bad.log h.vpi
	[[ "$output" == *"bad.log: bad access-log block"* ]]
	# a log of another index: what matches is used, nothing breaks
	vp-build -o flat.vpi base.fvecs
	run -0 vp-warmup --access-log h.log --dry-run flat.vpi
}

@test "--grain: hot HNSW regions brought in as whole blocks, within the budget" {
	vp-gen -n 4000 -d 32 -c 16 -o b.fvecs
	vp-gen -n 40 -d 32 -c 16 --first 4000 -o q.fvecs
	vp-build -q -t HNSW -o h.vpi b.fvecs
	vp-search -i h.vpi --access-log h.log q.fvecs > /dev/null
	size=$(stat -c %s h.vpi)
	ranges() { awk '$1 ~ /^[0-9]+$/ && NF == 3' <<< "$1"; }
	run -0 vp-warmup --access-log h.log --budget 50% --grain 4K --dry-run h.vpi
	[[ "$output" == *"grain 4096"* ]]
	fine=$(ranges "$output" | wc -l)
	[ "$(ranges "$output" | awk '{ s += $3 } END { print s }')" -le $((size / 2)) ]
	run -0 vp-warmup --access-log h.log --budget 50% --dry-run h.vpi
	[[ "$output" == *"grain 65536"* ]]   # the default
	coarse=$(ranges "$output" | wc -l)
	[ "$(ranges "$output" | awk '{ s += $3 } END { print s }')" -le $((size / 2)) ]
	# fewer, larger ranges: some are whole aligned 64 KB blocks
	[ "$coarse" -lt "$fine" ]
	ranges "$output" | awk '$2 % 65536 == 0 && $3 >= 65536 { n++ } END { exit !(n > 0) }'
	# room for less than a grain after the always-needed 64 KB: regions
	# are still planned, page by page
	run -0 vp-warmup --access-log h.log --budget 100K --dry-run h.vpi
	[[ "$output" == *"hnsw regions planned"* ]]
	run -2 vp-warmup --access-log h.log --grain 0 --dry-run h.vpi
	run -2 vp-warmup --access-log h.log --grain 5% --dry-run h.vpi
	run -2 vp-warmup --access-log h.log --grain 2G --dry-run h.vpi
	run -2 vp-warmup --grain 64K h.vpi
	[[ "$output" == *"--grain"* ]]
}
