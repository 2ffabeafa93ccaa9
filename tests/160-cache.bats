#!/usr/bin/env bats
# The result cache, --stats and the access log.
load helpers
# These tests compare answers across batch sizes; exact search on OpenBLAS
# (large batches, where it measures faster) and on vp's kernel (small ones)
# may order two rows within float rounding of each other differently, so
# the cache is tested on one kernel.
export VP_GEMM=vp

cache_data() {
	small_data
	vp-build -t HNSW -o x.vpi base.fvecs
	cat query.fvecs query.fvecs query.fvecs > q3.fvecs
}

@test "cache: the same answers; hits in memory, then across processes" {
	cache_data
	vp-search -i x.vpi -k 5 q3.fvecs > plain.tsv
	run -0 --separate-stderr vp-search -i x.vpi -k 5 --cache c --stats q3.fvecs
	[ "$output" = "$(cat plain.tsv)" ]
	[[ "$stderr" == *"cache 60 lookups, 40 L1 hits, 0 L2 hits, 0 L3 hits, hit rate 66.7%"* ]]
	[ -s c/vp-cache.bin ]
	# a second process answers everything from the shared file
	run -0 --separate-stderr vp-search -i x.vpi -k 5 --cache c --stats query.fvecs
	[[ "$stderr" == *"cache 20 lookups, 0 L1 hits, 20 L2 hits, 0 L3 hits, hit rate 100.0%"* ]]
	[ "$output" = "$(head -100 plain.tsv)" ]
	# another k, parameter or filter is another key: misses
	run -0 --separate-stderr vp-search -i x.vpi -k 4 --cache c --stats query.fvecs
	[[ "$stderr" == *"hit rate 0.0%"* ]]
	run -0 --separate-stderr vp-search -i x.vpi -k 5 -p ef=20 --cache c --stats query.fvecs
	[[ "$stderr" == *"hit rate 0.0%"* ]]
	# a filter is keyed by what it means, not how it is spelled
	run -0 --separate-stderr vp-search -i x.vpi -k 5 --filter 'id<400' --cache c --stats query.fvecs
	[[ "$stderr" == *"hit rate 0.0%"* ]]
	want=$output
	run -0 --separate-stderr vp-search -i x.vpi -k 5 --filter ' id < 400 ' --cache c --stats query.fvecs
	[[ "$stderr" == *"hit rate 100.0%"* ]]
	[ "$output" = "$want" ]
	run -0 --separate-stderr vp-search -i x.vpi -k 5 --filter 'id < 401' --cache c --stats query.fvecs
	[[ "$stderr" == *"hit rate 0.0%"* ]]
}

