#!/usr/bin/env bats
# Deletes, upserts, compaction and explicit ids (vp-build --delete,
# --upsert, --compact, --ids).
load helpers

# the base rows whose ids are not in the file of ids $1, as fvecs, and
# their ids (one a line): live_rows IDS OUT.fvecs OUT.ids
live_rows() {
	perl -e 'open(my $h, "<", $ARGV[0]) or die; my %d = map { $_ + 0 => 1 } grep { /\d/ } <$h>;
		open(my $b, "<:raw", $ARGV[1]) or die; local $/; my $x = <$b>;
		my $d = unpack("l<", $x); my $rs = 4 + 4 * $d; my $n = length($x) / $rs;
		open(my $o, ">:raw", $ARGV[2]) or die; open(my $i, ">", $ARGV[3]) or die;
		for my $r (0 .. $n - 1) { next if $d{$r}; print $o substr($x, $r * $rs, $rs); print $i "$r\n"; }' \
		"$1" base.fvecs "$2" "$3"
}

@test "a FLAT index after --delete answers as a fresh build of the live rows" {
	small_data
	vp-build -o idx.vpi base.fvecs
	seq 0 3 299 > del.txt
	run -0 vp-build --delete del.txt -o idx.vpi
	[ -z "$output" ]
	live_rows del.txt live.fvecs live.ids
	vp-build -o fresh.vpi --ids live.ids live.fvecs
	[ "$(vp-search -i idx.vpi -k 10 query.fvecs)" = "$(vp-search -i fresh.vpi -k 10 query.fvecs)" ]
	# one query at a time and in one large batch (the blocked scans skip
	# deleted rows themselves)
	vp-gen -n 600 -d 8 --integer -c 8 --first 900 -o many.fvecs
	for b in 1 4096; do
		[ "$(vp-search -i idx.vpi -k 10 -b $b many.fvecs)" = "$(vp-search -i fresh.vpi -k 10 -b $b many.fvecs)" ]
	done
	# more deleted than k per query: still k live answers
	[ "$(vp-search -i idx.vpi -k 300 -f ivecs query.fvecs | cksum)" = "$(vp-search -i fresh.vpi -k 300 -f ivecs query.fvecs | cksum)" ]
	# never a deleted id, and still k results a query
	vp-search -i idx.vpi -k 10 query.fvecs > r.tsv
	[ "$(wc -l < r.tsv)" -eq 200 ]
	! awk '$3 < 300 && $3 % 3 == 0' r.tsv | grep -q .
	run -0 vp-diag idx.vpi
	[[ "$output" == *"deleted        100 of 500 rows (20.0%), 400 live"* ]]
	[[ "$output" == *"segment 0    ids 0..499, 100 deleted"* ]]
	# 20% deleted: the health rules say compact
	run -1 vp-diag --health idx.vpi
	[[ "$output" == *"deleted-rows"*"vp-build --compact idx.vpi"* ]]
	# compaction gives the same answers as the fresh build, byte for byte
	run -0 vp-build --compact idx.vpi
	[ "$(vp-search -i idx.vpi -k 10 query.fvecs)" = "$(vp-search -i fresh.vpi -k 10 query.fvecs)" ]
	run -0 vp-diag idx.vpi
	[[ "$output" == *"vectors        400 x 8"* ]]
	[[ "$output" != *"deleted  "* ]]
}

