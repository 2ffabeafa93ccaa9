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
	# 64 dimensions: the lists have a screen, so the log names the rows
	# read and the plan takes them by page (a batch's: its results')
	[[ "$output" == *"units          "*" pages of rows planned, of "* ]]
	[[ "$output" == *"log            "*" records, 200 queries, "*" accesses, timed"* ]]
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

@test "--access-log: the rows a search reads one by one are logged and planned by page" {
	vp-gen -n 20000 -d 64 -c 32 -o b.fvecs
	vp-gen -n 10 -d 64 -c 32 --first 20000 -o few.fvecs
	for i in $(seq 5); do cat few.fvecs; done > q.fvecs
	# IVF_FLAT with its screen, one query at a time: the rows it scored,
	# at least the k it returns; without the screen it reads whole lists
	vp-build -q -t IVF_FLAT -p nlist=64 -o f.vpi b.fvecs
	vp-build -q -t IVF_FLAT -p nlist=64 -p quant=none -o fn.vpi b.fvecs
	vp-search -i f.vpi -k 10 -b 1 -p nprobe=4 --access-log f.log q.fvecs > /dev/null
	vp-search -i fn.vpi -k 10 -b 1 -p nprobe=4 --access-log fn.log q.fvecs > /dev/null
	run -0 vp-diag --access-log f.log
	[[ "$output" == *"rows read      50 records, "* ]]
	n=$(echo "$output" | perl -ne 'print $1 if /^rows read .* ([0-9.]+) rows a record/')
	perl -e "exit !($n >= 10 && $n <= 64)"
	run -0 vp-diag --access-log fn.log
	[[ "$output" != *"rows read"* ]]
	run -0 vp-warmup --access-log fn.log --strategy frequency --dry-run fn.vpi
	# (a time record a batch of one)
	[[ "$output" == *"log            100 records, 50 queries, 200 accesses, timed"* ]]
	[[ "$output" != *"pages of rows"* ]]
	# the plan: the probed lists without their rows, and the rows' pages
	run -0 vp-warmup --access-log f.log --strategy frequency --dry-run f.vpi
	[[ "$output" == *"units          "*" ivf lists planned, of 64 ("* ]]
	[[ "$output" == *"units          "*" pages of rows planned, of "* ]]
	[[ "$output" == *"hit rate 100.0% of accesses, 100.0% of queries served whole"* ]]
	plan=$(echo "$output" | perl -ne 'print $1 if /^bytes +(\d+) of/')
	whole=$(vp-warmup --access-log fn.log --strategy frequency --dry-run f.vpi | perl -ne 'print $1 if /^bytes +(\d+) of/')
	# whole lists (the same probes, no row records) cost more
	[ "$plan" -lt "$whole" ]
	# a batch by list logs its results' rows
	vp-search -i f.vpi -k 10 -p nprobe=4 --access-log fb.log q.fvecs > /dev/null
	run -0 vp-diag --access-log fb.log
	[[ "$output" == *"rows read      50 records, 10.0 rows a record"* ]]
	# HNSW with traversal codes: the candidates it re-ranked
	vp-build -q -t HNSW -o h.vpi b.fvecs
	vp-search -i h.vpi -k 10 --access-log h.log q.fvecs > /dev/null
	run -0 vp-diag --access-log h.log
	[[ "$output" == *"rows read      50 records, "* ]]
	run -0 vp-warmup --access-log h.log --budget 50% --dry-run h.vpi
	[[ "$output" == *"hnsw regions planned"* ]]
	[[ "$output" == *"pages of rows planned"* ]]
	# SCANN's reorder reads reorder_k originals a query: logged, and
	# planned by page; a log without rows plans the originals with what
	# every query needs, as before
	vp-build -q -t SCANN -p nlist=64 -o sc.vpi b.fvecs
	vp-search -i sc.vpi -k 10 -b 1 -p reorder_k=40 --access-log sc.log q.fvecs > /dev/null
	run -0 vp-diag --access-log sc.log
	[[ "$output" == *"rows read      50 records, 40.0 rows a record"* ]]
	run -0 vp-warmup --access-log sc.log --budget 50% --dry-run sc.vpi
	[[ "$output" == *"ivf lists planned"* && "$output" == *"pages of rows planned"* ]]
	[[ "$output" == *"100.0% of queries served whole"* ]]
	rows=$(echo "$output" | perl -ne 'print $1 if /^bytes +(\d+) of/')
	run -0 vp-warmup --access-log fn.log --dry-run sc.vpi
	always=$(echo "$output" | perl -ne 'print $1 if /^always +(\d+) bytes/')
	[ "$always" -gt $((20000 * 64 * 4)) ]   # the originals
	[ "$rows" -lt "$always" ]
	# IVF_PQ without refine reads none of its originals and says so (an
	# empty row record a query): its plan leaves them out, where they took
	# the whole budget as "always needed"
	vp-build -q -t IVF_PQ -p nlist=64 -o pq.vpi b.fvecs
	vp-search -i pq.vpi -k 10 -b 1 -p nprobe=4 --access-log pq.log q.fvecs > /dev/null
	run -0 vp-diag --access-log pq.log
	[[ "$output" == *"rows read      50 records, 0.0 rows a record"* ]]
	run -0 vp-warmup --access-log pq.log --budget 50% --dry-run pq.vpi
	always=$(echo "$output" | perl -ne 'print $1 if /^always +(\d+) bytes/')
	[ "$always" -lt $((20000 * 64 * 4)) ]
	[[ "$output" == *"hit rate 100.0% of accesses, 100.0% of queries served whole"* ]]
	[[ "$output" != *"pages of rows planned"* ]]
	# with refine, the rows it read
	vp-search -i pq.vpi -k 10 -b 1 -p nprobe=4 -p refine=20 --access-log pqr.log q.fvecs > /dev/null
	run -0 vp-diag --access-log pqr.log
	[[ "$output" == *"rows read      50 records, 20.0 rows a record"* ]]
	# a log of the rows of another index: rows past its end are ignored
	vp-gen -n 2000 -d 64 -c 32 -o small.fvecs
	vp-build -q -t IVF_FLAT -p nlist=8 -o small.vpi small.fvecs
	run -0 vp-warmup --access-log f.log --dry-run small.vpi
}

