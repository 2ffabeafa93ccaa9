#!/usr/bin/env bats
# Hardware placement: --cpus and pinning, the default thread count under an
# affinity mask and a cgroup quota, NUMA policy read back, huge pages,
# preallocated pools, vp-diag --system.
load helpers

hw_data() {
	vp-gen -n 3000 -d 16 -c 8 -o base.fvecs
	vp-gen -n 300 -d 16 -c 8 --first 3000 -o query.fvecs
}

@test "the default thread count follows the affinity mask (taskset)" {
	command -v taskset >/dev/null || skip "taskset is not installed"
	hw_data
	vp-build -o flat.vpi base.fvecs
	run -0 --separate-stderr taskset -c 0 vp-search -i flat.vpi --stats query.fvecs
	[[ "$stderr" == *"stats: 1 thread (the affinity mask has 1 CPU (0)"* ]]
	run -0 taskset -c 0 vp-diag --system --json
	[[ "$output" == *'"default_threads": 1,'* ]]
	[[ "$output" == *'"affinity": "0",'* ]]
}

@test "the default thread count follows a cgroup CPU quota (v2 cpu.max, v1 cfs files)" {
	hw_data
	vp-build -o flat.vpi base.fvecs
	mkdir -p cg1 cg2 cg3
	echo "100000 100000" > cg1/cpu.max          # one CPU
	echo "max 100000" > cg2/cpu.max             # no quota
	echo 50000 > cg3/cpu.cfs_quota_us           # v1: half a CPU
	echo 100000 > cg3/cpu.cfs_period_us
	echo 1073741824 > cg3/memory.limit_in_bytes
	run -0 --separate-stderr env VP_CGROUP_ROOT="$PWD/cg1" vp-search -i flat.vpi --stats query.fvecs
	[[ "$stderr" == *"stats: 1 thread (the cgroup CPU quota allows 1.00 CPUs"* ]]
	all=$(vp-diag --system --json | perl -ne 'print $1 if /"affinity_cpus": (\d+)/')
	run -0 env VP_CGROUP_ROOT="$PWD/cg2" vp-diag --system --json
	[[ "$output" == *"\"default_threads\": $all,"* ]]
	[[ "$output" == *'"cgroup_cpu_quota": 0.000,'* ]]
	run -0 env VP_CGROUP_ROOT="$PWD/cg3" vp-diag --system --json
	[[ "$output" == *'"default_threads": 1,'* ]]
	[[ "$output" == *'"cgroup_cpu_quota": 0.500,'* ]]
	[[ "$output" == *'"cgroup_memory_limit_bytes": 1073741824,'* ]]
	# the build and the benchmark take the same default
	vp-search -i flat.vpi -f ivecs query.fvecs > gt.ivecs
	run -0 env VP_CGROUP_ROOT="$PWD/cg1" vp-bench -i flat.vpi -q query.fvecs -g gt.ivecs --mode throughput
	[[ "$output" == *"mode throughput, 1 thread,"* ]]
}

