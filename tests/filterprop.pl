#!/usr/bin/perl
# filterprop.pl: the property test of --filter.  Seeded random filter
# expressions (up to 32 terms, every operator, nesting, '!', 'in' lists,
# values out of range and at the int32 limits) are evaluated here by an
# evaluator of this script's own (on the generated tree, never by parsing
# the text), and compared with what vp-search answers:
#   FLAT, and the prefilter plan of every index (exact scans): the set of
#     passing rows in the top k, min(k, passing) rows, the k-th distance;
#   every other plan of HNSW and IVF_FLAT: each row passes, min(k, passing)
#     rows come back;
#   --explain: the estimated selectivity against the true passing fraction.
# usage: filterprop.pl SEED COUNT K BASE.fvecs QUERY.fvecs LABELS.txt SELTOL INDEX:PLAN,PLAN...
# Prints one line per failure (with the expression), a summary of the
# selectivity errors, and exits 1 if anything failed.
use strict;
use warnings;

my ($seed, $count, $k, $basef, $queryf, $labelf, $seltol, @ixspecs) = @ARGV;
die "usage: filterprop.pl SEED COUNT K BASE QUERY LABELS SELTOL INDEX:PLANS...\n" unless @ixspecs;
srand($seed);

sub rd_fvecs {
	my ($f) = @_;
	open(my $h, "<:raw", $f) or die "$f: $!";
	local $/;
	my $b = <$h>;
	my (@rows, $o);
	for ($o = 0; $o < length $b;) {
		my $d = unpack("l<", substr($b, $o, 4));
		push @rows, [unpack("f<$d", substr($b, $o + 4, 4 * $d))];
		$o += 4 + 4 * $d;
	}
	return @rows;
}
my @x = rd_fvecs($basef);
my @q = rd_fvecs($queryf);
open(my $lh, "<", $labelf) or die "$labelf: $!";
chomp(my @lab = <$lh>);
my $n = @x;
die "labels: " . scalar(@lab) . " for $n rows\n" unless @lab == $n;
my ($lmin, $lmax) = (1e18, -1e18);
for (@lab) { $lmin = $_ if $_ < $lmin; $lmax = $_ if $_ > $lmax }

