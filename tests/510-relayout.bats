#!/usr/bin/env bats
# vp-build --relayout (an index laid out by its access log) and saved
# warm-up plans (vp-warmup --save-plan, --plan).
load helpers

# relayout_data: 20000 x 64 rows, a skewed workload of 20 queries asked 5
# times each, searched one at a time as latency traffic is
relayout_data() {
	vp-gen -n 20000 -d 64 -c 32 -o b.fvecs
	vp-gen -n 20 -d 64 -c 32 --first 20000 -o few.fvecs
	for i in 1 2 3 4 5; do cat few.fvecs; done > q.fvecs
}

# can_evict FILE: skips unless evicting FILE empties the page cache of it
can_evict() {
	run -0 vp-warmup --evict "$1"
	left=$(echo "$output" | perl -ne 'print int($1) if /after eviction ([0-9.]+)%/')
	[ "$left" -lt 50 ] || skip "this filesystem keeps the file in memory after DONTNEED ($left% left)"
}

# ranges_in PLAN_OUTPUT SECTION_OFF SECTION_LEN: planned ranges that
# overlap the section
ranges_in() {
	echo "$1" | perl -ne 'BEGIN { ($a, $l) = @ARGV[0, 1]; @ARGV = () }
		if (/^\d+ +(\d+) +(\d+)$/) { $n++ if $1 < $a + $l && $1 + $2 > $a }
		END { print $n + 0 }' "$2" "$3"
}

# section off|len INDEX NAME: where section NAME of segment 0 is
section() {
	vp-diag -i "$2" | W="$1" perl -ne 'print($ENV{W} eq "off" ? $1 : $2) if /^  '"$3"' +0 +(\d+) +(\d+) /'
}

@test "--relayout HNSW: the same answers, the rows the log read first, planned in one run" {
	relayout_data
	vp-build -q -t HNSW -o h.vpi b.fvecs
	vp-search -i h.vpi -k 10 q.fvecs > before.tsv
	vp-search -i h.vpi -b 1 -j 1 --access-log a.log q.fvecs > /dev/null
	run -0 vp-warmup --dry-run --access-log a.log h.vpi
	before=$(ranges_in "$output" "$(section off h.vpi vectors)" "$(section len h.vpi vectors)")
	cp h.vpi h0.vpi
	run -0 vp-build --relayout a.log h.vpi
	# the graph and ids did not change, only where the rows are
	vp-search -i h.vpi -k 10 q.fvecs > after.tsv
	cmp before.tsv after.tsv
	run -0 vp-diag -i h.vpi
	[[ "$output" == *"problems       none"* ]]
	read -r first linked rest < <(echo "$output" |
		perl -ne 'print "$1 $2 $3\n" if /^layout +segment 0 by an access log: (\d+) rows it read first, then (\d+) linked from them, then (\d+) more/')
	[ "$first" -gt 16 ] && [ "$first" -lt 2000 ]
	[ $((first + linked + rest)) -eq 20000 ]
	# the same traffic on the new file reads rows 0 .. first - 1 only:
	# its plan's rows are one run, where they were many pages apart
	vp-search -i h.vpi -b 1 -j 1 --access-log b.log q.fvecs > /dev/null
	run -0 vp-warmup --dry-run --access-log b.log h.vpi
	[[ "$output" == *"100.0% of queries served whole"* ]]
	after=$(ranges_in "$output" "$(section off h.vpi vectors)" "$(section len h.vpi vectors)")
	# (the second: a grain of the codes after them reaching back)
	[ "$after" -le 2 ]
	[ "$before" -gt 10 ]
	[[ "$output" == *"in 2 ranges"* || "$output" == *"in 3 ranges"* ]]
	# laid out again by a log of the new file: the same order
	cp h.vpi h1.vpi
	vp-build -q --relayout b.log h.vpi
	vp-search -i h.vpi -k 10 q.fvecs > again.tsv
	cmp before.tsv again.tsv
	# a compaction puts it back in breadth-first order: no layout line
	vp-build -q --compact h.vpi
	run -0 vp-diag -i h.vpi
	[[ "$output" != *"layout "* ]]
	vp-search -i h.vpi -k 10 q.fvecs > compact.tsv
	cmp before.tsv compact.tsv
}

