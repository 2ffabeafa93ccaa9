#!/usr/bin/env bats
# Every program: --help, --version, misuse, exit codes.
load helpers

progs="vp-build vp-search vp-bench vp-diag vp-warmup vp-gen vp-tune"

@test "--help prints usage on stdout and exits 0" {
	for p in $progs; do
		run -0 --separate-stderr "$p" --help
		[[ "$output" == usage:* ]] || { echo "$p: $output"; false; }
		[ -z "$stderr" ]
	done
}

@test "--version prints the version and exits 0" {
	for p in $progs; do
		run -0 "$p" --version
		[[ "$output" == "$p (vp) "[0-9]* ]] || { echo "$p: $output"; false; }
	done
}

@test "an unknown option exits 2 with a hint on stderr" {
	for p in $progs; do
		run -2 --separate-stderr "$p" --no-such-option
		[ -z "$output" ]
		[[ "$stderr" == *"Try '$p --help'"* ]] || { echo "$p: $stderr"; false; }
	done
}

@test "every program has a man page that names its options" {
	for p in $progs; do
		[ -f "$top/man/$p.1" ]
		for opt in $("$p" --help | grep -o -- '--[a-z][a-z-]*' | sort -u); do
			grep -q -- "${opt//-/\\\\-}" "$top/man/$p.1" || grep -q -- "$opt" "$top/man/$p.1" ||
				{ echo "$p.1 lacks $opt"; false; }
		done
	done
	[ -f "$top/man/vp-index.5" ]
}

@test "the write to a full device is an I/O error (exit 4)" {
	[ -w /dev/full ] || skip "no /dev/full"
	small_data
	vp-build -o x.vpi base.fvecs
	run -4 bash -c 'vp-search -i x.vpi query.fvecs > /dev/full'
	[[ "$output" == *"write error"* ]]
}
