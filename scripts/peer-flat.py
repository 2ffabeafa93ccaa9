#!/usr/bin/python3
"""FAISS IndexFlatL2 on THREADS threads (default 1): prints "QPS RECALL@10"
for one batch of all queries (the peer side of scripts/bench-flat).
usage: peer-flat.py BASE QUERY GT [THREADS]
OpenBLAS, which does FAISS's exact search, runs its own pool of one thread
per core that faiss.omp_set_num_threads does not reach: it is held to THREADS
through OPENBLAS_NUM_THREADS, set before numpy loads it."""
import os, sys, time
THREADS = int(sys.argv[4]) if len(sys.argv) > 4 else 1
os.environ["OPENBLAS_NUM_THREADS"] = str(THREADS)
os.environ["OMP_NUM_THREADS"] = str(THREADS)
import numpy as np
import faiss

def read_vecs(path, dtype):
    a = np.fromfile(path, dtype=np.int32)
    return a.reshape(-1, a[0] + 1)[:, 1:].copy().view(dtype)

base = read_vecs(sys.argv[1], np.float32)
query = read_vecs(sys.argv[2], np.float32)
gt = read_vecs(sys.argv[3], np.int32)
faiss.omp_set_num_threads(THREADS)
idx = faiss.IndexFlatL2(base.shape[1])
idx.add(base)
t = time.perf_counter()
_, I = idx.search(query, 10)
s = time.perf_counter() - t
hit = sum(len(set(r[:10].tolist()) & set(g[:10].tolist())) for r, g in zip(I, gt))
print(f"{len(query) / s:.1f} {hit / (len(gt) * 10):.4f}")
