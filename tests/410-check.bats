#!/usr/bin/env bats
# vp-diag --check: each rule with its fault injected for real, named first,
# and the recommendation applied makes it go away; healthy runs raise no
# warning.
load helpers

setup_file() {
	cd "$BATS_FILE_TMPDIR" || return 1
	PATH="$BATS_TEST_DIRNAME/../bin:$PATH"
	vp-gen -n 20000 -d 64 -c 32 -o base.fvecs
	vp-gen -n 1000 -d 64 -c 32 --first 20000 -o query.fvecs
	vp-build -o flat.vpi base.fvecs
	vp-search -i flat.vpi -f ivecs query.fvecs > gt.ivecs
	vp-build -t HNSW -o hnsw.vpi base.fvecs
	vp-build -t IVF_FLAT -o ivf.vpi base.fvecs
}

# check_data: the shared files, linked into the test's directory
check_data() {
	for f in base.fvecs query.fvecs gt.ivecs flat.vpi hnsw.vpi ivf.vpi; do
		ln -s "$BATS_FILE_TMPDIR/$f" "$f"
	done
	unset VP_SIMD
}

# bench INDEX [vp-bench options...] > RUN.json: 300 queries
bench() {
	local ix=$1
	shift
	vp-bench -i "$ix" -q query.fvecs -g gt.ivecs -n 300 --json "$@"
}

# first_rule RUN.json [vp-diag options...]: the id of the first finding
first_rule() {
	vp-diag --check "$@" --json | perl -ne 'if (/"rule": "([^"]+)"/) { print $1; exit }'
}

# rules RUN.json [options]: every rule id found, space-separated
rules() {
	vp-diag --check "$@" --json | perl -ne 'print "$1 " while /"rule": "([^"]+)"/g'
}

@test "healthy runs on FLAT, IVF_FLAT and HNSW: no finding at warning level, exit 0" {
	check_data
	for ix in flat.vpi ivf.vpi hnsw.vpi; do
		vp-warmup -q "$ix"
		bench "$ix" > lat.json
		run -0 vp-diag --check lat.json -i "$ix"
		[[ "$output" != *"[warning]"* && "$output" != *"[critical]"* ]]
		bench "$ix" --mode throughput > thr.json
		run -0 vp-diag --check thr.json -i "$ix" --target-recall 0.5
	done
	[[ "$output" == *"run            thr.json: HNSW hnsw.vpi, 300 queries, k=10, throughput mode"* ]]
}

@test "index-not-resident: an evicted index is named, and vp-warmup fixes it" {
	check_data
	# 20 MB: opening reads the header and table back (2 MB folios each)
	vp-gen -n 40000 -d 128 -c 32 -o big.fvecs
	vp-gen -n 300 -d 128 -c 32 --first 40000 -o bq.fvecs
	vp-build -o cold.vpi big.fvecs
	vp-search -i cold.vpi -f ivecs bq.fvecs > bgt.ivecs
	run -0 vp-warmup --evict cold.vpi
	left=$(echo "$output" | perl -ne 'print int($1) if /after eviction ([0-9.]+)%/')
	# tmpfs keeps every page: nothing to reproduce there
	[ "$left" -lt 50 ] || skip "this filesystem keeps the file in memory after DONTNEED ($left% left)"
	# 4 KB pages: every readahead window is a major fault
	vp-bench -i cold.vpi -q bq.fvecs -g bgt.ivecs --json --huge-pages off > cold.json
	run first_rule cold.json -i cold.vpi
	[ "$output" = index-not-resident ]
	run -1 vp-diag --check cold.json
	[[ "$output" == *"index-not-resident"*"do         vp-warmup cold.vpi"* ]]
	# applied: resident before the run, no major faults
	vp-warmup -q cold.vpi
	vp-bench -i cold.vpi -q bq.fvecs -g bgt.ivecs --json --huge-pages off > warm.json
	[[ "$(cat warm.json)" == *'"major_faults": 0,'* ]]
	[[ "$(cat warm.json)" == *'"residency": {"before": 1.000000'* ]]
	run -0 rules warm.json -i cold.vpi
	[[ "$output" != *index-not-resident* ]]
}

