#!/usr/bin/env python3
"""PyTorch reference for `cargo xtask bench encode`: sentence-transformers encoding the same
texts with the same model directory, on the same machine.

    python scripts/bench_encode_pytorch.py --model models/multilingual-e5-small --input texts.jsonl \
        [--batch-size 32] [--threads N] [--check emb.parquet] [--autocast-bf16]

Input lines are `{"text", "role"}`; texts are encoded with the role's prompt (E5: "passage: "),
sorted by length in batches (what `SentenceTransformer.encode` does), mean pooling, L2 norm.
Model loading is excluded from the timing; one warm-up batch runs first. With --check FILE (raw
little-endian float32, texts × dim, as `cargo xtask bench encode` writes Polyret's embeddings),
the minimum cosine between both is reported. Last line: one JSON object with
`sentences_per_s`, `seconds`, `texts`, `threads` (and `min_cosine` with --check).
"""
import argparse
import json
import time

import torch
from sentence_transformers import SentenceTransformer


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--input", required=True)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--check")
    ap.add_argument("--autocast-bf16", action="store_true",
                    help="encode under torch.autocast('cpu', dtype=torch.bfloat16)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = [json.loads(line) for line in open(args.input, encoding="utf-8")]
    model = SentenceTransformer(args.model, device="cpu")
    by_role = {}
    for i, r in enumerate(rows):
        by_role.setdefault(r.get("role", "passage"), []).append(i)
    out = [None] * len(rows)
    # --autocast-bf16: the one-line bf16 recipe PyTorch offers on CPU (bf16 matmuls via oneDNN).
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.autocast_bf16):
        model.encode([rows[0]["text"]], prompt_name=rows[0].get("role", "passage"))  # warm-up
        start = time.perf_counter()
        for role, idx in by_role.items():
            emb = model.encode([rows[i]["text"] for i in idx], prompt_name=role, batch_size=args.batch_size,
                               convert_to_tensor=True, normalize_embeddings=False).float().numpy()
            for j, i in enumerate(idx):
                out[i] = emb[j]
    seconds = time.perf_counter() - start
    report = {"sentences_per_s": len(rows) / seconds, "seconds": seconds, "texts": len(rows),
              "threads": torch.get_num_threads()}
    if args.check:
        import numpy as np

        theirs = np.stack(out)
        ours = np.fromfile(args.check, dtype="<f4").reshape(theirs.shape)
        cos = (ours * theirs).sum(1) / (np.linalg.norm(ours, axis=1) * np.linalg.norm(theirs, axis=1))
        report["min_cosine"] = float(cos.min())
    print(json.dumps(report))


if __name__ == "__main__":
    main()