@test "cache-first: listed by --explain, chosen with --cache, what runs on a miss named" {
	cache_data
	seq 0 499 | awk '{ print $1 % 10 }' > labels.txt
	vp-build -t HNSW --labels labels.txt -o h.vpi base.fvecs
	run -0 vp-search -i h.vpi --filter 'label < 2' --explain
	[[ "$output" =~ cache-first\ +no\ +-\ +-\ +\(needs\ --cache\) ]]
	[[ "$output" =~ (index|prefilter)\ +yes\ +[0-9.]+\ +[0-9.]+\ +\<-\ chosen ]]
	# a fresh cache: no hits yet, so the estimate is the fallback's plus a lookup
	run -0 vp-search -i h.vpi --filter 'label < 2' --cache c --explain
	[[ "$output" == *"cache        c/vp-cache.bin: hit rate 0.0% over 0 lookups so far"* ]]
	[[ "$output" =~ cache-first\ +yes\ +[0-9.]+\ +[0-9.]+\ +\<-\ chosen ]]
	[[ "$output" =~ (index|prefilter)\ +yes\ +[0-9.]+\ +[0-9.]+\ +\<-\ on\ a\ miss ]]
	# analyze runs it: a third of the repeated queries searched
	run -0 vp-search -i h.vpi -k 10 --filter 'label < 2' --cache c --explain=analyze q3.fvecs
	[[ "$output" =~ analyze\ +60\ queries,\ [0-9.]+\ us/query\ measured\ \(plan\ cache-first,\ misses\ (index|prefilter),.*hit\ rate\ 66.7% ]]
	# the file remembers: its hit rate lowers the estimate below the fallback's
	run -0 vp-search -i h.vpi -k 10 --filter 'label < 2' --cache c --explain
	[[ "$output" == *"hit rate 66.7% over 60 lookups so far"* ]]
	cf=$(printf '%s\n' "$output" | awk '$1 == "cache-first" { print $3 }')
	fb=$(printf '%s\n' "$output" | awk '/on a miss/ { print $3 }')
	awk -v a="$cf" -v b="$fb" 'BEGIN { exit !(a < b) }'
	# forcing it: the same answers as without the cache
	want=$(vp-search -i h.vpi -k 10 --filter 'label < 2' q3.fvecs)
	run -0 vp-search -i h.vpi -k 10 --filter 'label < 2' --cache c --plan cache-first q3.fvecs
	[ "$output" = "$want" ]
	run -2 vp-search -i h.vpi --plan cache-first query.fvecs
	[[ "$output" == *"--plan cache-first needs --cache"* ]]
}

@test "cache: vp-bench and vp-search share entries" {
	cache_data
	vp-search -i x.vpi -k 10 -f ivecs query.fvecs > gt.ivecs
	run -0 vp-bench -i x.vpi -q query.fvecs -g gt.ivecs --mode throughput --cache c
	[[ "$output" == *"# cache c: 20 lookups, hit rate 0.0%"* ]]
	run -0 --separate-stderr vp-search -i x.vpi -k 10 --cache c --stats query.fvecs
	[[ "$stderr" == *"cache 20 lookups, 0 L1 hits, 20 L2 hits, 0 L3 hits, hit rate 100.0%"* ]]
}

@test "cache: a rebuilt index is never answered from old entries" {
	cache_data
	vp-search -i x.vpi -k 5 --cache c query.fvecs > /dev/null
	vp-gen -n 500 -d 8 --integer -s 77 | vp-build -o x.vpi -
	run -0 --separate-stderr vp-search -i x.vpi -k 5 --cache c --stats query.fvecs
	[[ "$stderr" == *"hit rate 0.0%"* ]]
	[ "$output" = "$(vp-search -i x.vpi -k 5 query.fvecs)" ]
}

@test "cache: a damaged or foreign cache file is rebuilt, never trusted" {
	cache_data
	vp-search -i x.vpi -k 5 --cache c query.fvecs > /dev/null
	want=$(vp-search -i x.vpi -k 5 query.fvecs)
	# flip bytes inside the slots: those entries must miss, answers stay right
	for off in 200 5000 50000 500000 5000000; do flip_byte c/vp-cache.bin $off; done
	run -0 vp-search -i x.vpi -k 5 --cache c query.fvecs
	[ "$output" = "$want" ]
	# a damaged header: the file is rebuilt
	flip_byte c/vp-cache.bin 3
	run -0 --separate-stderr vp-search -i x.vpi -k 5 --cache c --stats query.fvecs
	[ "$output" = "$want" ]
	[[ "$stderr" == *"hit rate 0.0%"* ]]
	echo "not a cache" > c/vp-cache.bin
	run -0 vp-search -i x.vpi -k 5 --cache c query.fvecs
	[ "$output" = "$want" ]
	[ "$(stat -c %s c/vp-cache.bin)" -gt 1000000 ]
	# the directory cannot be made: an I/O error
	run -4 vp-search -i x.vpi --cache /proc/no/such query.fvecs
}

@test "cache: eviction keeps answers right when the file is full" {
	vp-gen -n 2000 -d 4 -o base.fvecs
	vp-gen -n 3000 -d 4 --first 2000 -o many.fvecs
	vp-build -o x.vpi base.fvecs
	want=$(vp-search -i x.vpi -k 3 many.fvecs | cksum)
	# 64 slots for 3000 distinct queries: the CLOCK hand laps the file many
	# times; every answer, cached or evicted, must equal the uncached one
	[ "$(vp-search -i x.vpi -k 3 --cache c --cache-slots 64 many.fvecs | cksum)" = "$want" ]
	[ "$(stat -c %s c/vp-cache.bin)" -lt 100000 ]
	run -0 --separate-stderr vp-search -i x.vpi -k 3 --cache c -b 100 --stats many.fvecs
	[ "$(printf '%s\n' "$output" | cksum)" = "$want" ]
	# some answers from the file (the last ones written), most not
	hits=$(printf '%s\n' "$stderr" | sed -n 's/.* \([0-9]*\) L2 hits.*/\1/p')
	[ "$hits" -gt 0 ] && [ "$hits" -le 64 ]
	# four processes at once, batches of several sizes, all evicting
	for b in 1 7 50 500; do
		vp-search -i x.vpi -k 3 --cache c -b $b many.fvecs > out.$b &
	done
	wait
	for b in 1 7 50 500; do
		[ "$(cksum < out.$b)" = "$want" ]
	done
	run -2 vp-search -i x.vpi --cache c --cache-slots 8 many.fvecs
}

@test "cache: no room for the cache file is an I/O error at open, not a crash" {
	cache_data
	mkdir small
	mount -t tmpfs -o size=300k tmpfs small 2>/dev/null || skip "cannot mount a small tmpfs here"
	run -4 vp-search -i x.vpi -k 5 --cache small/c query.fvecs
	umount small
	[[ "$output" == *"small/c/vp-cache.bin: No space left on device"* ]]
}

@test "cache: two processes at once" {
	cache_data
	want=$(vp-search -i x.vpi -k 5 q3.fvecs)
	vp-search -i x.vpi -k 5 -b 1 --cache c q3.fvecs > a.tsv &
	vp-search -i x.vpi -k 5 -b 1 --cache c q3.fvecs > b.tsv &
	wait
	[ "$(cat a.tsv)" = "$want" ]
	[ "$(cat b.tsv)" = "$want" ]
}

@test "--stats: zero allocations per query once warm" {
	vp-gen -n 3000 -d 16 -o base.fvecs
	vp-gen -n 3000 -d 16 --first 3000 -o q.fvecs
	for t in FLAT HNSW IVF_FLAT; do
		vp-build -t $t -o x.vpi base.fvecs 2>/dev/null || vp-build -t $t -p nlist=16 -o x.vpi base.fvecs
		run -0 --separate-stderr vp-search -i x.vpi -k 10 -b 500 -j 1 --stats q.fvecs
		[[ "$stderr" == *"stats: 0.000 allocations per query after the first batch (2500 queries)"* ]] ||
			{ echo "$t: $stderr"; false; }
		[[ "$stderr" =~ read\ [0-9.]+\ s,\ search\ [0-9.]+\ s,\ write\ [0-9.]+\ s ]]
	done
	# through the cache too: its scratch and queue grow in the first batch only
	cat q.fvecs q.fvecs > q2.fvecs
	run -0 --separate-stderr vp-search -i x.vpi -k 10 -b 500 -j 1 --stats --cache c q2.fvecs
	[[ "$stderr" == *"stats: 0.000 allocations per query after the first batch (5500 queries)"* ]]
}

@test "access log: what each query touched, readable by vp-diag" {
	small_data
	vp-build -t IVF_FLAT -p nlist=8 -o ivf.vpi base.fvecs
	run -0 vp-search -i ivf.vpi -p nprobe=3 --access-log a.log query.fvecs
	run -0 vp-diag --access-log a.log
	# 20 queries and the batch's time
	[[ "${lines[1]}" == "records        21 (queries up to 20, segments 1)" ]]
	[[ "$output" == *"ivf list       20 records"* ]]
	[[ "$output" == *"time           "*" UTC"* ]]
	# three lists per query: the counts of the listed lists add up to at most 60
	sum=$(printf '%s\n' "$output" | awk '$1 == "ivf" && $2 == "list" && NF == 4 { s += $4 } END { print s }')
	[ "$sum" -le 60 ] && [ "$sum" -gt 0 ]
	# appends: a second run, an HNSW index, two segments
	vp-build -t HNSW --segment-size 300 -o h.vpi base.fvecs
	run -0 vp-search -i h.vpi --access-log a.log query.fvecs
	run -0 vp-diag --access-log a.log
	[[ "${lines[1]}" == "records        62 (queries up to 20, segments 2)" ]]
	[[ "$output" == *"hnsw region    40 records"* ]]
	# --log-queries keeps the vectors too
	run -0 vp-search -i h.vpi --access-log q.log --log-queries query.fvecs
	run -0 vp-diag --access-log q.log
	[[ "$output" == *"query vectors  20 (--log-queries)"* ]]
	run -2 vp-search -i h.vpi --log-queries query.fvecs
	echo garbage > bad.log
	run -3 vp-diag --access-log bad.log
	[[ "$output" == *"bad.log: bad access-log block at offset 0"* ]]
	run -4 vp-search -i h.vpi --access-log /proc/no/log query.fvecs
}

@test "vp-bench: filtered recall and the cache hit rate" {
	cache_data
	seq 0 499 | awk '{ print $1 % 10 }' > labels.txt
	vp-build --labels labels.txt -o f.vpi base.fvecs
	vp-build -t HNSW --labels labels.txt -o h.vpi base.fvecs
	vp-search -i f.vpi -k 10 -f ivecs --filter 'label < 2' query.fvecs > fgt.ivecs
	run -0 vp-bench -i h.vpi -q query.fvecs -g fgt.ivecs --filter 'label < 2' --json
	[[ "$output" == *'"filter": "label < 2"'* ]]
	r=$(printf '%s\n' "$output" | sed -n 's/.*"recall": \([0-9.]*\).*/\1/p')
	awk -v r="$r" 'BEGIN { exit !(r >= 0.9) }'
	cat fgt.ivecs fgt.ivecs fgt.ivecs > fgt3.ivecs
	run -0 vp-bench -i h.vpi -q q3.fvecs -g fgt3.ivecs --filter 'label < 2' --cache c
	[[ "$output" == *"# cache c: 60 lookups, hit rate 66.7%"* ]]
	run -2 vp-bench -i h.vpi -q query.fvecs -g fgt.ivecs --plan index
}
