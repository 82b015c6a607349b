#!/usr/bin/env python3
"""HNSW baselines on the same .npy files as `xceptor bench search --hnsw`: FAISS IndexHNSWFlat (inner
product) and hnswlib (cosine), M=16, efConstruction=200: build seconds, then per efSearch recall@10
against exact search, ms per single query and queries/s in one batch call (all cores). One JSON line each.
Usage: hnsw_baseline.py BASE.npy QUERIES.npy [--ef 16 32 64 128]"""
import argparse, json, time

import faiss
import hnswlib
import numpy as np

ap = argparse.ArgumentParser()
ap.add_argument("base")
ap.add_argument("queries")
ap.add_argument("--m", type=int, default=16)
ap.add_argument("--ef-construction", type=int, default=200)
ap.add_argument("--ef", type=int, nargs="+", default=[16, 32, 64, 128])
a = ap.parse_args()
base = np.ascontiguousarray(np.load(a.base))
queries = np.ascontiguousarray(np.load(a.queries))
k = 10
flat = faiss.IndexFlatIP(base.shape[1])
flat.add(base)
truth = flat.search(queries, k)[1]


def recall(found):
    return float(np.mean([len(set(f) & set(t)) / k for f, t in zip(found, truth)]))


def report(kind, build, ef, found, single, batched):
    print(json.dumps({"kind": kind, "vectors": base.shape[0], "build_seconds": build, "ef_search": ef,
                      "recall_at10": recall(found), "milliseconds_per_query": single * 1000 / len(queries),
                      "queries_per_second_all_cores": len(queries) / batched}), flush=True)


def measure(kind, build, set_ef, search):
    """Per efSearch: each query alone (recall and latency), then all of them in one call (queries/s)."""
    for ef in a.ef:
        set_ef(ef)
        start = time.perf_counter()
        found = [search(q[None, :])[0] for q in queries]
        single = time.perf_counter() - start
        start = time.perf_counter()
        search(queries)
        report(kind, build, ef, found, single, time.perf_counter() - start)


index = faiss.IndexHNSWFlat(base.shape[1], a.m, faiss.METRIC_INNER_PRODUCT)
index.hnsw.efConstruction = a.ef_construction
start = time.perf_counter()
index.add(base)
build = time.perf_counter() - start
measure("faiss-hnsw", build, lambda ef: setattr(index.hnsw, "efSearch", ef), lambda q: index.search(q, k)[1])

other = hnswlib.Index(space="ip", dim=base.shape[1])
other.init_index(max_elements=base.shape[0], M=a.m, ef_construction=a.ef_construction)
start = time.perf_counter()
other.add_items(base)
build = time.perf_counter() - start
measure("hnswlib", build, other.set_ef, lambda q: other.knn_query(q, k)[0])
