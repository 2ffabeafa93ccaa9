#!/usr/bin/env bats
# I/O faults (issue 16): every file-system call a build or an append makes
# fails in turn (ENOSPC, EIO), or writes short, through tests/faultshim.c
# preloaded.  A failure is exit 4 with a message, the old index intact and
# no temporary file; a run that succeeds (a short write is retried; the
# directory fsync after the rename is best effort) leaves a sound index.
load helpers

shim() {
	# a sanitizer runtime must be the first library loaded: no LD_PRELOAD
	# of ours before it (the plain suite runs this test)
	[ -z "${VP_SANITIZE:-}" ] || skip "the LD_PRELOAD fault shim cannot run under SANITIZE=$VP_SANITIZE"
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
	vp-gen -n 600 -d 8 -c 8 -o base.fvecs
	vp-gen -n 100 -d 8 -c 8 --first 600 -o more.fvecs
	vp-build -o x.vpi base.fvecs
	sweep FLAT -o x.vpi base.fvecs
	sweep HNSW -t HNSW -p M=8 -o x.vpi base.fvecs
	vp-build -t IVF_FLAT -p nlist=8 -o x.vpi base.fvecs
	sweep append --append -o x.vpi more.fvecs
}

@test "limits: a small address space, few open files, absurd sizes: an error or an answer, never a crash or a hang" {
	vp-gen -n 3000 -d 16 -c 8 -o base.fvecs
	vp-gen -n 500 -d 16 -c 8 --first 3000 -o q.fvecs
	vp-build -o flat.vpi base.fvecs
	# ASan and TSan reserve terabytes of address space for their shadow at
	# start: under RLIMIT_AS they cannot start at all (the plain suite runs
	# the address-space part)
	[ -n "${VP_SANITIZE:-}" ] && lims="" || lims="60000 200000"
	for lim in $lims; do
		for cmd in "vp-build -t IVF_FLAT -p nlist=16 -o ivf.vpi base.fvecs" \
			   "vp-search -i flat.vpi -k 5 q.fvecs"; do
			run bash -c "ulimit -v $lim; exec timeout 60 $cmd > /dev/null"
			[ "$status" -eq 0 ] || [ "$status" -eq 4 ] || { echo "ulimit -v $lim $cmd: exit $status: $output"; false; }
			[ "$status" -eq 0 ] || [[ "$output" == *"memory"* ]] || { echo "$cmd: $output"; false; }
		done
	done
	run bash -c "exec > /dev/null; ulimit -n 6; exec vp-search -i flat.vpi -k 5 q.fvecs"
	[ "$status" -eq 0 ] || [ "$status" -eq 4 ] || { echo "ulimit -n: exit $status: $output"; false; }
	run -2 vp-search -i flat.vpi -k 2147483648 q.fvecs
	run -2 vp-search -i flat.vpi -b 0 q.fvecs
	perl -e 'print pack("l<", 1 << 30), "abcd"' > huge.fvecs
	run -3 vp-build -o x.vpi huge.fvecs
	[[ "$output" == *"invalid dimension 1073741824"* ]]
	if command -v xxhsum >/dev/null; then
		cp flat.vpi n40.vpi
		put64 n40.vpi 24 10000000000
		rehash n40.vpi
		run -3 vp-search -i n40.vpi -k 5 q.fvecs
		[[ "$output" == *"header says 1099511627776"* ]]
	fi
}
