#!/usr/bin/env python3
"""Round trip: a model directory Polyret saved loads in sentence-transformers and gives the
embeddings Polyret gives.

    polyret encode --model runs/main/model --input texts.jsonl --out emb.parquet
    python scripts/check_sentence_transformers.py --model runs/main/model --embeddings emb.parquet

Needs torch, sentence-transformers and pyarrow (not installed in CI). Loads the directory with
`SentenceTransformer(dir)` (its prompts, pooling and normalisation come from the files Polyret
wrote), encodes every text of the table with its role's prompt, and compares with the table's
`embedding` column. Exits 1 if any cosine similarity is below --min-cosine (default 0.9999).
"""
import argparse
import json
import sys

import numpy as np
import pyarrow.parquet as pq
from sentence_transformers import SentenceTransformer


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--embeddings", required=True, help="Parquet written by `polyret encode`")
    ap.add_argument("--min-cosine", type=float, default=0.9999)
    args = ap.parse_args()
    table = pq.read_table(args.embeddings).to_pydict()
    ours = np.array(table["embedding"], dtype=np.float32)
    model = SentenceTransformer(args.model, device="cpu")
    theirs = np.zeros_like(ours)
    for role in ("query", "passage"):
        rows = [i for i, r in enumerate(table["role"]) if r == role]
        if rows:
            theirs[rows] = model.encode([table["text"][i] for i in rows], prompt_name=role, convert_to_numpy=True)
    cos = (ours * theirs).sum(1) / (np.linalg.norm(ours, axis=1) * np.linalg.norm(theirs, axis=1))
    worst = int(cos.argmin())
    report = {"texts": len(cos), "min_cosine": float(cos.min()), "mean_cosine": float(cos.mean()),
              "worst_text": table["text"][worst]}
    print(json.dumps(report, ensure_ascii=False))
    return 0 if cos.min() >= args.min_cosine else 1


if __name__ == "__main__":
    sys.exit(main())
