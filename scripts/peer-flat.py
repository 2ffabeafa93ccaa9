#!/usr/bin/python3
"""FAISS IndexFlatL2 on one thread: prints "QPS RECALL@10" for one batch of
all queries (the peer side of scripts/bench-flat)."""
import sys, time
import numpy as np
import faiss

def read_vecs(path, dtype):
    a = np.fromfile(path, dtype=np.int32)
    return a.reshape(-1, a[0] + 1)[:, 1:].copy().view(dtype)

base = read_vecs(sys.argv[1], np.float32)
query = read_vecs(sys.argv[2], np.float32)
gt = read_vecs(sys.argv[3], np.int32)
faiss.omp_set_num_threads(1)
idx = faiss.IndexFlatL2(base.shape[1])
idx.add(base)
t = time.perf_counter()
_, I = idx.search(query, 10)
s = time.perf_counter() - t
hit = sum(len(set(r[:10].tolist()) & set(g[:10].tolist())) for r, g in zip(I, gt))
print(f"{len(query) / s:.1f} {hit / (len(gt) * 10):.4f}")