@test "simd-capped: VP_SIMD=portable on a CPU with more" {
	check_data
	cpu=$(vp-diag --system --json | perl -ne 'print $1 if /"simd_cpu": "([^"]+)"/')
	[ "$cpu" != portable ] || skip "this CPU has only the portable kernels"
	vp-warmup -q hnsw.vpi
	VP_SIMD=portable bench hnsw.vpi > slow.json
	run first_rule slow.json
	[ "$output" = simd-capped ]
	run -1 vp-diag --check slow.json
	[[ "$output" == *"distance kernels portable on a CPU that has $cpu"* ]]
	[[ "$output" == *"unset VP_SIMD"* ]]
	bench hnsw.vpi > fast.json
	run -0 rules fast.json
	[[ "$output" != *simd-capped* ]]
}

@test "threads-oversubscribed: -j 4 on one CPU, fixed by -j 1" {
	check_data
	command -v taskset || skip "no taskset"
	vp-warmup -q flat.vpi
	taskset -c 0 vp-bench -i flat.vpi -q query.fvecs -g gt.ivecs --json --mode throughput -j 4 -b 16 > over.json
	run first_rule over.json
	[ "$output" = threads-oversubscribed ]
	run -1 vp-diag --check over.json
	[[ "$output" == *"4 threads on 1 allowed CPU"* && "$output" == *"do         -j 1 "* ]]
	taskset -c 0 vp-bench -i flat.vpi -q query.fvecs -g gt.ivecs --json --mode throughput -j 1 -b 16 > one.json
	run -0 rules one.json
	[[ "$output" != *threads-oversubscribed* ]]
}

@test "cpu-quota: more threads than a cgroup quota allows" {
	check_data
	mkdir cg && echo "100000 100000" > cg/cpu.max
	vp-warmup -q flat.vpi
	VP_CGROUP_ROOT="$PWD/cg" bench flat.vpi --mode throughput -j 3 > q.json
	run first_rule q.json
	[ "$output" = cpu-quota ]
	run -1 vp-diag --check q.json
	[[ "$output" == *"3 threads under a cgroup CPU quota of 1.00 CPUs"* && "$output" == *"do         -j 1 "* ]]
	VP_CGROUP_ROOT="$PWD/cg" bench flat.vpi --mode throughput -j 1 > q1.json
	run -0 rules q1.json
	[[ "$output" != *cpu-quota* ]]
}

@test "recall-below-target: the measured setting reaches the target on all the queries" {
	check_data
	vp-warmup -q hnsw.vpi
	vp-bench -i hnsw.vpi -q query.fvecs -g gt.ivecs -p ef=10 --json > low.json
	run first_rule low.json -i hnsw.vpi --target-recall 0.95
	[ "$output" = recall-below-target ]
	run -1 vp-diag --check low.json -i hnsw.vpi --target-recall 0.95
	ef=$(echo "$output" | perl -ne 'print $1 if /do +-p ef=(\d+) \(measured recall/')
	[ -n "$ef" ] && [ "$ef" -gt 10 ]
	# applied to all 1000 queries (the curve saw every other one of them)
	vp-bench -i hnsw.vpi -q query.fvecs -g gt.ivecs -p ef="$ef" --json > fixed.json
	recall=$(perl -ne 'print $1 if /"recall": ([0-9.]+)/' fixed.json)
	perl -e 'exit !($ARGV[0] >= 0.95 - 0.005)' "$recall"
	run -0 rules fixed.json -i hnsw.vpi --target-recall 0.945
	# without the index, the advice is vp-tune
	run -1 vp-diag --check low.json --target-recall 0.95
	[[ "$output" == *"vp-tune --target 0.9500"* ]]
	# IVF: nprobe
	vp-bench -i ivf.vpi -q query.fvecs -g gt.ivecs -p nprobe=1 --json > ivf.json
	run -1 vp-diag --check ivf.json -i ivf.vpi --target-recall 0.9
	[[ "$output" == *"do         -p nprobe="* ]]
}

@test "segments-fragmented: many appends, fixed by one compaction" {
	check_data
	vp-gen -n 2000 -d 64 -c 32 -o part0.fvecs
	vp-build -t HNSW -o seg.vpi part0.fvecs
	for i in $(seq 1 12); do
		vp-gen -n 100 -d 64 -c 32 --first $((2000 + i * 100)) -o p.fvecs
		vp-build --append -o seg.vpi p.fvecs
	done
	bench seg.vpi > seg.json
	run first_rule seg.json
	[ "$output" = segments-fragmented ]
	run -1 vp-diag --check seg.json
	[[ "$output" == *"13 segments, 100 to 2000 vectors"* ]]
	[[ "$output" == *"merge them into one segment: vp-build --compact seg.vpi"* ]]
	# the index rules see it without a run: --health counts it, the plain
	# report lists it and its exit status stays the file's integrity
	run -1 vp-diag --health -i seg.vpi
	[[ "$output" == *"segments-fragmented"* ]]
	run -0 vp-diag --no-stats seg.vpi
	[[ "$output" == *"segments-fragmented"* ]]
	# the advice, as given: the index keeps its vectors, so no input needed
	run -0 vp-build --compact seg.vpi
	run -0 vp-diag seg.vpi
	[[ "$output" == *"segments       1"* ]]
	bench seg.vpi > one.json
	run -0 rules one.json
	[[ "$output" != *segments-fragmented* ]]
}

