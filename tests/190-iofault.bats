#!/usr/bin/env bats
# I/O faults (issue 16): every file-system call a build or an append makes
# fails in turn (ENOSPC, EIO), or writes short, through tests/faultshim.c
# preloaded.  A failure is exit 4 with a message, the old index intact and
# no temporary file; a run that succeeds (a short write is retried; the
# directory fsync after the rename is best effort) leaves a sound index.
load helpers

shim() {
	command -v cc >/dev/null || skip "no C compiler for the fault shim"
	cc -shared -fPIC -O1 -o "$T/faultshim.so" "$BATS_TEST_DIRNAME/faultshim.c" -ldl
}

# sweep WHAT ARGS...: runs vp-build ARGS with a fault at every counted call
sweep() {
	local what=$1 n fails=0 mode e
	shift
	cp x.vpi old.vpi
	VP_FAULT_COUNT="$T/count" LD_PRELOAD="$T/faultshim.so" vp-build "$@"
	n=$(cat "$T/count")
	cp old.vpi x.vpi
	[ "$n" -ge 4 ] || { echo "$what: only $n calls counted"; false; }
	for mode in ENOSPC EIO short; do
		for i in $(seq 1 "$n"); do
			cp old.vpi x.vpi
			e=ENOSPC
			[ $mode = EIO ] && e=EIO
			run env VP_FAULT_AT="$i" VP_FAULT_ERRNO="$e" VP_FAULT_SHORT=$([ $mode = short ] && echo 1 || echo 0) \
				LD_PRELOAD="$T/faultshim.so" vp-build "$@"
			if [ "$status" -eq 4 ]; then
				[[ "$output" == *"x.vpi: "*"$([ $e = EIO ] && echo 'Input/output error' || echo 'No space left on device')"* ]] ||
					{ echo "$what $mode at $i: $output"; false; }
				cmp -s x.vpi old.vpi || { echo "$what $mode at $i: the old index changed"; false; }
				fails=$((fails + 1))
			elif [ "$status" -eq 0 ]; then
				run vp-diag --no-stats x.vpi
				[ "$status" -eq 0 ] || { echo "$what $mode at $i: exit 0 but $output"; false; }
			else
				echo "$what $mode at $i: exit $status: $output"
				false
			fi
			[ -z "$(ls -A | grep '\.tmp\.')" ] || { echo "$what $mode at $i: left $(ls -A)"; false; }
		done
	done
	echo "# $what: $n calls, $fails failures reported with exit 4" >&3
	# every ENOSPC and EIO fault but the directory fsync's is a failure
	[ "$fails" -ge $((2 * (n - 1))) ]
}

@test "I/O faults at every call of a build: exit 4, the old index intact, nothing half-written" {
	shim
	vp-gen -n 2000 -d 8 -c 8 -o base.fvecs
	vp-gen -n 300 -d 8 -c 8 --first 2000 -o more.fvecs
	vp-build -o x.vpi base.fvecs
	sweep FLAT -o x.vpi base.fvecs
	sweep HNSW -t HNSW -p M=8 -o x.vpi base.fvecs
	sweep IVF_PQ -t IVF_PQ -p nlist=8 -o x.vpi base.fvecs
	vp-build -t IVF_FLAT -p nlist=8 -o x.vpi base.fvecs
	sweep append --append -o x.vpi more.fvecs
}