@test "--relayout IVF_FLAT: probed lists first, their read rows first, the same answers" {
	relayout_data
	vp-build -q -t IVF_FLAT -p nlist=64 -o f.vpi b.fvecs
	vp-search -i f.vpi -k 10 -p nprobe=4 q.fvecs > before.tsv
	vp-search -i f.vpi -k 10 -b 1 -j 1 -p nprobe=4 --access-log a.log q.fvecs > /dev/null
	run -0 vp-warmup --dry-run --access-log a.log f.vpi
	nb=$(echo "$output" | perl -ne 'print $1 if /^bytes .* in (\d+) ranges/')
	run -0 vp-build --relayout a.log f.vpi
	vp-search -i f.vpi -k 10 -p nprobe=4 q.fvecs > after.tsv
	cmp before.tsv after.tsv
	run -0 vp-diag -i f.vpi
	[[ "$output" == *"problems       none"* ]]
	read -r lists rows < <(echo "$output" |
		perl -ne 'print "$1 $2\n" if /^layout +segment 0 by an access log: (\d+) lists it probed first, (\d+) rows it read together in them/')
	[ "$lists" -gt 0 ] && [ "$lists" -lt 64 ] && [ "$rows" -ge 10 ]
	vp-search -i f.vpi -k 10 -b 1 -j 1 -p nprobe=4 --access-log b.log q.fvecs > /dev/null
	run -0 vp-warmup --dry-run --access-log b.log f.vpi
	na=$(echo "$output" | perl -ne 'print $1 if /^bytes .* in (\d+) ranges/')
	# the rows read are one run after the others, the probed lists'
	# screens another (a range a section at most, gaps where lists were
	# not probed)
	[ "$na" -le 8 ]
	[ "$na" -lt "$nb" ]
	# and they are whole 2 MB blocks, the file's last part block with them
	# (read as one folio each): past the first block (the header, the
	# centroids, a few pages) every range starts on a block, the last ends
	# at the end of the file
	echo "$output" | S=$(stat -c %s f.vpi) perl -ne '
		if (/^\d+ +(\d+) +(\d+)$/) { $n++; $bad++ if $1 >= 2097152 && $1 % 2097152; $end = $1 + $2 }
		END { exit($n && !$bad && $end == $ENV{S} ? 0 : 1) }'
	# IVF_SQ8: the lists only
	vp-build -q -t IVF_SQ8 -p nlist=64 -o s.vpi b.fvecs
	vp-search -i s.vpi -k 10 -p nprobe=4 q.fvecs > sb.tsv
	vp-search -i s.vpi -k 10 -p nprobe=4 --access-log s.log q.fvecs > /dev/null
	run -0 vp-build --relayout s.log s.vpi
	vp-search -i s.vpi -k 10 -p nprobe=4 q.fvecs > sa.tsv
	cmp sb.tsv sa.tsv
	run -0 vp-diag -i s.vpi
	[[ "$output" == *"lists it probed first, 0 rows it read together in them"* ]]
}

