#!/usr/bin/env python3
"""The Python package against the Python references, each measured in this one run:

- sampler: ``polyret.HybridBatchSampler`` against sentence-transformers'
  ``NoDuplicatesBatchSampler`` (the sampler ST recommends for in-batch negatives), iterating the
  same pair table (XQuAD's train split, all language pairs; synthetic when the data is absent);
- evaluator: ``polyret.evaluate`` against plain numpy + pytrec_eval (``reference.py``) computing
  the same measures (every trec_eval measure of the multilingual pool and of every query ×
  corpus language cell, their averages, the max rank distance) on the same embeddings of an
  XQuAD-R-shaped set (11 languages × 250 groups, dimension 384).

Each prints a last line ``NAME polyret=X reference=Y ratio=Z``. Needs torch, sentence-transformers
and datasets for the sampler, pytrec-eval-terrier for the evaluator, in the Python that runs it
(not the CI venv: e.g. ``python -m venv /work/pyref-venv`` with those and ``pip install ./python``).

    python python/benchmarks/bench.py [--only sampler|evaluator] [--batches 2000] [--groups 250]
"""

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

import polyret

sys.path.insert(0, str(Path(__file__).resolve().parent))
REPO = Path(__file__).resolve().parents[2]


def pair_table(pairs_path, groups=1000, langs=12):
    """(group, query lang, passage lang, query text, positive text) of every pair of the XQuAD
    train split expanded to all language pairs, or of a synthetic parallel table of that shape."""
    if pairs_path and Path(pairs_path).is_file():
        import pyarrow.parquet as pq

        t = pq.read_table(pairs_path).to_pydict()
        rows = [i for i, s in enumerate(t["split"]) if s == "train"]
        group = [t["group_id"][i] for i in rows]
        lang = [t["query_lang"][i] for i in rows]
        query = [t["query"][i] for i in rows]
        positive = [t["positive"][i] for i in rows]
        source = f"{pairs_path} (train split)"
    else:
        codes = ["en", "de", "ar", "zh", "es", "hi", "el", "ru", "th", "tr", "vi", "ro"][:langs]
        group = [f"g{g}" for lang in codes for g in range(groups)]
        lang = [lang for lang in codes for _ in range(groups)]
        query = [f"question {g} in {l}" for g, l in zip(group, lang)]
        positive = [f"answer {g} in {l}" for g, l in zip(group, lang)]
        source = f"synthetic ({groups} groups x {langs} languages)"
    pairs = polyret.expand_parallel(group, lang).tolist()
    table = {
        "group": [group[q] for q, _ in pairs],
        "query_lang": [lang[q] for q, _ in pairs],
        "passage_lang": [lang[p] for _, p in pairs],
        "anchor": [query[q] for q, _ in pairs],
        "positive": [positive[p] for _, p in pairs],
    }
    return table, source


def bench_sampler(args):
    import torch
    from datasets import Dataset

    try:  # sentence-transformers >= 5.x
        from sentence_transformers.base.sampler import NoDuplicatesBatchSampler
    except ImportError:
        from sentence_transformers.sampler import NoDuplicatesBatchSampler

    table, source = pair_table(args.pairs)
    n = len(table["group"])
    print(f"sampler: {n} pairs from {source}, batch size {args.batch_size}, {args.batches} batches")

    def timed(make):
        start = time.perf_counter()
        sampler = make()
        built = time.perf_counter() - start
        start = time.perf_counter()
        count = 0
        while count < args.batches:
            for batch in sampler:
                count += 1
                if count == args.batches:
                    break
        return built, time.perf_counter() - start, sampler

    ours_built, ours_s, ours = timed(
        lambda: polyret.HybridBatchSampler(
            table["group"], table["query_lang"], table["passage_lang"], batch_size=args.batch_size, seed=0
        )
    )
    dataset = Dataset.from_dict({"anchor": table["anchor"], "positive": table["positive"]})
    ref_built, ref_s, _ = timed(
        lambda: NoDuplicatesBatchSampler(
            dataset, batch_size=args.batch_size, drop_last=True, generator=torch.Generator(), seed=0
        )
    )
    ours_rate, ref_rate = args.batches / ours_s, args.batches / ref_s
    print(f"  polyret: built in {ours_built * 1e3:.0f} ms, {ours_rate:.0f} batches/s ({len(ours)} per epoch)")
    print(f"  sentence-transformers NoDuplicatesBatchSampler: built in {ref_built * 1e3:.0f} ms, {ref_rate:.0f} batches/s")
    print(f"sampler batches/s polyret={ours_rate:.0f} reference={ref_rate:.0f} ratio={ours_rate / ref_rate:.1f}")


