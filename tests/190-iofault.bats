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
	# the changes of issue 14 write through the same path
	vp-build -t HNSW -p M=8 -o x.vpi base.fvecs
	seq 0 3 299 > del.ids
	sweep delete --delete del.ids -o x.vpi
	head -c $((5 * 36)) more.fvecs > up.fvecs
	seq 10 14 > up.ids
	sweep upsert --upsert up.fvecs --ids up.ids -o x.vpi
	vp-build -t HNSW -p M=8 -o x.vpi base.fvecs
	vp-build --delete del.ids -o x.vpi
	sweep compact --compact -o x.vpi
}

teardown() {
	# the tmpfs of the full-disk test, if it mounted one
	mountpoint -q "$T/fs" 2>/dev/null && umount "$T/fs"
	cd / && rm -rf "$T"
}

@test "a full file system (a small tmpfs) at every stage of a build, append, delete and compaction" {
	[ "$(id -u)" = 0 ] || skip "mounting a tmpfs needs root"
	mkdir fs
	mount -t tmpfs -o size=2m tmpfs fs 2>/dev/null || skip "cannot mount a tmpfs here"
	vp-gen -n 2000 -d 16 -c 8 -o base.fvecs
	vp-gen -n 300 -d 16 -c 8 --first 2000 -o more.fvecs
	seq 0 5 1999 > del.ids
	fails=0 runs=0
	for op in build append delete compact; do
		for free in 0 8 32 64 128 192 256 320 400 480 560 640 800; do
			rm -f fs/*
			vp-build -q -t HNSW -p M=8 -o fs/x.vpi base.fvecs
			[ $op = compact ] && vp-build -q --delete del.ids -o fs/x.vpi
			cp fs/x.vpi old.vpi
			# leave $free KB: a filler takes the rest
			avail=$(df -k --output=avail fs | tail -1)
			[ "$avail" -gt "$free" ] && dd if=/dev/zero of=fs/filler bs=1k count=$((avail - free)) 2>/dev/null || true
			case $op in
			build) run vp-build -q -t HNSW -p M=12 -o fs/x.vpi base.fvecs ;;
			append) run vp-build -q --append -o fs/x.vpi more.fvecs ;;
			delete) run vp-build -q --delete del.ids -o fs/x.vpi ;;
			compact) run vp-build -q --compact fs/x.vpi ;;
			esac
			runs=$((runs + 1))
			if [ "$status" -eq 4 ]; then
				[[ "$output" == *"No space left on device"* ]] || { echo "$op, $free KB free: $output"; false; }
				cmp -s fs/x.vpi old.vpi || { echo "$op, $free KB free: the old index changed"; false; }
				fails=$((fails + 1))
			else
				[ "$status" -eq 0 ] || { echo "$op, $free KB free: exit $status: $output"; false; }
				run -0 vp-diag --no-stats fs/x.vpi
			fi
			[ -z "$(ls -A fs | grep '\.tmp\.')" ] || { echo "$op, $free KB free: left $(ls -A fs)"; false; }
		done
	done
	echo "# $runs runs on a full tmpfs, $fails stopped with exit 4 and the old index intact" >&3
	[ "$fails" -ge 20 ]
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
