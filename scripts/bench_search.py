#!/usr/bin/env python3
"""Reference for `cargo xtask bench search`: exact top-k search with numpy.

    bench_search.py --dir DIR --docs N --queries M --dim D --k K --repeats R

Reads DIR/docs.f32 (N×D) and DIR/queries.f32 (M×D), little-endian float32 row-major, written
by the xtask. Each repeat computes scores = queries @ docs.T (one BLAS sgemm, all cores) and
the sorted top K per query (argpartition + argsort), the same work as Polyret's ExactIndex.
Writes the top-K document indices to DIR/numpy_top.i64 (for the agreement check) and prints
one JSON line: {"queries_per_s": best of the repeats, "seconds": [...], "numpy": version}.
"""
import argparse
import json
import os
import time

import numpy as np


def search(queries, docs, k):
    scores = queries @ docs.T
    idx = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    top = np.take_along_axis(scores, idx, axis=1)
    order = np.argsort(-top, axis=1, kind="stable")
    return np.take_along_axis(idx, order, axis=1)


def main():
    ap = argparse.ArgumentParser()
    for name in ["docs", "queries", "dim", "k", "repeats"]:
        ap.add_argument(f"--{name}", type=int, required=True)
    ap.add_argument("--dir", required=True)
    a = ap.parse_args()
    docs = np.fromfile(os.path.join(a.dir, "docs.f32"), dtype="<f4").reshape(a.docs, a.dim)
    queries = np.fromfile(os.path.join(a.dir, "queries.f32"), dtype="<f4").reshape(a.queries, a.dim)
    top = search(queries, docs, a.k)  # warm-up (thread pool, page faults)
    seconds = []
    for _ in range(a.repeats):
        start = time.perf_counter()
        top = search(queries, docs, a.k)
        seconds.append(time.perf_counter() - start)
    top.astype("<i8").tofile(os.path.join(a.dir, "numpy_top.i64"))
    print(json.dumps({"queries_per_s": a.queries / min(seconds), "seconds": seconds, "numpy": np.__version__}))


if __name__ == "__main__":
    main()