@test "deleted ids are never returned by any index type, and recall holds" {
	vp-gen -n 4000 -d 16 -c 20 -o base.fvecs
	vp-gen -n 100 -d 16 -c 20 --first 4000 -o query.fvecs
	seq 0 10 3999 > del.txt
	live_rows del.txt live.fvecs live.ids
	vp-build -o gt.vpi --ids live.ids live.fvecs
	vp-search -i gt.vpi -k 10 -f ivecs query.fvecs > gt.ivecs
	for t in HNSW IVF_FLAT IVF_SQ8 IVF_PQ; do
		p=$( [ $t = HNSW ] && echo M=12 || echo nlist=32 )
		s=$( [ $t = HNSW ] && echo ef=64 || echo nprobe=8 )
		vp-build -t $t -p $p -o $t.vpi base.fvecs
		vp-build -t $t -p $p -o $t-live.vpi --ids live.ids live.fvecs
		run -0 vp-build --delete del.txt -o $t.vpi
		for b in 1 4096; do
			vp-search -i $t.vpi -k 10 -b $b -p $s query.fvecs > r.tsv
			[ "$(wc -l < r.tsv)" -eq 1000 ] || { echo "$t -b $b: $(wc -l < r.tsv) rows"; false; }
			! awk '$3 % 10 == 0' r.tsv | grep -q . || { echo "$t: a deleted id"; false; }
		done
		# recall against the exact answer after the delete stays within
		# 0.03 of an index built on the live rows alone
		a=$(vp-bench -i $t.vpi -q query.fvecs -g gt.ivecs -p $s | awk 'NR == 4 { print $2 }')
		b=$(vp-bench -i $t-live.vpi -q query.fvecs -g gt.ivecs -p $s | awk 'NR == 4 { print $2 }')
		awk -v a="$a" -v b="$b" 'BEGIN { exit !(a >= b - 0.03) }' || { echo "$t: $a vs $b"; false; }
	done
}

@test "IVF compaction keeps the lists' codes: the same answers as before it" {
	vp-gen -n 3000 -d 16 -c 20 -o base.fvecs
	vp-gen -n 50 -d 16 -c 20 --first 3000 -o query.fvecs
	seq 1 7 2999 > del.txt
	for t in IVF_FLAT IVF_SQ8 IVF_PQ; do
		vp-build -t $t -p nlist=16 --segment-size 1000 -o $t.vpi base.fvecs
		vp-build --delete del.txt -o $t.vpi
		before=$(vp-search -i $t.vpi -k 10 -p nprobe=4 query.fvecs)
		run -0 vp-build --compact $t.vpi
		[ "$(vp-search -i $t.vpi -k 10 -p nprobe=4 query.fvecs)" = "$before" ] || { echo "$t differs"; false; }
		run -0 vp-diag $t.vpi
		[[ "$output" == *"segments       3"* ]]
		[[ "$output" != *"deleted  "* ]]
	done
	# retraining rebuilds from the originals; SQ8 keeps none
	run -0 vp-build --compact --retrain IVF_FLAT.vpi
	run -0 vp-search -i IVF_FLAT.vpi -k 10 query.fvecs
	! awk '$3 % 7 == 1' <<< "$output" | grep -q .
	run -2 vp-build --compact --retrain IVF_SQ8.vpi
	[[ "$output" == *"keeps codes, not the vectors"* ]]
}

@test "HNSW compaction rebuilds the graph of the live rows, labels kept" {
	vp-gen -n 2000 -d 16 -c 10 -o base.fvecs
	vp-gen -n 50 -d 16 -c 10 --first 2000 -o query.fvecs
	perl -e 'print $_ % 5, "\n" for 0 .. 1999' > labels.txt
	vp-build -t HNSW -p M=8 -l labels.txt --segment-size 700 -o h.vpi base.fvecs
	seq 0 2 1999 > del.txt
	vp-build --delete del.txt -o h.vpi
	run -0 vp-build --compact h.vpi
	run -0 vp-diag h.vpi
	[[ "$output" == *"vectors        1000 x 16"* ]]
	[[ "$output" == *"segments       1"* ]]
	# every result odd, and label == id % 5 still holds after the move
	vp-search -i h.vpi -k 10 --filter 'label == 3' query.fvecs > r.tsv
	[ "$(wc -l < r.tsv)" -eq 500 ]
	awk '$3 % 2 == 0 || $3 % 5 != 3 { bad++ } END { exit bad > 0 }' r.tsv
}