@test "--cpus pins one thread to each CPU listed; bad lists are usage errors" {
	hw_data
	ncpu=$(vp-diag --system --json | perl -ne 'print $1 if /"affinity_cpus": (\d+)/')
	first=$(vp-diag --system --json | perl -ne 'print $1 if /"affinity": "(\d+)/')
	vp-build -t HNSW --cpus "$first" -o h.vpi base.fvecs
	run -0 --separate-stderr vp-search -i h.vpi --cpus "$first" --stats query.fvecs
	[[ "$stderr" == *"stats: 1 thread (one per CPU of --cpus $first), pinned to CPUs $first; thread:CPUs 0:$first"* ]]
	if [ "$ncpu" -ge 2 ]; then
		run -0 --separate-stderr vp-search -i h.vpi --cpus 0-1 --stats query.fvecs
		[[ "$stderr" == *"2 threads (one per CPU of --cpus 0-1), pinned to CPUs 0-1; thread:CPUs 0:0 1:1"* ]]
		# more threads than CPUs: round robin over them
		run -0 --separate-stderr vp-search -i h.vpi --cpus 0-1 -j 4 --stats query.fvecs
		[[ "$stderr" == *"thread:CPUs 0:0 1:1 2:0 3:1"* ]]
	fi
	# unpinned threads may run anywhere in the mask
	run -0 --separate-stderr vp-search -i h.vpi -j 1 --stats query.fvecs
	[[ "$stderr" == *"not pinned"* ]]
	run -2 vp-search -i h.vpi --cpus 3-1 query.fvecs
	[[ "$output" == *"cpus: '3-1': bad range"* ]]
	run -2 vp-search -i h.vpi --cpus zero query.fvecs
	[[ "$output" == *"cpus: 'zero' is not a CPU list like 0-3,8"* ]]
	run -2 vp-build --cpus 0, -o x.vpi base.fvecs
	[ ! -e x.vpi ]
	run -2 vp-bench -i h.vpi -q query.fvecs -g query.fvecs --cpus 1-
	run -2 vp-tune base.fvecs --target-recall 0.9 --cpus x -o t.yaml
	# CPUs the process may not use
	run -2 vp-search -i h.vpi --cpus 1000 query.fvecs
	[[ "$output" == *"cpus: cannot run on the CPUs listed"* ]]
}

@test "hardware keys of vp.yaml: cpus pins, numa and huge_pages apply, bad values are exit 3" {
	hw_data
	vp-build -t HNSW -o h.vpi base.fvecs
	first=$(vp-diag --system --json | perl -ne 'print $1 if /"affinity": "(\d+)/')
	printf 'hardware:\n  cpus: "%s"\n  huge_pages: off\n  preallocate: true\n' "$first" > hw.yaml
	run -0 --separate-stderr vp-search -c hw.yaml -i h.vpi --stats query.fvecs
	[[ "$stderr" == *"pinned to CPUs $first"* ]]
	[[ "$stderr" == *"huge pages off"* ]]
	[[ "$stderr" == *"pools preallocated: 0.000 allocations per query from the first query"* ]]
	printf 'hardware:\n  numa: sideways\n' > bad.yaml
	run -3 vp-search -c bad.yaml -i h.vpi query.fvecs
	[ "$output" = "vp-search: bad.yaml:2:9: 'numa' must be local, interleave or off" ]
	printf 'hardware:\n  cpus: "0-"\n' > bad.yaml
	run -3 vp-search -c bad.yaml -i h.vpi query.fvecs
	[[ "$output" == *"bad.yaml:2:9: 'cpus' is not a CPU list like 0-3,8"* ]]
	printf 'hardware:\n  huge_pages: maybe\n' > bad.yaml
	run -3 vp-build -c bad.yaml -o x.vpi base.fvecs
	[[ "$output" == *"'huge_pages' must be on or off"* ]]
	[ ! -e x.vpi ]
	run -2 vp-search -i h.vpi --numa far query.fvecs
	run -2 vp-search -i h.vpi --huge-pages sometimes query.fvecs
}

@test "--numa sets a policy that reads back from the index mapping" {
	hw_data
	vp-build -o flat.vpi base.fvecs
	run --separate-stderr vp-search -i flat.vpi --numa interleave --stats query.fvecs
	if [ "$status" -eq 2 ] && [[ "$stderr" == *"numa: "* ]]; then
		skip "this kernel or sandbox refuses NUMA policies: $stderr"
	fi
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"numa interleave: interleave over "*"the index mapping's policy reads back as interleave"* ]]
	run -0 --separate-stderr vp-search -i flat.vpi --numa local --stats query.fvecs
	[[ "$stderr" == *"the index mapping's policy reads back as bind"* ]]
	nodes=$(vp-diag --system --json | perl -ne 'print $1 if /"numa_nodes": (\d+)/')
	if [ "$nodes" -eq 1 ]; then
		[[ "$stderr" == *"(one node: no effect on placement)"* ]]
	fi
	# off (the default) leaves the kernel's policy alone and says nothing
	run -0 --separate-stderr vp-search -i flat.vpi --stats query.fvecs
	[[ "$stderr" != *"numa"* ]]
}

