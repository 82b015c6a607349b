#!/usr/bin/env python3
"""Exact top-k with FAISS IndexFlatIP and with numpy on the same .npy files as `xceptor bench search`:
ms per single query (first N queries) and per query in batches. One JSON line per measurement.
Usage: faiss_baseline.py BASE.npy QUERIES.npy [--k 10 --single 100 --batch 64]"""
import argparse, json, time

import faiss
import numpy as np

ap = argparse.ArgumentParser()
ap.add_argument("base")
ap.add_argument("queries")
ap.add_argument("--k", type=int, default=10)
ap.add_argument("--single", type=int, default=100)
ap.add_argument("--batch", type=int, default=64)
a = ap.parse_args()
base = np.load(a.base, mmap_mode="r")
base = np.ascontiguousarray(base)
queries = np.load(a.queries)
index = faiss.IndexFlatIP(base.shape[1])
index.add(base)


def report(kind, count, batch, seconds):
    print(json.dumps({"kind": kind, "vectors": base.shape[0], "dimensions": base.shape[1], "queries": count, "batch": batch,
                      "milliseconds_per_query": seconds * 1000 / count}), flush=True)


single = queries[: a.single]
index.search(single[:1], a.k)
start = time.perf_counter()
for q in single:
    index.search(q[None, :], a.k)
report("faiss-single", len(single), 1, time.perf_counter() - start)

usable = len(queries) // a.batch * a.batch
start = time.perf_counter()
for s in range(0, usable, a.batch):
    index.search(queries[s:s + a.batch], a.k)
report("faiss-batched", usable, a.batch, time.perf_counter() - start)

start = time.perf_counter()
for q in single:
    scores = base @ q
    top = np.argpartition(-scores, a.k)[: a.k]
    top[np.argsort(-scores[top])]
report("numpy-single", len(single), 1, time.perf_counter() - start)