@test "HNSW compaction mends the graph around a few deletes, labels kept" {
	vp-gen -n 3000 -d 16 -c 10 -o base.fvecs
	vp-gen -n 100 -d 16 -c 10 --first 3000 -o query.fvecs
	perl -e 'print $_ % 5, "\n" for 0 .. 2999' > labels.txt
	vp-build -t HNSW -p M=8 -l labels.txt -o h.vpi base.fvecs
	seq 0 10 2999 > del.txt
	vp-build --delete del.txt -o h.vpi
	before=$(vp-search -i h.vpi -k 10 -p ef=64 query.fvecs | awk '{ print $1, $3 }' | sort)
	run -0 vp-build --compact h.vpi
	run -0 vp-diag h.vpi
	[[ "$output" == *"vectors        2700 x 16"* ]]
	[[ "$output" == *"segments       1"* ]]
	run -0 vp-diag --health h.vpi
	[[ "$output" == *" 0 unreachable from the entry point"* ]]
	after=$(vp-search -i h.vpi -k 10 -p ef=64 query.fvecs | awk '{ print $1, $3 }' | sort)
	# nearly the answers of the index with tombstones, none of them deleted
	same=$(comm -12 <(echo "$before") <(echo "$after") | wc -l)
	[ "$same" -ge 950 ] || { echo "$same of 1000 results the same"; false; }
	! echo "$after" | awk '$2 % 10 == 0' | grep -q .
	vp-search -i h.vpi -k 10 --filter 'label == 2' query.fvecs |
		awk '$3 % 5 != 2 || $3 % 10 == 0 { bad++ } END { exit bad > 0 }'
	# --retrain rebuilds instead
	run -0 vp-build --compact --retrain h.vpi
	run -0 vp-diag h.vpi
	[[ "$output" == *"vectors        2700 x 16"* ]]
}

@test "--upsert replaces rows under their ids and adds new ones" {
	small_data
	vp-build -o idx.vpi base.fvecs
	# rows 7 and 9 get query 0 and 1; id 1000 is new and gets query 2
	head -c $((3 * 36)) query.fvecs > new.fvecs
	printf '7\n9\n1000\n' > new.ids
	run -0 vp-build --upsert new.fvecs --ids new.ids -o idx.vpi
	run -0 vp-search -i idx.vpi -k 1 new.fvecs
	[ "${lines[0]}" = "$(printf '0\t0\t7\t0')" ]
	[ "${lines[1]}" = "$(printf '1\t0\t9\t0')" ]
	[ "${lines[2]}" = "$(printf '2\t0\t1000\t0')" ]
	run -0 vp-diag idx.vpi
	[[ "$output" == *"deleted        2 of 503 rows"* ]]
	[[ "$output" == *"3 rows, ids 7..1000 (id map)"* ]]
	# appends continue after the largest id ever used
	vp-gen -n 2 -d 8 --integer -s 5 -o two.fvecs
	vp-build --append -o idx.vpi two.fvecs
	run -0 vp-search -i idx.vpi -k 1 two.fvecs
	[[ "${lines[0]}" == *"	1001	0" ]]
	[[ "${lines[1]}" == *"	1002	0" ]]
	# an append under a live id is refused: that is an upsert
	cksum idx.vpi > before
	run -3 vp-build --append --ids new.ids -o idx.vpi new.fvecs
	[[ "$output" == *"id 7 is in the index already"* ]]
	cksum idx.vpi | cmp -s - before
	run -2 vp-build --upsert new.fvecs -o idx.vpi
	[[ "$output" == *"--upsert needs --ids"* ]]
}

@test "deleting an unknown id fails with exit 3 and writes nothing" {
	small_data
	vp-build -o idx.vpi base.fvecs
	cksum idx.vpi > before
	printf '3\n500\n' > bad.txt
	run -3 vp-build --delete bad.txt -o idx.vpi
	[[ "$output" == *"id 500 is not in the index"* ]]
	cksum idx.vpi | cmp -s - before
	[ "$(ls -a | grep -c tmp)" -eq 0 ]
	# deleted already: not live any more
	echo 3 | vp-build --delete - -o idx.vpi
	run -3 bash -c 'echo 3 | vp-build --delete - -o idx.vpi'
	# ids from ivecs, and duplicates in one request count once
	perl -e 'print pack("l<l<", 1, $_) for 4, 4, 5' > d.ivecs
	run -0 vp-build --delete d.ivecs -o idx.vpi
	run -0 vp-diag idx.vpi
	[[ "$output" == *"deleted        3 of 500 rows"* ]]
	# bad ids and usage
	printf 'x\n' > junk.txt
	run -3 vp-build --delete junk.txt -o idx.vpi
	[[ "$output" == *"junk.txt:1: 'x' is not an id"* ]]
	run -2 vp-build --delete bad.txt --compact -o idx.vpi
	run -2 vp-build --delete bad.txt -o idx.vpi base.fvecs
	run -2 vp-build --retrain -o idx.vpi base.fvecs
	run -4 vp-build --delete bad.txt -o missing.vpi
	[[ "$output" == *"missing.vpi"* ]]
	# every row deleted: searches return nothing; compaction refuses
	seq 0 499 | grep -vxE '3|4|5' | vp-build --delete - -o idx.vpi
	run -0 vp-search -i idx.vpi -k 5 query.fvecs
	[ -z "$output" ]
	run -3 vp-build --compact idx.vpi
	[[ "$output" == *"every row is deleted"* ]]
}

