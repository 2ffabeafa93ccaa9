#!/usr/bin/env bats
# The L3 result cache against a real redis-server on loopback, and the
# result-cache warm-up from logged queries.
load helpers

# redis_up: a redis-server of the test's own on a free port, in $RPORT; a
# visible skip when the package is missing or it cannot start
redis_up() {
	command -v redis-server >/dev/null ||
		skip "redis-server not installed (Debian redis-server; scripts/install-deps installs it)"
	command -v redis-cli >/dev/null || skip "redis-cli not installed"
	for try in 1 2 3 4 5; do
		RPORT=$((20000 + RANDOM % 20000))
		redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no \
			--daemonize yes --pidfile "$T/redis.pid" --dir "$T" > /dev/null 2>&1 || continue
		for i in $(seq 50); do
			redis-cli -p "$RPORT" ping 2>/dev/null | grep -q PONG && return 0
			sleep 0.1
		done
	done
	skip "redis-server would not start on loopback"
}

teardown() {
	[ -f "$T/redis.pid" ] && kill "$(cat "$T/redis.pid")" 2>/dev/null
	cd / && rm -rf "$T"
}

l3_data() {
	small_data
	vp-build -t HNSW -o h.vpi base.fvecs
}

@test "L3 round trip: a second process with its own L2 is answered by L3" {
	l3_data
	redis_up
	run -0 --separate-stderr vp-search -i h.vpi --cache a --cache-l3 "redis://127.0.0.1:$RPORT" --stats query.fvecs
	first=$output
	[[ "$stderr" == *"cache 20 lookups, 0 L1 hits, 0 L2 hits, 0 L3 hits"* ]]
	[ "$(redis-cli -p "$RPORT" dbsize)" -eq 20 ]
	# a TTL is set on every entry
	key=$(redis-cli -p "$RPORT" --scan --pattern 'vp:*' | head -1)
	ttl=$(redis-cli -p "$RPORT" ttl "$key")
	[ "$ttl" -gt 0 ] && [ "$ttl" -le 86400 ]
	run -0 --separate-stderr vp-search -i h.vpi --cache b --cache-l3 "redis://127.0.0.1:$RPORT" --stats query.fvecs
	[[ "$stderr" == *"cache 20 lookups, 0 L1 hits, 0 L2 hits, 20 L3 hits, hit rate 100.0%"* ]]
	[ "$output" = "$first" ]
	# an L3 hit filled L2: a third run on b needs no L3
	run -0 --separate-stderr vp-search -i h.vpi --cache b --stats query.fvecs
	[[ "$stderr" == *"20 L2 hits"* ]]
	[ "$output" = "$first" ]
	# database numbers keep separate caches
	run -0 --separate-stderr vp-search -i h.vpi --cache c --cache-l3 "redis://127.0.0.1:$RPORT/3" --stats query.fvecs
	[[ "$stderr" == *"0 L3 hits"* ]]
}

@test "L3: a rebuilt index never gets the old answers; damaged entries are rejected" {
	l3_data
	redis_up
	url="redis://127.0.0.1:$RPORT"
	vp-search -i h.vpi --cache a --cache-l3 "$url" query.fvecs > before.tsv
	# rebuilt from other vectors: a new header checksum, new keys
	vp-gen -n 500 -d 8 --integer -c 8 -s 7 -o other.fvecs
	vp-build -t HNSW -o h.vpi other.fvecs
	run -0 --separate-stderr vp-search -i h.vpi --cache b --cache-l3 "$url" --stats query.fvecs
	[[ "$stderr" == *" 0 L3 hits"* ]]
	vp-search -i h.vpi query.fvecs > fresh.tsv
	[ "$output" = "$(cat fresh.tsv)" ]
	# every entry overwritten with garbage of the right length: rejected, searched
	for key in $(redis-cli -p "$RPORT" --scan --pattern 'vp:*'); do
		len=$(redis-cli -p "$RPORT" strlen "$key")
		redis-cli -p "$RPORT" set "$key" "$(head -c "$len" /dev/zero | tr '\0' x)" > /dev/null
	done
	run -0 --separate-stderr vp-search -i h.vpi --cache c --cache-l3 "$url" --stats query.fvecs
	[[ "$stderr" == *" 0 L3 hits"* ]]
	[ "$output" = "$(cat fresh.tsv)" ]
}

