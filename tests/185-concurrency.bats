#!/usr/bin/env bats
# Concurrency under load (issue 16): 8 readers search in a loop while a
# cron-like loop rebuilds, appends, deletes and compacts the same index path,
# with a shared result-cache directory.  Every answer is checked against the answer of
# the version of the index that was read (vp-search --metrics names it),
# so a torn file, a mixed mapping or a stale cache entry is a wrong answer.
load helpers

@test "8 readers while the index is rebuilt, appended, deleted from and compacted: zero errors, zero wrong answers" {
	secs=${VP_CONCURRENCY_SECONDS:-60}
	vp-gen -n 30 -d 8 --integer -c 8 -s 99 -o query.fvecs
	# versions with distinct row counts: base i (500 + 10 i rows), base i
	# with 37 rows appended, then compacted after 23 deletes (514 + 10 i);
	# the answer of each, searched alone.  The delete itself keeps the
	# count of the append, so that count has two right answers.
	seq 0 22 > del.ids
	for i in 0 1 2 3; do
		vp-gen -n $((500 + 10 * i)) -d 8 --integer -c 8 -s $((i + 1)) -o base$i.fvecs
		vp-gen -n 37 -d 8 --integer -c 8 -s $((i + 11)) -o more$i.fvecs
		vp-build -o ref.vpi base$i.fvecs
		vp-search -i ref.vpi -k 5 query.fvecs > ans.$((500 + 10 * i))
		vp-build --append -o ref.vpi more$i.fvecs
		vp-search -i ref.vpi -k 5 query.fvecs > ans.$((537 + 10 * i))
		vp-build --delete del.ids -o ref.vpi
		vp-search -i ref.vpi -k 5 query.fvecs > ans.$((537 + 10 * i)).alt
		! cmp -s ans.$((537 + 10 * i)) ans.$((537 + 10 * i)).alt
		vp-build --compact ref.vpi
		vp-search -i ref.vpi -k 5 query.fvecs > ans.$((514 + 10 * i))
		cmp ans.$((514 + 10 * i)) ans.$((537 + 10 * i)).alt
	done
	vp-build -o x.vpi base0.fvecs
	end=$(( $(date +%s) + secs ))
	# the cron-like writer: rebuild, append, next version
	(
		n=0
		while [ "$(date +%s)" -lt "$end" ]; do
			for i in 0 1 2 3; do
				vp-build -q -o x.vpi base$i.fvecs || echo "rebuild $i failed" >> errors
				vp-build -q --append -o x.vpi more$i.fvecs || echo "append $i failed" >> errors
				vp-build -q --delete del.ids -o x.vpi || echo "delete $i failed" >> errors
				vp-build -q --compact x.vpi || echo "compact $i failed" >> errors
				n=$((n + 4))
			done
		done
		echo "$n" > writes
	) &
	writer=$!
	for r in 1 2 3 4 5 6 7 8; do
		(
			reads=0
			cache=""
			[ $((r % 2)) -eq 1 ] && cache="--cache shared"
			while [ "$(date +%s)" -lt "$end" ]; do
				# shellcheck disable=SC2086
				if ! vp-search -i x.vpi -k 5 $cache --metrics m.$r.prom query.fvecs > out.$r 2> err.$r; then
					echo "reader $r: exit $?: $(cat err.$r)" >> errors
					continue
				fi
				v=$(awk '$1 == "vp_search_index_vectors" { print $2 }' m.$r.prom)
				if [ ! -f "ans.$v" ] || { ! cmp -s out.$r "ans.$v" &&
							    ! cmp -s out.$r "ans.$v.alt"; }; then
					echo "reader $r: a wrong answer from the version of $v rows" >> errors
					cp out.$r wrong.$r.$reads
				fi
				echo "$v" >> seen.$r
				reads=$((reads + 1))
			done
			echo "$reads" > reads.$r
		) &
	done
	wait
	[ ! -s errors ] || { head -20 errors; false; }
	total=$(cat reads.* | awk '{ s += $1 } END { print s }')
	versions=$(cat seen.* | sort -u | wc -l)
	echo "# $secs s: $(cat writes) writes, $total searches by 8 readers, $versions versions seen, 0 errors" >&3
	[ "$total" -ge 80 ]
	[ "$versions" -ge 8 ]
	# nothing half-written left behind
	[ -z "$(ls -A | grep '\.tmp\.')" ]
}