@test "ivf-imbalanced: nlist far too large, fixed by the nlist advised" {
	check_data
	vp-build -t IVF_FLAT -p nlist=2048 -o big.vpi base.fvecs
	bench big.vpi -p nprobe=8 > big.json
	run first_rule big.json
	[ "$output" = ivf-imbalanced ]
	run -1 vp-diag --check big.json
	[[ "$output" == *"2048 lists for 20000 vectors: 9.8 per list"* ]]
	nlist=$(echo "$output" | perl -ne 'print $1 if /rebuild with -p nlist=(\d+)/')
	[ "$nlist" -ge 64 ] && [ "$nlist" -le 256 ]
	run -1 vp-diag --health big.vpi
	[[ "$output" == *"ivf-imbalanced"* ]]
	run -1 vp-diag --health --json big.vpi
	[[ "$output" == *'"rule": "ivf-imbalanced"'* && "$output" == *'"run": ""'* ]]
	vp-build -t IVF_FLAT -p nlist="$nlist" -o big.vpi base.fvecs
	bench big.vpi > fixed.json
	run -0 rules fixed.json
	[[ "$output" != *ivf-imbalanced* ]]
}

@test "memory-pressure: an index above the cgroup memory limit, fixed by IVF_SQ8" {
	check_data
	size=$(stat -L -c %s flat.vpi)
	# 60%: IVF_SQ8 (about a quarter of FLAT) fits in half of it
	mkdir cg && echo $((size * 6 / 10)) > cg/memory.max
	vp-warmup -q flat.vpi
	VP_CGROUP_ROOT="$PWD/cg" bench flat.vpi > mem.json
	run first_rule mem.json
	[ "$output" = memory-pressure ]
	run -1 vp-diag --check mem.json
	[[ "$output" == *"[critical]"* && "$output" == *"cgroup memory limit"* ]]
	[[ "$output" == *"vp-build -t IVF_SQ8"* ]]
	vp-build -t IVF_SQ8 -o sq8.vpi base.fvecs
	vp-warmup -q sq8.vpi
	VP_CGROUP_ROOT="$PWD/cg" bench sq8.vpi > sq8.json
	run -0 rules sq8.json
	[[ "$output" != *memory-pressure* ]]
}

@test "cache-ineffective: a cache over queries that never repeat" {
	check_data
	vp-warmup -q hnsw.vpi
	vp-bench -i hnsw.vpi -q query.fvecs -g gt.ivecs --json --cache cdir > c.json
	run first_rule c.json
	[ "$output" = cache-ineffective ]
	run -1 vp-diag --check c.json
	[[ "$output" == *"hit rate 0.0% over 1000 lookups"* && "$output" == *"drop --cache"* ]]
	bench hnsw.vpi > nc.json
	run -0 rules nc.json
	[[ "$output" != *cache-ineffective* ]]
}

@test "a symptom is listed under its root cause" {
	check_data
	size=$(stat -L -c %s flat.vpi)
	mkdir cg && echo $((size / 2)) > cg/memory.max && echo "100000 100000" > cg/cpu.max
	cp flat.vpi cold.vpi
	vp-warmup -q --evict cold.vpi
	VP_CGROUP_ROOT="$PWD/cg" bench cold.vpi --huge-pages off --mode throughput -j 4 > two.json
	run -1 vp-diag --check two.json --json
	# the memory limit comes first (critical); the quota groups the oversubscription
	[[ "$output" == *'"rule": "memory-pressure"'* ]]
	perl -MJSON::PP -e 'local $/; my $j = decode_json(<STDIN>);
		my @f = @{$j->{findings}}; $f[0]{rule} eq "memory-pressure" or die "first\n";
		my %c = map { $_->{rule} => $_->{cause} } @f;
		!exists $c{"index-not-resident"} or $c{"index-not-resident"} eq "memory-pressure" or die "nr\n";
		!exists $c{"threads-oversubscribed"} or $c{"threads-oversubscribed"} eq "cpu-quota" or die "ts\n";
		$j->{worst} eq "critical" or die "worst\n"' <<< "$output"
}

