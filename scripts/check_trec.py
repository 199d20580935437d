#!/usr/bin/env python3
"""Check a Polyret results directory against trec_eval (via pytrec_eval).

Usage: check_trec.py RESULTS_DIR [--tolerance 1e-6]

For every setting with exported run files (results.json -> files.trec), reads run.trec and
qrels.trec, scores them with pytrec_eval (trec_eval's own C code), and compares per query
with Polyret's per_query.tsv:

  map, map_cut_100, ndcg_cut_10, recall_1/10/100, success_1/5/10  -- trec_eval as it is
  mrr_at_10  -- trec_eval recip_rank on the run cut at 10 (trec_eval order: score desc, then
                docid desc)

and the setting averages in results.json recomputed from trec_eval's per-query values (mean
over query languages, or over cells, of the mean over queries). A run of depth d determines
the measures cut at d or above; full-ranking map needs runs evaluated with --run-cover (every
ranking reaches its lowest relevant document). Measures the runs cannot determine are listed
and skipped. Exit status: 0 when all agree
within the tolerance, 1 on any disagreement, 2 when pytrec_eval is missing (install the
`pytrec-eval-terrier` package).
"""

import argparse
import collections
import json
import os
import sys

try:
    import pytrec_eval
except ImportError as e:  # pragma: no cover - exercised by the Rust test's probe
    print(f"pytrec_eval is not installed ({e}); pip install pytrec-eval-terrier", file=sys.stderr)
    sys.exit(2)

# Polyret key -> (pytrec_eval key, cutoff; None = the whole ranking).
MEASURES = {
    "map": ("map", None),
    "map_at_100": ("map_cut_100", 100),
    "ndcg_at_10": ("ndcg_cut_10", 10),
    "recall_at_1": ("recall_1", 1),
    "recall_at_10": ("recall_10", 10),
    "recall_at_100": ("recall_100", 100),
    "success_at_1": ("success_1", 1),
    "success_at_5": ("success_5", 5),
    "success_at_10": ("success_10", 10),
    "mrr_at_10": ("recip_rank", 10),  # on the run cut at 10
}
REQUEST = {"map", "map_cut.100", "ndcg_cut.10", "recall.1,10,100", "success.1,5,10"}


def read_run(path):
    run = collections.defaultdict(dict)
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 6:
                sys.exit(f"{path}:{n}: expected 6 fields, got {len(parts)}")
            qid, _, docid, _, score, _ = parts
            if docid in run[qid]:
                sys.exit(f"{path}:{n}: {docid} retrieved twice for {qid}")
            run[qid][docid] = float(score)
    if not run:
        sys.exit(f"{path}: empty run")
    return run


def read_qrels(path):
    qrels = collections.defaultdict(dict)
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 4:
                sys.exit(f"{path}:{n}: expected 4 fields, got {len(parts)}")
            qrels[parts[0]][parts[2]] = int(parts[3])
    if not qrels:
        sys.exit(f"{path}: empty qrels")
    return qrels


def cut(run, k):
    """The top k of each query in trec_eval's order (score desc, docid desc)."""
    out = {}
    for qid, docs in run.items():
        ranked = sorted(docs.items(), key=lambda kv: (kv[1], kv[0].encode()), reverse=True)
        out[qid] = dict(ranked[:k])
    return out


def read_per_query(path):
    with open(path, encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        rows = [dict(zip(header, line.rstrip("\n").split("\t"))) for line in f if line.strip()]
    return rows


def weighted(rows, values):
    """Mean over strata (query language, or cell) of the mean over their rows."""
    strata = collections.defaultdict(list)
    for row, v in zip(rows, values):
        strata[(row["query_lang"], row["corpus_lang"])].append(v)
    return sum(sum(v) / len(v) for v in strata.values()) / len(strata)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results_dir")
    ap.add_argument("--tolerance", type=float, default=1e-6)
    args = ap.parse_args()

    with open(os.path.join(args.results_dir, "results.json"), encoding="utf-8") as f:
        results = json.load(f)
    per_query = read_per_query(os.path.join(args.results_dir, results["files"]["per_query"]))
    trec = results["files"]["trec"]
    if not trec:
        sys.exit("no run files were exported (evaluate with --trec multilingual or --trec all)")
    depth, cover = results["run"]["run_depth"], results["run"]["run_cover"]
    checked_keys = [k for k, (_, c) in MEASURES.items() if cover or (c is not None and c <= depth)]
    skipped = [k for k in MEASURES if k not in checked_keys]

    worst, checked, failures = 0.0, 0, []
    for setting, files in sorted(trec.items()):
        run = read_run(os.path.join(args.results_dir, files["run"]))
        qrels = read_qrels(os.path.join(args.results_dir, files["qrels"]))
        full = pytrec_eval.RelevanceEvaluator(qrels, REQUEST).evaluate(run)
        top10 = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(cut(run, 10))
        rows = [r for r in per_query if r["setting"] == setting]
        if set(full) != {r["run_qid"] for r in rows}:
            failures.append(f"{setting}: run queries differ from per_query.tsv")
            continue
        theirs = {key: [] for key in checked_keys}
        for row in rows:
            qid = row["run_qid"]
            values = {key: (top10 if key == "mrr_at_10" else full)[qid][MEASURES[key][0]] for key in checked_keys}
            for key, v in values.items():
                theirs[key].append(v)
                diff = abs(float(row[key]) - v)
                worst = max(worst, diff)
                if not diff <= args.tolerance:
                    failures.append(f"{setting} {qid} {key}: polyret {row[key]} trec_eval {v}")
            checked += 1
        for key, vs in theirs.items():
            reported = results["scores"][setting]["scores"][key]
            diff = abs(weighted(rows, vs) - reported)
            worst = max(worst, diff)
            if not diff <= args.tolerance:
                failures.append(f"{setting} average {key}: polyret {reported} trec_eval {weighted(rows, vs)}")

    if failures:
        print(f"MISMATCH: {len(failures)} disagreements (tolerance {args.tolerance}):")
        for line in failures[:50]:
            print("  " + line)
        sys.exit(1)
    print(
        f"OK: {checked} rankings in {len(trec)} settings ({', '.join(sorted(trec))}) agree with trec_eval "
        f"(pytrec_eval) on {len(checked_keys)} measures ({', '.join(checked_keys)}); max |difference| = {worst:.3g}"
    )
    if skipped:
        print(f"not determined by runs of depth {depth} without --run-cover: {', '.join(skipped)}")


if __name__ == "__main__":
    main()
