#!/usr/bin/env bats
# Every EXAMPLES entry of every man page runs, in a directory holding the
# files the examples name: base.fvecs, query.fvecs, gt.ivecs, index.vpi.
load helpers

# Prints the "$ command" lines of the EXAMPLES section of a page, unescaped.
examples() {
	awk '/^\.SH /{ ex = ($2 == "EXAMPLES") } ex && /^\.EX/{ inb = 1; next }
	     ex && /^\.EE/{ inb = 0 } ex && inb && /^\$ /{ print substr($0, 3) }' "$1" |
		sed -e 's/\\-/-/g' -e 's/\\e/\\/g'
}

run_examples() {
	small_data
	vp-build -o index.vpi base.fvecs
	vp-search -i index.vpi -k 100 -f ivecs query.fvecs > gt.ivecs
	n=0
	while IFS= read -r cmd; do
		n=$((n + 1))
		run bash -c "$cmd"
		[ "$status" -eq 0 ] || { echo "$1: '$cmd' exited $status: $output"; return 1; }
	done < <(examples "$top/man/$1")
	[ "$n" -gt 0 ] || { echo "$1: no examples"; return 1; }
}

@test "vp-build(1) examples run" { run_examples vp-build.1; }
@test "vp-search(1) examples run" { run_examples vp-search.1; }
@test "vp-bench(1) examples run" { run_examples vp-bench.1; }
@test "vp-diag(1) examples run" { run_examples vp-diag.1; }
@test "vp-warmup(1) examples run" { run_examples vp-warmup.1; }
@test "vp-gen(1) examples run" { run_examples vp-gen.1; }
@test "vp-tune(1) examples run" { run_examples vp-tune.1; }
@test "vp-merge(1) examples run" { run_examples vp-merge.1; }

@test "man pages format without warnings" {
	# groff-base is installed by scripts/install-deps
	for p in "$top"/man/*.[15]; do
		out=$(groff -man -t -ww -z -Tutf8 "$p" 2>&1) || true
		[ -z "$out" ] || { echo "$p: $out"; false; }
	done
}