@test "--check --json: the documented schema" {
	check_data
	vp-bench -i hnsw.vpi -q query.fvecs -g gt.ivecs -p ef=10 --json > low.json
	run -1 vp-diag --check low.json -i hnsw.vpi --target-recall 0.95 --json
	perl -MJSON::PP -e 'local $/; my $j = decode_json(<STDIN>);
		$j->{schema} eq "vp-diag-check/1" or die "schema\n";
		$j->{run} eq "low.json" && $j->{index} eq "hnsw.vpi" or die "paths\n";
		abs($j->{target_recall} - 0.95) < 1e-9 or die "target\n";
		for my $f (@{$j->{findings}}) { for (qw(rule severity cause evidence action expected_gain)) {
			exists $f->{$_} or die "no $_\n" } }
		$j->{worst} eq "warning" or die "worst\n"' <<< "$output"
}

@test "vp-diag -i INDEX: health lines and info-level findings keep exit 0" {
	check_data
	cat base.fvecs base.fvecs > dup.fvecs
	vp-build -o dup.vpi dup.fvecs
	run -0 vp-diag -i dup.vpi --no-stats --no-verify
	[[ "$output" == *"duplicates     20000 of 40000 rows"* ]]
	[[ "$output" == *"duplicate-vectors      [info]"* ]]
	run -0 vp-diag --no-stats hnsw.vpi
	[[ "$output" == *"hnsw level 0   mean degree "* ]]
	run -0 vp-diag --no-stats ivf.vpi
	[[ "$output" == *"ivf lists      "* && "$output" == *"findings       none"* ]]
}

@test "--check: bad run files and bad options" {
	check_data
	run -4 vp-diag --check missing.json
	[[ "$output" == *"missing.json"* ]]
	echo '{"runs": [' > bad.json
	run -3 vp-diag --check bad.json
	[[ "$output" == *"bad.json"* ]]
	echo '{"schema": "other/1", "runs": []}' > foreign.json
	run -3 vp-diag --check foreign.json
	[[ "$output" == *"foreign.json: not a vp-bench --json result"* ]]
	# a vp-bench/1 result still reads (runs only)
	echo '{"schema": "vp-bench/1", "k": 10, "runs": [{"param": "ef=10", "recall": 0.5, "qps": 1}]}' > v1.json
	run -1 vp-diag --check v1.json --target-recall 0.9
	[[ "$output" == *"recall-below-target"* ]]
	run -2 vp-diag --check v1.json --target-recall 1.5
	run -2 vp-diag --check v1.json --system
	run -2 vp-diag --target-recall 0.9 flat.vpi
	run -2 vp-diag -i flat.vpi flat.vpi
	run -2 vp-diag --health
	run -2 vp-diag --health --target-recall 0.9 flat.vpi
	run -3 vp-diag --check v1.json -i base.fvecs
	# an index the run's queries do not fit: warned, no curve, still a diagnosis
	vp-gen -n 500 -d 8 -o small.fvecs
	vp-build -t HNSW -o small.vpi small.fvecs
	vp-bench -i hnsw.vpi -q query.fvecs -g gt.ivecs -n 50 -p ef=10 --json > r.json
	run -1 vp-diag --check r.json -i small.vpi --target-recall 0.99
	[[ "$output" == *"do not match the index; recall curve not measured"* ]]
}

@test "--rules lists every rule, and vp-diag(1) documents each" {
	run -0 vp-diag --rules
	[ "${#lines[@]}" -ge 13 ]
	for id in index-not-resident simd-capped threads-oversubscribed recall-below-target \
		  segments-fragmented ivf-imbalanced memory-pressure cache-ineffective cpu-quota; do
		[[ "$output" == *"$id "* ]] || { echo "no $id"; false; }
	done
	for id in $(vp-diag --rules | awk 'NR > 1 { print $1 }'); do
		grep -q -- "^\.B $id\$\|^\.TP\n\.B $id" "$top/man/vp-diag.1" ||
			grep -q -- "$id" "$top/man/vp-diag.1" || { echo "vp-diag.1 lacks $id"; false; }
	done
}
