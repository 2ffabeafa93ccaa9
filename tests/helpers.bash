# helpers.bash: shared set-up for the Bats tests.  The programs under test
# come from bin/ (scripts/run-tests puts it first on PATH).
bats_require_minimum_version 1.5.0

top=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
PATH="$top/bin:$PATH"

setup() {
	T=$(mktemp -d "${BATS_TMPDIR:-/tmp}/vp.XXXXXX")
	cd "$T" || return 1
}

teardown() {
	cd / && rm -rf "$T"
}

# small_data: base.fvecs (500 x 8 integer-valued), query.fvecs (20 x 8)
small_data() {
	vp-gen -n 500 -d 8 --integer -c 8 -o base.fvecs
	vp-gen -n 20 -d 8 --integer -c 8 --first 500 -o query.fvecs
}

# Writes an fvecs file from lines of numbers: fvecs_from_text OUT < text
fvecs_from_text() {
	perl -ne 'my @v = split; next unless @v; print pack("l<f<*", scalar(@v), @v)' > "$1"
}

# Brute-force k nearest neighbours (squared L2, ties by id) of each query:
# prints "query<TAB>rank<TAB>id<TAB>distance" like vp-search's tsv.
brute_tsv() { # brute_tsv BASE QUERY K
	perl -e '
		sub rd { my ($f) = @_; open(my $h, "<:raw", $f) or die; local $/; my $b = <$h>;
			my @rows; my $o = 0;
			while ($o < length $b) { my $d = unpack("l<", substr($b, $o, 4));
				push @rows, [unpack("f<$d", substr($b, $o + 4, 4 * $d))]; $o += 4 + 4 * $d; }
			return @rows; }
		my @x = rd($ARGV[0]); my @q = rd($ARGV[1]); my $k = $ARGV[2];
		for my $i (0 .. $#q) {
			my @d;
			for my $j (0 .. $#x) { my $s = 0;
				for my $t (0 .. $#{$q[$i]}) { my $u = $q[$i][$t] - $x[$j][$t]; $s += $u * $u; }
				push @d, [$s, $j]; }
			@d = sort { $a->[0] <=> $b->[0] || $a->[1] <=> $b->[1] } @d;
			for my $r (0 .. $k - 1) { last if $r > $#d; printf "%d\t%d\t%d\t%.9g\n", $i, $r, $d[$r][1], $d[$r][0]; }
		}' "$1" "$2" "$3"
}

# Flips one byte of FILE at OFFSET.
flip_byte() {
	perl -e 'open(my $h, "+<:raw", $ARGV[0]) or die; seek($h, $ARGV[1], 0); read($h, my $c, 1);
		seek($h, $ARGV[1], 0); print $h chr(ord($c) ^ 0x5a); close $h' "$1" "$2"
}

# Writes the 64-bit little-endian HEX at OFFSET of FILE.
put64() { # put64 FILE OFFSET HEX
	perl -e 'no warnings; open(my $h, "+<:raw", $ARGV[0]) or die; seek($h, $ARGV[1], 0);
		print $h pack("Q<", hex($ARGV[2])); close $h' "$1" "$2" "$3"
}

# Recomputes an index file's table and header checksums after an edit, so
# that only the edit is wrong (needs xxhsum, Debian xxhash): rehash FILE
rehash() {
	local toff nsec th hh
	toff=$(perl -e 'open(my $h, "<:raw", $ARGV[0]); seek($h, 40, 0); read($h, my $b, 8); print unpack("Q<", $b)' "$1")
	nsec=$(perl -e 'open(my $h, "<:raw", $ARGV[0]); seek($h, 36, 0); read($h, my $b, 4); print unpack("L<", $b)' "$1")
	th=$(tail -c +$((toff + 1)) "$1" | head -c $((nsec * 64)) | xxhsum -H64 | cut -d' ' -f1)
	put64 "$1" 176 "$th"
	hh=$(head -c 248 "$1" | xxhsum -H64 | cut -d' ' -f1)
	put64 "$1" 248 "$hh"
}

# Renames section NAME of FILE (first in the table) to NEW, same length,
# and fixes the table and header checksums: only the rename is wrong.
rename_section() { # rename_section FILE NAME NEW
	perl -e 'open(my $h, "+<:raw", $ARGV[0]) or die; seek($h, 40, 0); read($h, my $b, 8);
		my $t = unpack("Q<", $b); seek($h, 36, 0); read($h, $b, 4); my $n = unpack("L<", $b);
		for my $i (0 .. $n - 1) { seek($h, $t + 64 * $i, 0); read($h, my $nm, 16); $nm =~ s/\0.*//s;
			if ($nm eq $ARGV[1]) { seek($h, $t + 64 * $i, 0); print $h pack("a16", $ARGV[2]); exit 0 } }
		die "no section $ARGV[1]"' "$1" "$2" "$3"
	rehash "$1"
}