@test "--relayout IVF_FLAT: its rows apart; batches, filters, deletes, compaction and a second relayout answer as before" {
	relayout_data
	vp-build -q -t IVF_FLAT -p nlist=64 -o f.vpi b.fvecs
	cp f.vpi f0.vpi
	vp-search -i f.vpi -k 10 -b 1 -j 1 -p nprobe=4 --access-log a.log q.fvecs > /dev/null
	run -0 vp-build --relayout a.log f.vpi
	# a vp that does not know the layout finds no ivf_data and refuses it
	run -0 vp-diag -i f.vpi
	[[ "$output" == *" ivf_data_split "* && "$output" == *" ivf_split "* ]]
	[[ "$output" != *" ivf_data "* ]]
	vp-gen -n 300 -d 64 -c 32 --first 30000 -o more.fvecs
	for b in 1 4096; do
		for f in "" "id > 5000 && id < 9000"; do
			for ix in f0 f; do
				vp-search -i $ix.vpi -k 10 -b $b -p nprobe=4 ${f:+--filter "$f"} more.fvecs > $ix.tsv
			done
			cmp f0.tsv f.tsv
		done
	done
	seq 0 7 19999 > del.txt
	vp-build -q --delete del.txt -o f.vpi
	vp-build -q --delete del.txt -o f0.vpi
	vp-search -i f0.vpi -k 10 -p nprobe=4 more.fvecs > f0.tsv
	vp-search -i f.vpi -k 10 -p nprobe=4 more.fvecs > f.tsv
	cmp f0.tsv f.tsv
	run -0 vp-build --compact f.vpi
	vp-search -i f.vpi -k 10 -p nprobe=4 more.fvecs > f.tsv
	cmp f0.tsv f.tsv
	run -0 vp-diag -i f.vpi
	[[ "$output" == *" ivf_data "* && "$output" != *" ivf_split "* ]]
	# and laid out again, from a log of the compacted file
	vp-search -i f.vpi -k 10 -b 1 -j 1 -p nprobe=4 --access-log c.log q.fvecs > /dev/null
	run -0 vp-build --relayout c.log f.vpi
	vp-search -i f.vpi -k 10 -p nprobe=4 more.fvecs > f.tsv
	cmp f0.tsv f.tsv
	run -0 vp-diag -i f.vpi
	[[ "$output" == *" ivf_split "* && "$output" == *"problems       none"* ]]
}

@test "--relayout IVF_FLAT: a split that names more rows than a list holds is refused with one line" {
	relayout_data
	vp-build -q -t IVF_FLAT -p nlist=64 -o f.vpi b.fvecs
	vp-search -i f.vpi -k 10 -b 1 -j 1 -p nprobe=4 --access-log a.log q.fvecs > /dev/null
	vp-build -q --relayout a.log f.vpi
	off=$(section off f.vpi ivf_split)
	[ -n "$off" ]
	# list 0's count past every row of the index
	printf '\377\377\0\0' | dd of=f.vpi bs=1 seek="$off" conv=notrunc status=none
	run -3 vp-search -i f.vpi -k 10 q.fvecs
	[ "${#lines[@]}" -eq 1 ]
	[[ "$output" == *"f.vpi: corrupt index: ivf_split names more rows than list 0 holds"* ]]
}

@test "--relayout: what it refuses, and INDEX untouched when it does" {
	relayout_data
	vp-build -q -o flat.vpi b.fvecs
	vp-search -i flat.vpi --access-log fl.log few.fvecs > /dev/null
	cp flat.vpi flat0.vpi
	run -2 vp-build --relayout fl.log flat.vpi
	[[ "$output" == *"flat.vpi: a relayout orders HNSW rows and IVF lists; FLAT has neither"* ]]
	cmp flat.vpi flat0.vpi
	vp-build -q -t HNSW -p quant=none -o h.vpi b.fvecs
	cp h.vpi h0.vpi
	# a float walk logs regions, not rows
	vp-search -i h.vpi --access-log r.log few.fvecs > /dev/null
	run -3 vp-build --relayout r.log h.vpi
	[[ "$output" == *"r.log: names no rows or lists of h.vpi"* ]]
	cmp h.vpi h0.vpi
	run -4 vp-build --relayout missing.log h.vpi
	[[ "$output" == *"missing.log"* ]]
	printf 'not a log' > junk.log
	run -3 vp-build --relayout junk.log h.vpi
	[[ "$output" == *"junk.log"* ]]
	cmp h.vpi h0.vpi
	run -2 vp-build --relayout fl.log --compact h.vpi
	run -2 vp-build --relayout fl.log -p M=8 h.vpi
	run -2 vp-build --relayout fl.log --append -o h.vpi b.fvecs
	run -2 vp-build --relayout fl.log h.vpi b.fvecs
	cmp h.vpi h0.vpi
}

