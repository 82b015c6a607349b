#!/usr/bin/env python3
# From the team's shared benchmark tools (shared/bench), kept here so the benchmarks run from a clone.
"""Synthetic clustered, non-negative, sparse, L2-normalised embeddings.

Roughly mimics Xception global-average-pool embeddings (2048-d, >= 0, many zeros).

Model (fixed seed):
  * n_clusters centres c_k ~ N(0, 1)^d
  * point  x = c_k + sigma_i * N(0, 1)^d, sigma_i ~ U(sigma_lo, sigma_hi) per point
    (per-point noise level so that within-cluster distances are not all equal)
  * ReLU with a shift t chosen so that ~`zero_frac` of components are 0:
        x = max(0, x - t)
  * L2-normalise each row (cosine == inner product).
Base and queries come from the same process; queries are held-out points
(separate draws, not copies of base points).

Usage: python gen_data.py --out data [--n 100000 --nq 1000 --d 2048 --clusters 1000 --seed 1234]
Writes OUT/base.npy (n x d float32), OUT/queries.npy (nq x d float32), OUT/meta.json
"""
import argparse, json, os, time
import numpy as np
from statistics import NormalDist


def make(rng, centres, n, sig_lo, sig_hi, t, chunk=5000):
    k, d = centres.shape
    out = np.empty((n, d), dtype=np.float32)
    lab = rng.integers(0, k, size=n)
    for s in range(0, n, chunk):
        e = min(n, s + chunk)
        sig = rng.uniform(sig_lo, sig_hi, size=(e - s, 1)).astype(np.float32)
        x = centres[lab[s:e]] + sig * rng.standard_normal((e - s, d), dtype=np.float32)
        x -= t
        np.maximum(x, 0, out=x)
        x /= np.linalg.norm(x, axis=1, keepdims=True) + 1e-12
        out[s:e] = x
    return out, lab


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="data")
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--nq", type=int, default=1_000)
    ap.add_argument("--d", type=int, default=2048)
    ap.add_argument("--clusters", type=int, default=1000)
    ap.add_argument("--sigma-lo", type=float, default=0.4)
    ap.add_argument("--sigma-hi", type=float, default=0.9)
    ap.add_argument("--zero-frac", type=float, default=0.40)
    ap.add_argument("--seed", type=int, default=1234)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    rng = np.random.default_rng(a.seed)
    t0 = time.time()
    centres = rng.standard_normal((a.clusters, a.d), dtype=np.float32)
    # total std of a component ~ sqrt(1 + E[sigma^2]); shift so P(x > t) = 1 - zero_frac
    es2 = (a.sigma_hi ** 3 - a.sigma_lo ** 3) / (3 * (a.sigma_hi - a.sigma_lo))
    t = NormalDist().inv_cdf(a.zero_frac) * np.sqrt(1.0 + es2)
    base, blab = make(rng, centres, a.n, a.sigma_lo, a.sigma_hi, t)
    q, qlab = make(rng, centres, a.nq, a.sigma_lo, a.sigma_hi, t)
    np.save(os.path.join(a.out, "base.npy"), base)
    np.save(os.path.join(a.out, "queries.npy"), q)
    meta = dict(vars(a), shift=float(t), zero_frac_base=float((base[:2000] == 0).mean()),
                zero_frac_q=float((q == 0).mean()), gen_s=round(time.time() - t0, 1),
                bytes_base=int(base.nbytes))
    with open(os.path.join(a.out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(json.dumps(meta))


if __name__ == "__main__":
    main()
