#!/usr/bin/env bats
# Shards (vp-build --shard) searched apart and merged by vp-merge, fanned out
# by GNU parallel and by a single-node Slurm started here.
load helpers

teardown() {
	# the Slurm daemons of the last test, if it started them; slurmctld
	# saves its state as it exits, so wait for them (up to 10 s) before
	# removing their directory
	local pids="" p i
	for p in "$T"/slurm/*.pid; do
		[ -f "$p" ] && pids="$pids $(cat "$p")"
	done
	for p in $pids; do
		kill "$p" 2>/dev/null
	done
	for i in $(seq 1 100); do
		for p in $pids; do
			kill -0 "$p" 2>/dev/null && break
			pids=${pids/$p/}
		done
		[ -z "${pids// /}" ] && break
		sleep 0.1
	done
	cd / && rm -rf "$T"
}

shard_data() {
	vp-gen -n 3000 -d 16 -c 12 -o base.fvecs
	vp-gen -n 60 -d 16 -c 12 --first 3000 -o query.fvecs
	vp-build -o one.vpi base.fvecs
}

@test "FLAT shards by range and by hash merge into one index's answer, byte for byte" {
	shard_data
	vp-search -i one.vpi -k 10 query.fvecs > one.tsv
	vp-search -i one.vpi -k 10 -f json query.fvecs > one.json
	vp-search -i one.vpi -k 10 -f ivecs query.fvecs > one.ivecs
	for by in range hash; do
		for i in 0 1 2 3; do
			vp-build -q --shard $i/4 --shard-by $by -o s$i.vpi base.fvecs
			vp-search -i s$i.vpi -k 10 query.fvecs > r$i.tsv
			vp-search -i s$i.vpi -k 10 -f json query.fvecs > r$i.json
		done
		vp-merge r0.tsv r1.tsv r2.tsv r3.tsv | cmp - one.tsv
		vp-merge -f json r0.json r1.json r2.json r3.json | cmp - one.json
		# formats mix, and ivecs out
		vp-merge -f ivecs r0.json r1.tsv r2.json r3.tsv | cmp - one.ivecs
		# each shard holds a quarter of the rows, every id once
		n=0
		for i in 0 1 2 3; do
			c=$(vp-diag s$i.vpi | awk '$1 == "vectors" { print $2; exit }')
			[ "$c" -gt 600 ] && [ "$c" -lt 900 ] || { echo "shard $i of $c rows"; false; }
			n=$((n + c))
		done
		[ "$n" -eq 3000 ]
	done
	# a shard's results carry global ids: range shard 3 holds 2250..2999
	vp-build -q --shard 3/4 -o s3.vpi base.fvecs
	vp-search -i s3.vpi -k 10 query.fvecs | awk '$3 < 2250 { exit 1 }'
	# shards of an input with its own ids: ranges of rows, ids kept
	perl -e 'print 3 * $_ + 1000, "\n" for 0 .. 2999' > ids.txt
	vp-build -q --ids ids.txt -o oneid.vpi base.fvecs
	for i in 0 1 2; do
		vp-build -q --shard $i/3 --ids ids.txt -o t$i.vpi base.fvecs
		vp-search -i t$i.vpi -k 10 query.fvecs > u$i.tsv
	done
	vp-merge -n 3 u0.tsv u1.tsv u2.tsv | cmp - <(vp-search -i oneid.vpi -k 10 query.fvecs)
	# -k below the streams' keeps the best k
	vp-merge -k 3 r0.tsv r1.tsv r2.tsv r3.tsv | cmp - <(vp-search -i one.vpi -k 3 query.fvecs)
}

@test "GNU parallel builds and searches the shards; HNSW recall holds" {
	command -v parallel >/dev/null || skip "GNU parallel not installed (Debian parallel)"
	shard_data
	vp-search -i one.vpi -k 10 -f ivecs query.fvecs > gt.ivecs
	parallel -j 2 vp-build -q -t HNSW -p M=8 --shard {}/4 --shard-by hash -o h{}.vpi base.fvecs ::: 0 1 2 3
	vp-build -q -t HNSW -p M=8 -o h.vpi base.fvecs
	parallel -j 2 "vp-search -i h{}.vpi -k 10 -p ef=32 query.fvecs > r{}.tsv" ::: 0 1 2 3
	vp-merge -n 4 -f ivecs r0.tsv r1.tsv r2.tsv r3.tsv > merged.ivecs
	# recall of the merge against one index at the same ef: the shards
	# are smaller graphs, so not lower beyond noise
	one=$(vp-bench -i h.vpi -q query.fvecs -g gt.ivecs -p ef=32 | awk 'NR == 4 { print $2 }')
	merged=$(perl -e 'sub rd { open(my $h, "<:raw", $_[0]) or die; local $/; my $b = <$h>; my @r; my $o = 0;
			while ($o < length $b) { my $d = unpack("l<", substr($b, $o, 4)); push @r, [unpack("l<$d", substr($b, $o + 4, 4 * $d))]; $o += 4 + 4 * $d } @r }
		my @g = rd($ARGV[0]); my @m = rd($ARGV[1]); my ($hit, $all) = (0, 0);
		for my $i (0 .. $#g) { my %t = map { $_ => 1 } @{$g[$i]}[0 .. 9]; $hit += grep { $t{$_} } @{$m[$i]}; $all += 10 }
		printf "%.4f", $hit / $all' gt.ivecs merged.ivecs)
	awk -v a="$merged" -v b="$one" 'BEGIN { exit !(a >= b - 0.02) }' || { echo "merged $merged, one index $one"; false; }
}

@test "vp-merge refuses a missing, empty, cut, unordered or mismatched stream" {
	shard_data
	for i in 0 1; do
		vp-build -q --shard $i/2 -o s$i.vpi base.fvecs
		vp-search -i s$i.vpi -k 10 query.fvecs > r$i.tsv
	done
	run -3 vp-merge r0.tsv r1.tsv r2.tsv
	[[ "$output" == *"r2.tsv: No such file or directory (a shard missing?)"* ]]
	run -3 vp-merge -n 3 r0.tsv r1.tsv
	[[ "$output" == *"--shards 3: 2 streams given"* ]]
	vp-search -i s1.vpi -k 5 query.fvecs > k5.tsv
	run -3 vp-merge r0.tsv k5.tsv
	[[ "$output" == *"mismatched k"* ]]
	run -3 vp-merge k5.tsv r0.tsv
	[[ "$output" == *"mismatched k"* ]]
	: > empty.tsv
	run -3 vp-merge r0.tsv empty.tsv
	[[ "$output" == *"empty.tsv: no results, where other streams have some"* ]]
	head -c 1000 r1.tsv > cut.tsv
	run -3 vp-merge r0.tsv cut.tsv
	[[ "$output" == *"cut.tsv:"*"cut short"* ]]
	sort -k1,1nr -s r1.tsv > unordered.tsv
	run -3 vp-merge r0.tsv unordered.tsv
	[[ "$output" == *"out of order"* ]]
	vp-search -i s1.vpi -k 10 -f ivecs query.fvecs > r1.ivecs
	run -3 vp-merge r0.tsv r1.ivecs
	[[ "$output" == *"ivecs results carry no distances"* ]]
	printf '0\t0\t5\tx\n' > junk.tsv
	run -3 vp-merge junk.tsv
	[[ "$output" == *"junk.tsv:1: bad distance"* ]]
	# a shard searched with queries of another dimension fails, and its
	# empty stream fails the merge
	vp-gen -n 5 -d 8 -o q8.fvecs
	run -3 bash -c 'vp-merge <(vp-search -i s0.vpi q8.fvecs) <(vp-search -i s1.vpi q8.fvecs)'
	[[ "$output" == *"every stream is empty"* ]]
	run -3 bash -c 'vp-merge r0.tsv <(vp-search -i s1.vpi q8.fvecs 2>/dev/null)'
	[[ "$output" == *"no results, where other streams have some"* ]]
	run -2 vp-merge
	run -2 vp-merge -f csv r0.tsv
	run -2 vp-merge - - < r0.tsv
}

# Starts slurmctld and slurmd for this machine alone, with their own
# configuration, ports and state under $T/slurm, and no authentication
# (auth/none: loopback only, for tests).  Returns 1 when they cannot start.
start_slurm() {
	local host port
	[ "$(id -u)" = 0 ] || return 1
	command -v slurmctld >/dev/null && command -v slurmd >/dev/null &&
		command -v sbatch >/dev/null || return 1
	[ -f /usr/lib/x86_64-linux-gnu/slurm-wlm/auth_none.so ] || return 1
	host=$(hostname)
	port=$((20000 + RANDOM % 20000))
	mkdir -p "$T/slurm/ctld" "$T/slurm/d"
	cat > "$T/slurm/slurm.conf" <<-EOF
	ClusterName=vptest
	SlurmctldHost=$host
	SlurmctldPort=$port
	SlurmdPort=$((port + 1))
	AuthType=auth/none
	CredType=cred/none
	SlurmUser=root
	SlurmdUser=root
	StateSaveLocation=$T/slurm/ctld
	SlurmdSpoolDir=$T/slurm/d
	SlurmctldPidFile=$T/slurm/ctld.pid
	SlurmdPidFile=$T/slurm/d.pid
	SlurmctldLogFile=$T/slurm/ctld.log
	SlurmdLogFile=$T/slurm/d.log
	ProctrackType=proctrack/pgid
	TaskPlugin=task/none
	SelectType=select/cons_tres
	SelectTypeParameters=CR_Core
	ReturnToService=2
	MpiDefault=none
	JobCompType=jobcomp/none
	AccountingStorageType=accounting_storage/none
	NodeName=$host CPUs=$(nproc) RealMemory=1000 State=UNKNOWN
	PartitionName=vp Nodes=$host Default=YES MaxTime=INFINITE State=UP
	EOF
	export SLURM_CONF="$T/slurm/slurm.conf"
	slurmctld -f "$SLURM_CONF" >/dev/null 2>&1 || return 1
	slurmd -f "$SLURM_CONF" >/dev/null 2>&1 || return 1
	for _ in $(seq 50); do
		sinfo -h -o %t 2>/dev/null | grep -q idle && return 0
		sleep 0.2
	done
	return 1
}

@test "a Slurm array job builds the shards, srun searches them, vp-merge merges" {
	start_slurm || skip "slurmctld/slurmd could not start here (root and Debian slurmctld, slurmd needed)"
	shard_data
	vp-search -i one.vpi -k 10 query.fvecs > one.tsv
	# the recipe of vp-merge(1), with the programs' full paths for the jobs
	run -0 timeout 120 sbatch --wait --array=0-3 -o /dev/null --wrap \
		"$top/bin/vp-build -q --shard \$SLURM_ARRAY_TASK_ID/4 -o $T/shard\$SLURM_ARRAY_TASK_ID.vpi $T/base.fvecs"
	for i in 0 1 2 3; do
		timeout 60 srun -n 1 "$top/bin/vp-search" -i "$T/shard$i.vpi" "$T/query.fvecs" > res$i.tsv &
	done
	wait
	vp-merge -n 4 res0.tsv res1.tsv res2.tsv res3.tsv | cmp - one.tsv
}