@test "the access log names every row a search reads: its own plan, then nothing faults in" {
	command -v fincore > /dev/null || skip "fincore (util-linux) is not installed"
	relayout_data
	vp-build -q -t HNSW -o h.vpi b.fvecs
	vp-build -q -t IVF_FLAT -p nlist=64 -o f.vpi b.fvecs
	for ix in h f; do
		vp-search -i $ix.vpi -k 10 -b 1 -j 1 --access-log $ix.log q.fvecs > /dev/null
		can_evict $ix.vpi
		vp-warmup -q --access-log $ix.log $ix.vpi
		before=$(fincore --bytes --noheadings --output RES $ix.vpi)
		# the same queries, one at a time: a row asked for ahead (HNSW a
		# quarter into its walk, IVF_FLAT k + 4 of its screen) and then
		# not scored was read but not logged, and faulted in here
		vp-search -i $ix.vpi -k 10 -b 1 -j 1 --huge-pages off q.fvecs > /dev/null
		after=$(fincore --bytes --noheadings --output RES $ix.vpi)
		echo "$ix: $before -> $after"
		[ "$after" -eq "$before" ]
	done
}

@test "--save-plan writes the plan and brings nothing in; --plan brings in exactly it" {
	command -v fincore > /dev/null || skip "fincore (util-linux) is not installed"
	relayout_data
	vp-build -q -t IVF_FLAT -p nlist=64 -o f.vpi b.fvecs
	vp-search -i f.vpi -k 10 -b 1 -p nprobe=4 --access-log a.log q.fvecs > /dev/null
	can_evict f.vpi
	run -0 vp-warmup --access-log a.log --budget 40% --save-plan p.txt f.vpi
	[[ "$output" == "p.txt: a plan of "*" MB of "*" ranges, from a.log: expected hit rate "* ]]
	[ "$(head -1 p.txt)" = "vp-warmup plan 1" ]
	# nothing but the header and table the open read
	[ "$(fincore --bytes --noheadings --output RES f.vpi)" -lt 65536 ]
	bytes=$(sed -n 3p p.txt | perl -ne 'print $1 if /^ranges \d+ bytes (\d+) always \d+$/')
	dry=$(vp-warmup --dry-run --access-log a.log --budget 40% f.vpi | perl -ne 'print $1 if /^bytes +(\d+) of/')
	[ "$bytes" -eq "$dry" ]
	run -0 vp-warmup --plan p.txt f.vpi
	[[ "$output" == *"f.vpi: brought in "*" ranges from the plan p.txt"* ]]
	res=$(fincore --bytes --noheadings --output RES f.vpi)
	[ "$res" -ge "$bytes" ] && [ "$res" -lt $((bytes + 4096)) ]
	# --lock holds it
	vp-warmup --plan p.txt --lock f.vpi > lock.txt &
	pid=$!
	sleep 0.5
	kill -TERM $pid
	wait $pid
	grep -q ', locked$' lock.txt
	# a plan saved over another is replaced whole
	vp-warmup -q --access-log a.log --budget 10% --save-plan p.txt f.vpi
	run -0 vp-warmup --plan p.txt f.vpi
	ls -a | grep -v '^\.p\.txt\.tmp' > /dev/null
	[ -z "$(ls -a | grep 'tmp')" ]
}

