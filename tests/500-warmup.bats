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