@test "L3 down: one warning, the search goes on, and it costs the timeout once" {
	l3_data
	# a port nothing listens on
	port=$((40000 + RANDOM % 20000))
	vp-search -i h.vpi query.fvecs > plain.tsv
	start=$(date +%s%N)
	run -0 --separate-stderr vp-search -i h.vpi -b 1 --cache a --cache-l3 "redis://127.0.0.1:$port" query.fvecs
	ms=$(( ($(date +%s%N) - start) / 1000000 ))
	[ "$output" = "$(cat plain.tsv)" ]
	[ "$(printf '%s\n' "$stderr" | grep -c 'going on without the L3 cache')" -eq 1 ]
	[ "$ms" -lt 5000 ]
	# a server that goes away during the run: one warning, then L1 and L2
	redis_up
	vp-search -i h.vpi --cache b --cache-l3 "redis://127.0.0.1:$RPORT" query.fvecs > /dev/null
	mkfifo in
	vp-search -i h.vpi -b 5 --cache c --cache-l3 "redis://127.0.0.1:$RPORT" in > out.tsv 2> err.txt &
	pid=$!
	exec 7> in
	head -c $(( (4 + 8 * 4) * 5 )) query.fvecs >&7
	sleep 0.5
	kill "$(cat "$T/redis.pid")"
	rm -f "$T/redis.pid"
	sleep 0.3
	tail -c +$(( (4 + 8 * 4) * 5 + 1 )) query.fvecs >&7
	exec 7>&-
	wait "$pid"
	[ "$(cat out.tsv)" = "$(cat plain.tsv)" ]
	[ "$(grep -c 'the L3 cache was skipped from then on' err.txt)" -eq 1 ]
	# usage
	run -2 vp-search -i h.vpi --cache-l3 "redis://127.0.0.1:$port" query.fvecs
	[[ "$output" == *"--cache-l3 needs --cache"* ]]
	run -2 vp-search -i h.vpi --cache a --cache-l3 "http://x" query.fvecs
	run -2 vp-search -i h.vpi --cache a --cache-l3 "redis://h:99999" query.fvecs
	run -2 vp-search -i h.vpi --cache a --cache-l3 "redis:///2" query.fvecs
}

@test "vp-bench --cache-l3: the hit rate by level" {
	l3_data
	redis_up
	vp-search -i h.vpi -k 10 -f ivecs query.fvecs > gt.ivecs
	vp-bench -i h.vpi -q query.fvecs -g gt.ivecs --cache a --cache-l3 "redis://127.0.0.1:$RPORT" > /dev/null
	run -0 vp-bench -i h.vpi -q query.fvecs -g gt.ivecs --cache b --cache-l3 "redis://127.0.0.1:$RPORT" --json
	[[ "$output" == *'"l3_hits": 20'* && "$output" == *'"hit_rate": 1.000000'* ]]
}

@test "vp-warmup --cache: the most frequent logged queries fill the result cache" {
	l3_data
	# five queries asked four times each, the rest once
	head -c $(( (4 + 8 * 4) * 5 )) query.fvecs > hot.fvecs
	cat hot.fvecs hot.fvecs hot.fvecs hot.fvecs query.fvecs > traffic.fvecs
	vp-search -i h.vpi -p ef=20 --access-log a.log --log-queries traffic.fvecs > /dev/null
	run -0 vp-warmup --cache c --access-log a.log --top 5 -p ef=20 h.vpi
	[[ "$output" == "c: 5 of 20 distinct queries (40 logged) in the cache, k=10: 0 were there already, 5 searched"* ]]
	# the hot queries are now answered from the file, the rest are not
	run -0 --separate-stderr vp-search -i h.vpi -p ef=20 --cache c --stats hot.fvecs
	[[ "$stderr" == *"cache 5 lookups, 0 L1 hits, 5 L2 hits"* ]]
	run -0 --separate-stderr vp-search -i h.vpi -p ef=20 --cache c --stats query.fvecs
	[[ "$stderr" == *"cache 20 lookups, 0 L1 hits, 5 L2 hits"* ]]
	# other parameters are other keys: no hits
	run -0 --separate-stderr vp-search -i h.vpi -p ef=30 --cache c --stats hot.fvecs
	[[ "$stderr" == *"0 L2 hits"* ]]
	# errors
	vp-search -i h.vpi --access-log plain.log query.fvecs > /dev/null
	run -3 vp-warmup --cache c --access-log plain.log h.vpi
	[[ "$output" == *"plain.log: no query vectors of dimension 8"* ]]
	run -2 vp-warmup --cache c h.vpi
	run -2 vp-warmup --top 5 h.vpi
	run -2 vp-warmup --cache c --access-log a.log --budget 10% h.vpi
	run -2 vp-warmup --cache c --access-log a.log -p nprobe=3 h.vpi
}