@test "--plan: a run longer than readahead can reach is read through it, and nothing past the run" {
	command -v fincore > /dev/null || skip "fincore (util-linux) is not installed"
	# 48 MB of rows: a plan of its first 40 MB, one run (vp_blocks_stream
	# reads all but its last 2 x read_ahead_kb + 2 MB with readahead on)
	vp-gen -n 96000 -d 128 -o big.fvecs
	vp-build -q -o big.vpi big.fvecs
	vp-search -i big.vpi -k 1 --access-log a.log <(vp-gen -n 2 -d 128) > /dev/null
	vp-warmup -q --access-log a.log --save-plan p.txt big.vpi
	can_evict big.vpi
	len=$((40 << 20))
	{ sed -n 1,2p p.txt; echo "ranges 1 bytes $len always 0"; echo "0 $len"; } > run.txt
	run -0 vp-warmup --plan run.txt big.vpi
	[[ "$output" == *"brought in 41.9 MB of "*" in 1 ranges from the plan run.txt"* ]]
	res=$(fincore --bytes --noheadings --output RES big.vpi)
	[ "$res" -ge "$len" ] && [ "$res" -lt $((len + 65536)) ]
	# a run to the end of the file (read through readahead to its end:
	# nothing lies past it), its last part block too
	size=$(stat -c %s big.vpi)
	len=$((size - (8 << 20)))
	{ sed -n 1,2p p.txt; echo "ranges 1 bytes $len always 0"; echo "$((8 << 20)) $len"; } > end.txt
	vp-warmup -q --evict big.vpi
	run -0 vp-warmup --plan end.txt big.vpi
	[[ "$output" == *" in 1 ranges from the plan end.txt"* ]]
	res=$(fincore --bytes --noheadings --output RES big.vpi)
	# (and of the 8 MB before it only the header the open read)
	[ "$res" -ge "$len" ] && [ "$res" -lt $((len + 65536)) ]
}

@test "--plan: a stale, damaged or missing plan is refused with one line" {
	relayout_data
	vp-build -q -t IVF_FLAT -p nlist=64 -o f.vpi b.fvecs
	vp-search -i f.vpi -k 10 -b 1 -p nprobe=4 --access-log a.log q.fvecs > /dev/null
	vp-warmup -q --access-log a.log --save-plan p.txt f.vpi
	n=$(sed -n 3p p.txt | perl -ne 'print $1 if /^ranges (\d+) /')
	[ "$n" -ge 3 ]
	printf 'hello\n' > bad.txt
	run -3 vp-warmup --plan bad.txt f.vpi
	[ "$output" = "vp-warmup: bad.txt: not a vp-warmup plan (vp-warmup --save-plan writes them)" ]
	head -n 5 p.txt > short.txt
	run -3 vp-warmup --plan short.txt f.vpi
	[[ "$output" == *"short.txt: line 6: the plan ends early"* ]]
	# two ranges swapped: out of order
	perl -ne 'if ($. == 4) { $h = $_; next } print; print $h if $. == 5' p.txt > swap.txt
	run -3 vp-warmup --plan swap.txt f.vpi
	[[ "$output" == *"swap.txt: line 5: not a range after the last and inside the index"* ]]
	# a range past the end of the file
	perl -pe 's/^(\d+) (\d+)$/"$1 " . ($2 + 1e9)/e if $. == 4' p.txt > past.txt
	run -3 vp-warmup --plan past.txt f.vpi
	[[ "$output" == *"past.txt: line 4: "* ]]
	perl -pe 's/bytes \d+/bytes 1/ if $. == 3' p.txt > sum.txt
	run -3 vp-warmup --plan sum.txt f.vpi
	[[ "$output" == *"sum.txt: a damaged plan"* ]]
	run -4 vp-warmup --plan missing.txt f.vpi
	[[ "$output" == *"missing.txt"* ]]
	# the index rebuilt since (another seed): the plan is for another build
	vp-build -q -t IVF_FLAT -p nlist=64 -s 7 -o f.vpi b.fvecs
	run -3 vp-warmup --plan p.txt f.vpi
	[[ "$output" == *"p.txt: a plan for another build of f.vpi (rebuilt since it was saved?): plan again"* ]]
	# usage
	run -2 vp-warmup --plan p.txt --access-log a.log f.vpi
	run -2 vp-warmup --plan p.txt --budget 10% f.vpi
	run -2 vp-warmup --plan p.txt --evict f.vpi
	run -2 vp-warmup --save-plan p2.txt f.vpi
	run -2 vp-warmup --access-log a.log --save-plan p2.txt --dry-run f.vpi
	[ ! -e p2.txt ]
}
