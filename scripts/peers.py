#!/usr/bin/python3
"""Peer side of scripts/bench-peers: FAISS (Debian's python3-faiss) on the
same files.  One batch of all queries on SEARCH_THREADS threads per setting
(FAISS's fastest way to search).  Prints TSV rows:
system index param build_s size_mb qps recall@10
usage: peers.py BASE QUERY GT TYPES BUILD_THREADS [SEARCH_THREADS]   (TYPES: flat,ivf,sq8,pq)

FAISS's exact search and k-means run through OpenBLAS, whose own thread pool
(one thread per core) faiss.omp_set_num_threads does not reach: without
OPENBLAS_NUM_THREADS, "one thread" would use every core.  So OpenBLAS is held
to SEARCH_THREADS (default 1) from the start, and raised to BUILD_THREADS for
builds where threadpoolctl (Debian python3-threadpoolctl) can do it."""
import os, sys, tempfile, time
SEARCH_THREADS = int(sys.argv[6]) if len(sys.argv) > 6 else 1
# before numpy loads OpenBLAS, which reads these once
os.environ["OPENBLAS_NUM_THREADS"] = str(SEARCH_THREADS)
os.environ["OMP_NUM_THREADS"] = str(SEARCH_THREADS)
import numpy as np
import faiss
try:
    from threadpoolctl import threadpool_limits
except ImportError:
    threadpool_limits = None

def vecs(path, dtype):
    raw = np.fromfile(path, dtype=np.int32)
    return raw.reshape(-1, raw[0] + 1)[:, 1:].copy().view(dtype)

def recall10(found, truth):
    return sum(len(set(f[:10].tolist()) & set(t[:10].tolist()))
               for f, t in zip(found, truth)) / (10.0 * len(truth))

def size_mb(index):
    fd, path = tempfile.mkstemp()
    os.close(fd)
    faiss.write_index(index, path)
    size = os.path.getsize(path) / 1e6
    os.unlink(path)
    return size

def main():
    base, query = vecs(sys.argv[1], np.float32), vecs(sys.argv[2], np.float32)
    truth, types = vecs(sys.argv[3], np.int32), sys.argv[4].split(",")
    threads = int(sys.argv[5])
    d = base.shape[1]
    nlist = 256 if len(base) < 200000 else 1024
    m = next(x for x in range(min(64, d // 8), 0, -1) if d % x == 0)
    plans = {"flat": ("Flat", [None]), "ivf": (f"IVF{nlist},Flat", [2, 4, 8, 16]),
             "sq8": (f"IVF{nlist},SQ8", [2, 4, 8, 16]), "pq": (f"IVF{nlist},PQ{m}", [4, 16])}
    for t in types:
        if t not in plans:
            continue
        spec, probes = plans[t]
        faiss.omp_set_num_threads(threads)
        index = faiss.index_factory(d, spec)
        start = time.perf_counter()
        if threadpool_limits:
            with threadpool_limits(limits=threads, user_api="blas"):
                index.train(base)
                index.add(base)
        else:
            index.train(base)
            index.add(base)
        build = time.perf_counter() - start
        size = size_mb(index)
        faiss.omp_set_num_threads(SEARCH_THREADS)
        for p in probes:
            if p is not None:
                faiss.ParameterSpace().set_index_parameter(index, "nprobe", p)
            start = time.perf_counter()
            _, found = index.search(query, 10)
            secs = time.perf_counter() - start
            print(f"faiss\t{spec}\t{'-' if p is None else 'nprobe=%d' % p}\t{build:.2f}\t"
                  f"{size:.1f}\t{len(query) / secs:.0f}\t{recall10(found, truth):.4f}", flush=True)

main()