# every query's rows by distance (squared L2 in double), ties by id
my @order;
for my $qi (0 .. $#q) {
	my @d;
	for my $j (0 .. $n - 1) {
		my $s = 0;
		for my $t (0 .. $#{$q[$qi]}) { my $u = $q[$qi][$t] - $x[$j][$t]; $s += $u * $u }
		push @d, [$s, $j];
	}
	$order[$qi] = [sort { $a->[0] <=> $b->[0] || $a->[1] <=> $b->[1] } @d];
}

# --- expressions: trees of [op, ...] ---------------------------------------
my @limits = (-2147483648, 2147483647, -2147483649, 2147483648, -(2**40), 2**40, 0, -1);
sub pick { $_[int rand @_] }
sub value {
	my ($field) = @_;
	return pick(@limits) if rand() < 0.08;
	return $lmin - 2 + int rand($lmax - $lmin + 5) if $field eq 'label';
	return pick(-1, $n - 1, $n, $n + 1) if rand() < 0.1;
	return int rand $n;
}
sub leaf {
	my $field = rand() < 0.65 ? 'label' : 'id';
	if (rand() < 0.2) {
		my @s = map { value($field) } 1 .. 1 + int rand 6;
		push @s, $s[0] if rand() < 0.2;         # a repeat
		return ['in', $field, \@s];
	}
	return ['cmp', $field, pick('==', '!=', '<', '<=', '>', '>='), value($field)];
}
sub gen {
	my ($terms) = @_;
	my $t;
	if ($terms == 1) {
		$t = leaf();
	} else {
		my $left = 1 + int rand($terms - 1);
		$t = [rand() < 0.5 ? '&&' : '||', gen($left), gen($terms - $left)];
	}
	$t = ['!', $t] if rand() < 0.15;
	$t = ['!', $t] if rand() < 0.03;
	return $t;
}

sub ev {
	my ($t, $l, $id) = @_;
	my $o = $t->[0];
	return !ev($t->[1], $l, $id) ? 1 : 0 if $o eq '!';
	return (ev($t->[1], $l, $id) && ev($t->[2], $l, $id)) ? 1 : 0 if $o eq '&&';
	return (ev($t->[1], $l, $id) || ev($t->[2], $l, $id)) ? 1 : 0 if $o eq '||';
	my $v = $t->[1] eq 'label' ? $l : $id;
	if ($o eq 'in') { for (@{$t->[2]}) { return 1 if $v == $_ } return 0 }
	my ($op, $c) = ($t->[2], $t->[3]);
	return ($op eq '==' ? $v == $c : $op eq '!=' ? $v != $c : $op eq '<' ? $v < $c :
		$op eq '<=' ? $v <= $c : $op eq '>' ? $v > $c : $v >= $c) ? 1 : 0;
}

# Text for a tree: random spacing, redundant parentheses now and then, and
# only the parentheses precedence needs otherwise ('!' binds tightest, then
# '&&', then '||'), so the parser's precedence is under test too.
sub sp { pick('', ' ', ' ', '  ') }
sub paren { '(' . sp() . $_[0] . sp() . ')' }
sub text {
	my ($t) = @_;
	my $o = $t->[0];
	my $s;
	if ($o eq '!') {
		my $c = text($t->[1]);
		$c = paren($c) if $t->[1][0] eq '&&' || $t->[1][0] eq '||';
		$s = '!' . sp() . $c;
	} elsif ($o eq '&&' || $o eq '||') {
		my @c = map { my $c = text($_); ($o eq '&&' && $_->[0] eq '||') ? paren($c) : $c } @$t[1, 2];
		$s = $c[0] . sp() . $o . sp() . $c[1];
	} elsif ($o eq 'in') {
		$s = "$t->[1] in" . sp() . '{' . join(',' . sp(), @{$t->[2]}) . '}';
	} else {
		$s = $t->[1] . sp() . $t->[2] . sp() . $t->[3];
	}
	return rand() < 0.08 ? paren($s) : $s;
}
sub nodes { my ($t) = @_; $t->[0] =~ /^(&&|\|\||!)$/ ?
	1 + nodes($t->[1]) + ($t->[0] eq '!' ? 0 : nodes($t->[2])) : 1 }
my $big = 0;

my (@fail, @selerr, $checked, %badexpr, $cur);
sub bad { push @fail, "@_"; $badexpr{$cur} = 1 }
sub vps {
	my ($cmd) = @_;
	my $out = `$cmd 2>&1`;
	return ($? >> 8, $? & 127, $out);
}

for my $e (1 .. $count) {
	# sizes: mostly small, a good share past the 8 nodes that never grew
	# the parser's array, up to 32 terms
	my $terms = rand() < 0.3 ? 1 + int rand 4 : 1 + int rand 32;
	my $t = gen($terms);
	$big++ if nodes($t) > 8;
	my $s = text($t);
	$cur = $e;
	(my $qs = $s) =~ s/'/'\\''/g;
	my @pass = map { ev($t, $lab[$_], $_) } 0 .. $n - 1;
	my $np = 0;
	$np += $_ for @pass;
	my $want = $np < $k ? $np : $k;
	for my $spec (@ixspecs) {
		my ($ix, $plans) = split /:/, $spec;
		for my $plan (split /,/, $plans) {
			my $popt = $plan eq 'auto' ? '' : "--plan $plan";
			my ($rc, $sig, $out) = vps("vp-search -i $ix -k $k $popt --filter '$qs' $queryf");
			$checked++;
			my $what = "$ix $plan '$s'";
			if ($rc != 0 || $sig) { bad("$what: exit $rc signal $sig: $out"); next }
			my @r;
			for (split /\n/, $out) {
				my ($qi, $rank, $id, $d) = split /\t/;
				push @{$r[$qi]}, [$id, $d];
			}
			my $exact = $ix =~ /flat\.vpi$/ || $plan eq 'prefilter';
			for my $qi (0 .. $#q) {
				my @got = @{$r[$qi] || []};
				bad("$what: query $qi: " . scalar(@got) . " rows, $want pass"), next
					unless @got == $want;
				for (@got) { bad("$what: query $qi: row $_->[0] does not pass") unless $_->[0] >= 0 && $_->[0] < $n && $pass[$_->[0]] }
				next unless $exact && $want;
				my @truth = grep { $pass[$_->[1]] } @{$order[$qi]};
				my $dk = $truth[$want - 1][0];
				my %g = map { $_->[0] => 1 } @got;
				my %w = map { $_->[1] => 1 } @truth[0 .. $want - 1];
				# a row may differ only where distances tie at the k-th
				for my $id (keys %g, keys %w) {
					next if $g{$id} && $w{$id};
					my ($tr) = grep { $_->[1] == $id } @truth;
					bad("$what: query $qi: id $id in one set only")
						unless $tr && abs($tr->[0] - $dk) <= 1e-4 * ($dk + 1e-9);
				}
				bad("$what: query $qi: k-th distance $got[-1][1], want $dk")
					unless abs($got[-1][1] - $dk) <= 1e-4 * ($dk + 1e-6) + 1e-6;
			}
		}
	}
	my ($first) = split /:/, $ixspecs[0];
	my ($rc, $sig, $out) = vps("vp-search -i $first --filter '$qs' --explain");
	if ($rc != 0 || $out !~ /^selectivity\s+(\S+)/m) {
		bad("explain '$s': exit $rc: $out");
	} else {
		push @selerr, [$1 - $np / $n, $s];
	}
}
my @abs = sort { $a <=> $b } map { abs $_->[0] } @selerr;
if (@abs) {
	my $q = sub { $abs[int($_[0] * $#abs + 0.5)] };
	printf "selectivity error |est - true| over %d expressions: median %.4f, p90 %.4f, p99 %.4f, max %.4f\n",
		scalar(@abs), $q->(0.5), $q->(0.9), $q->(0.99), $abs[-1];
	for (grep { abs($_->[0]) > $seltol } @selerr) { bad(sprintf "explain '%s': selectivity off by %.4f", $_->[1], $_->[0]) }
}
print "$_\n" for @fail[0 .. ($#fail < 20 ? $#fail : 19)];
printf "%d expressions (%d of them past 8 nodes), %d searches checked: %d failures in %d expressions\n",
	$count, $big, $checked || 0, scalar @fail, scalar keys %badexpr;
exit(@fail ? 1 : 0);