def lareqa_set(groups, langs, dim, seed=0):
    """One query and one document per group and language (XQuAD-R's shape): a group direction,
    a language direction and noise, L2-normalised. Sized so the numbers look like a real
    model's (at the default size: multilingual mAP ~0.11, monolingual ~0.87, cross-lingual
    ~0.81, relevant copies ~450 ranks apart), since the work depends on where they rank."""
    rng = np.random.default_rng(seed)
    codes = ["ar", "de", "el", "en", "es", "hi", "ru", "th", "tr", "vi", "zh"][:langs]
    group_vec = rng.normal(size=(groups, dim)).astype(np.float32) * 0.5
    lang_vec = {c: rng.normal(size=dim).astype(np.float32) * 0.6 for c in codes}

    def side():
        labels = [(g, c) for c in codes for g in range(groups)]
        emb = np.stack([group_vec[g] + lang_vec[c] for g, c in labels])
        emb += rng.normal(size=emb.shape).astype(np.float32)
        emb /= np.linalg.norm(emb, axis=1, keepdims=True)
        return np.ascontiguousarray(emb, dtype=np.float32), [c for _, c in labels], [f"g{g}" for g, _ in labels]

    return side() + side()


def bench_evaluator(args):
    from reference import lareqa_reference

    data = lareqa_set(args.groups, args.langs, args.dim)
    print(f"evaluator: {len(data[1])} queries x {len(data[4])} documents, dimension {args.dim}, {args.langs} languages")
    start = time.perf_counter()
    ours = polyret.evaluate(*data)
    ours_s = time.perf_counter() - start
    start = time.perf_counter()
    ref = lareqa_reference(*data)
    ref_s = time.perf_counter() - start
    worst = max(
        abs(ours["scores"][s]["scores"][k] - v) for s, scores in ref["scores"].items() for k, v in scores.items()
    )
    worst = max(worst, abs(ours["bias"]["max_rank_distance"] - ref["max_rank_distance"]))
    settings = ", ".join(f"{s} mAP {v['main_score']:.4f}" for s, v in ours["scores"].items())
    print(f"  {settings}, max rank distance {ours['bias']['max_rank_distance']:.1f}")
    print(f"  largest difference from the reference: {worst:.2e}")
    print(f"  polyret {ours_s:.2f} s, numpy + pytrec_eval {ref_s:.2f} s")
    print(f"evaluate s polyret={ours_s:.2f} reference={ref_s:.2f} ratio={ref_s / ours_s:.1f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", choices=["sampler", "evaluator"])
    default_pairs = REPO / "data" / "parquet" / "xquad-pairs" / "pairs.parquet"
    ap.add_argument("--pairs", default=str(default_pairs) if default_pairs.is_file() else None)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--batches", type=int, default=2000)
    ap.add_argument("--groups", type=int, default=250)
    ap.add_argument("--langs", type=int, default=11)
    ap.add_argument("--dim", type=int, default=384)
    args = ap.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f}")
    if args.only in (None, "sampler"):
        bench_sampler(args)
    if args.only in (None, "evaluator"):
        bench_evaluator(args)


if __name__ == "__main__":
    main()