@test "a cold coded HNSW search reads the pages of the rows it re-ranks, not readahead windows" {
	vp-gen -n 60000 -d 64 -c 32 -o b.fvecs
	vp-gen -n 1 -d 64 -c 32 --first 60000 -o q.fvecs
	vp-build -q -t HNSW -o h.vpi b.fvecs
	run -0 vp-warmup --evict h.vpi
	left=$(echo "$output" | perl -ne 'print int($1) if /after eviction ([0-9.]+)%/')
	[ "$left" -lt 50 ] || skip "this filesystem keeps the file in memory after DONTNEED ($left% left)"
	vp-search -i h.vpi -k 10 --huge-pages off q.fvecs > h.tsv
	[ "$(wc -l < h.tsv)" -eq 10 ]
	# the floats (15 MB): the walk re-ranks 16 rows, a page or two each;
	# 8 MB readahead windows around them read 94% of the section.  (A
	# window around the first fault in the codes next to them still
	# reaches 4 MB back into it: 28% here.)
	pct=$(vp-diag --residency h.vpi | perl -ne 'print int($1) if /^  vectors .* ([0-9.]+)%$/')
	[ "$pct" -lt 50 ]
}

@test "a plan's whole 2 MB blocks come in as 2 MB folios, and nothing past the plan" {
	command -v fincore > /dev/null || skip "fincore (util-linux) is not installed"
	vp-gen -n 60000 -d 64 -c 32 -o b.fvecs
	vp-gen -n 300 -d 64 -c 32 --first 60000 -o q.fvecs
	vp-build -q -t HNSW -o h.vpi b.fvecs
	vp-search -i h.vpi --access-log a.log q.fvecs > /dev/null
	run -0 vp-warmup --evict h.vpi
	left=$(echo "$output" | perl -ne 'print int($1) if /after eviction ([0-9.]+)%/')
	[ "$left" -lt 50 ] || skip "this filesystem keeps the file in memory after DONTNEED ($left% left)"
	# can this kernel and file system map page cache in 2 MB entries at
	# all?  A whole warm-up reads through a mapping made for it
	vp-warmup -q h.vpi
	whole=$(vp-search -i h.vpi --huge-pages off --stats q.fvecs 2>&1 > /dev/null |
		perl -ne 'print int($1) if /([0-9.]+) MB of mapped files/')
	run -0 vp-warmup --evict h.vpi
	bytes=$(vp-warmup --dry-run --access-log a.log --budget 60% h.vpi | perl -ne 'print $1 if /^bytes +(\d+) of/')
	# the codes and links every walk reads (12 MB) are planned whole
	[ "$bytes" -gt 10000000 ]
	run -0 vp-warmup --access-log a.log --budget 60% h.vpi
	# exactly the plan: its ranges are pages, the last one the file's end
	res=$(fincore --bytes --noheadings --output RES h.vpi)
	[ "$res" -ge "$bytes" ] && [ "$res" -lt $((bytes + 4096)) ]
	[ "${whole:-0}" -gt 0 ] || skip "no 2 MB mappings of the page cache here, even after a whole warm-up"
	mapped=$(vp-search -i h.vpi --huge-pages off --stats q.fvecs 2>&1 > /dev/null |
		perl -ne 'print int($1) if /([0-9.]+) MB of mapped files/')
	# read by page, a plan's blocks were mapped 4 KB at a time (0 MB)
	[ "$mapped" -ge 4 ]
}