@test "huge pages: what the kernel granted is reported, on and off" {
	hw_data
	vp-build -t HNSW -o h.vpi base.fvecs
	run -0 --separate-stderr vp-search -i h.vpi --stats query.fvecs
	[[ "$stderr" =~ stats:\ huge\ pages\ on:\ granted\ [0-9.]+\ MB\ anonymous\ \(pools\),\ [0-9.]+\ MB\ of\ mapped\ files ]]
	run -0 --separate-stderr vp-search -i h.vpi --huge-pages off --stats query.fvecs
	[[ "$stderr" == *"huge pages off: granted"* ]]
	vp-search -i h.vpi -f ivecs query.fvecs > gt.ivecs
	run -0 vp-bench -i h.vpi -q query.fvecs -g gt.ivecs
	[[ "$output" == *", huge pages on (granted "*" MB anonymous, "*" MB mapped file),"* ]]
	run -0 vp-bench -i h.vpi -q query.fvecs -g gt.ivecs --huge-pages off --json
	[[ "$output" == *'"huge_pages": {"mode": "off", "anon_bytes": '* ]]
	# same answers either way
	[ "$(vp-search -i h.vpi query.fvecs)" = "$(vp-search -i h.vpi --huge-pages off query.fvecs)" ]
}

@test "--preallocate: no allocation per query from the first query, every index type" {
	hw_data
	vp-build -o flat.vpi base.fvecs
	vp-build -t HNSW -o hnsw.vpi base.fvecs
	vp-build -t IVF_FLAT -p nlist=16 -o ivf.vpi base.fvecs
	vp-build -o seg.vpi --segment-size 1000 base.fvecs
	for ix in flat hnsw ivf seg; do
		for j in 1 2; do
			run -0 --separate-stderr vp-search -i $ix.vpi -j $j -b 100 --preallocate --stats query.fvecs
			[[ "$stderr" == *"pools preallocated: 0.000 allocations per query from the first query"* ]] ||
				{ echo "$ix -j $j: $stderr"; false; }
		done
	done
	# only vp-search has pools to size
	run -2 vp-build --preallocate -o x.vpi base.fvecs
	[[ "$output" == *"--preallocate is an option of vp-search"* ]]
	[ ! -e x.vpi ]
	# without it, the first batch allocates (which is what it is for)
	run -0 --separate-stderr vp-search -i hnsw.vpi -b 100 --stats query.fvecs
	[[ "$stderr" != *"pools preallocated"* ]]
}

@test "vp-diag --system: text and JSON with every field" {
	run -0 vp-diag --system
	for f in cpu vendor cores caches numa 'simd (cpu)' kernels memory affinity 'cgroup cpu' \
		'cgroup memory' 'huge pages' max_map_count 'open files' threads; do
		[[ "$output" == *"$f "* ]] || { echo "no $f"; false; }
	done
	run -0 vp-diag --system --json
	echo "$output" | perl -MJSON::PP -e 'my $j = decode_json(join "", <STDIN>);
		for (qw(schema cpu vendor family model microarchitecture cores l1d_bytes l2_bytes l3_bytes
			numa_nodes numa_node_memory_bytes memory_bytes affinity affinity_cpus
			cgroup_cpu_quota cgroup_memory_limit_bytes simd_cpu kernels transparent_huge_pages
			max_map_count open_files_limit default_threads default_threads_why)) {
			exists $j->{$_} or die "no $_\n" }
		$j->{schema} eq "vp-diag-system/1" or die "schema\n";
		$j->{default_threads} >= 1 or die "threads\n"'
	run -2 vp-diag --json
	[[ "$output" == *"--json goes with --system"* ]]
}