@test "--ids gives a build its external ids; bad id files are refused" {
	small_data
	perl -e 'print 10 * $_ + 7, "\n" for 0 .. 499' > ids.txt
	vp-build -o idx.vpi --ids ids.txt base.fvecs
	vp-build -o plain.vpi base.fvecs
	# the same neighbours, each id mapped
	vp-search -i plain.vpi -k 5 query.fvecs | awk -v OFS='\t' '{ $3 = 10 * $3 + 7; print }' > want.tsv
	vp-search -i idx.vpi -k 5 query.fvecs | cmp - want.tsv
	# id filters see the external ids
	run -0 vp-search -i idx.vpi -k 5 --filter 'id < 1000' query.fvecs
	echo "$output" | awk '$3 >= 1000 { exit 1 }'
	head -5 ids.txt > short.txt
	run -3 vp-build -o x.vpi --ids short.txt base.fvecs
	[[ "$output" == *"5 ids for 500 vectors"* ]]
	(cat ids.txt; echo 17) | head -500 | sed '2s/.*/7/' > dup.txt
	run -3 vp-build -o x.vpi --ids dup.txt base.fvecs
	[[ "$output" == *"id 7 is given twice"* ]]
	[ ! -e x.vpi ]
}

@test "a hostile tombstone or id section is refused on open" {
	small_data
	vp-build -o idx.vpi base.fvecs
	echo 1 | vp-build --delete - -o idx.vpi
	off=$(vp-diag idx.vpi | awk '$1 == "tombstones" { print $3 }')
	cp idx.vpi bad.vpi
	# bits for rows 504..511 of a 500-row segment
	flip_byte bad.vpi $((off + 63))
	run -3 vp-search -i bad.vpi query.fvecs
	[[ "$output" == *"tombstones of segment 0 past its rows"* ]]
	perl -e 'print "$_\n" for 0 .. 499' | sed 's/^0$/3000000000/' > ids.txt
	vp-build -o ids.vpi --ids ids.txt base.fvecs
	off=$(vp-diag ids.vpi | awk '$1 == "ids" { print $3 }')
	put64 ids.vpi "$off" ffffffffffffffff
	run -3 vp-search -i ids.vpi query.fvecs
	[[ "$output" == *"negative id in segment 0"* ]]
}

@test "a delete or compaction killed part way leaves the old file" {
	vp-gen -n 30000 -d 32 -o base.fvecs
	vp-gen -n 5 -d 32 --first 30000 -o query.fvecs
	vp-build -t HNSW -p M=8 -o h.vpi base.fvecs
	seq 0 2 29999 > del.txt
	vp-build --delete del.txt -o h.vpi
	want=$(vp-search -i h.vpi -k 5 query.fvecs)
	for t in 0.05 0.2 0.4; do
		timeout -s KILL $t vp-build --compact h.vpi || true
		run -0 vp-diag h.vpi
		if [[ "$output" == *"vectors        15000 x 32"* ]]; then
			break  # it finished: nothing more to see
		fi
		[ "$(vp-search -i h.vpi -k 5 query.fvecs)" = "$want" ]
	done
	# stale temporary files of killed runs do not block the next one
	run -0 vp-build --compact h.vpi
	run -0 vp-diag h.vpi
	[[ "$output" == *"vectors        15000 x 32"* ]]
}
