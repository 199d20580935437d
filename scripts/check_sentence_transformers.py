#!/usr/bin/env python3
"""Round trip: a model directory Polyret saved loads in sentence-transformers and gives the
embeddings Polyret gives.

    python scripts/check_sentence_transformers.py --write-input texts.jsonl
    polyret encode --model runs/main/model --input texts.jsonl --out emb.parquet
    python scripts/check_sentence_transformers.py --model runs/main/model --embeddings emb.parquet

`--write-input` writes the texts tokenizers disagree on: the parity-fixture texts in every
script with their roles, the same texts ending with a space, and doubled, leading and trailing
spaces (any other `polyret encode` input works too). `polyret encode` refuses empty and
space-only texts, so their token ids are checked without torch instead
(`crates/trainer/tests/hf_export.rs`).

Needs torch, sentence-transformers and pyarrow (not installed in CI). Loads the directory with
`SentenceTransformer(dir)` (its prompts, pooling and normalisation come from the files Polyret
wrote), encodes every text of the table with its role's prompt, and compares with the table's
`embedding` column. Exits 1 if any cosine similarity is below --min-cosine (default 0.9999).
"""
import argparse
import json
import sys

from pathlib import Path

FIXTURE = Path(__file__).resolve().parent.parent / "crates/encoder/tests/fixtures/e5-small/cases.jsonl"
EDGE_TEXTS = ["a ", "two  spaces", "ends with a space ", "  leading", "Wie viele Punkte? ", "x  y  "]


def write_input(path: str) -> int:
    rows = []
    for line in FIXTURE.read_text(encoding="utf-8").splitlines():
        case = json.loads(line)
        if not case["text"].strip():
            continue
        rows += [{"text": case["text"], "role": case["role"]}, {"text": case["text"] + " ", "role": case["role"]}]
    rows += [{"text": t, "role": role} for t in EDGE_TEXTS for role in ("query", "passage")]
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    print(f"{path}: {len(rows)} texts")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write-input", metavar="FILE", help="write the check's texts as `polyret encode` input")
    ap.add_argument("--model")
    ap.add_argument("--embeddings", help="Parquet written by `polyret encode`")
    ap.add_argument("--min-cosine", type=float, default=0.9999)
    args = ap.parse_args()
    if args.write_input:
        return write_input(args.write_input)
    if not (args.model and args.embeddings):
        ap.error("--model and --embeddings are required (or --write-input)")
    import numpy as np
    import pyarrow.parquet as pq
    import sentence_transformers
    import transformers
    from sentence_transformers import SentenceTransformer
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
              "worst_text": table["text"][worst], "sentence_transformers": sentence_transformers.__version__,
              "transformers": transformers.__version__}
    print(json.dumps(report, ensure_ascii=False))
    return 0 if cos.min() >= args.min_cosine else 1


if __name__ == "__main__":
    sys.exit(main())
