#!/usr/bin/env python3
"""PyTorch reference for `cargo xtask bench train`: the same fine-tuning step as Polyret on the
same batches, sentence-transformers style.

    python scripts/bench_train_pytorch.py --model models/multilingual-e5-small \
        --pairs data/parquet/xquad-pairs/pairs.parquet --batches batches.jsonl \
        --steps 8 --warmup 2 [--sparse-embeddings] [--max-query-tokens 64] [--max-passage-tokens 128]

Per step: tokenise the batch's queries ("query: " prompt) and positives ("passage: " prompt),
truncate, pad to the longest in the batch (like sentence-transformers), mean-pool, L2-normalise,
MultipleNegativesRankingLoss (scale 20, in-batch negatives), backward, clip the global gradient
norm to 1, AdamW (lr 3e-5, weight decay 0.01, no decay on bias/LayerNorm), dropout on (train
mode). With --sparse-embeddings the word embeddings use `nn.Embedding(sparse=True)` and
`torch.optim.SparseAdam` — the same update rule as Polyret's sparse rows. Prints the mean step
time after the warm-up steps and one JSON line `{"pairs_per_s": ...}` last.
"""
import argparse
import json
import time

import pyarrow.parquet as pq
import torch
from transformers import AutoModel, AutoTokenizer


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--pairs", required=True)
    ap.add_argument("--batches", required=True)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--max-query-tokens", type=int, default=64)
    ap.add_argument("--max-passage-tokens", type=int, default=128)
    ap.add_argument("--lr", type=float, default=3e-5)
    ap.add_argument("--sparse-embeddings", action="store_true")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--autocast-bf16", action="store_true",
                    help="forward and loss under torch.autocast('cpu', dtype=torch.bfloat16)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    table = pq.read_table(args.pairs).to_pylist()
    rows = {(r["group_id"], r["query_lang"]): r for r in table}
    batches = [json.loads(line) for line in open(args.batches)][: args.steps]
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    model = AutoModel.from_pretrained(args.model)
    model.train()
    if args.sparse_embeddings:
        old = model.embeddings.word_embeddings
        new = torch.nn.Embedding(old.num_embeddings, old.embedding_dim, padding_idx=old.padding_idx, sparse=True)
        new.weight.data.copy_(old.weight.data)
        model.embeddings.word_embeddings = new
    word = model.embeddings.word_embeddings.weight
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if args.sparse_embeddings and p is word:
            continue
        (no_decay if "bias" in name or "LayerNorm" in name else decay).append(p)
    optimizers = [torch.optim.AdamW([{"params": decay, "weight_decay": 0.01},
                                     {"params": no_decay, "weight_decay": 0.0}], lr=args.lr)]
    if args.sparse_embeddings:
        optimizers.append(torch.optim.SparseAdam([word], lr=args.lr))

    def embed(texts, max_len):
        batch = tokenizer(texts, padding=True, truncation=True, max_length=max_len, return_tensors="pt")
        hidden = model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).float()
        return torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)

    times = []
    for i, batch in enumerate(batches):
        pairs = batch["pairs"]
        queries = ["query: " + rows[(p["group_id"], p["query_lang"])]["query"] for p in pairs]
        passages = ["passage: " + rows[(p["group_id"], p["passage_lang"])]["positive"] for p in pairs]
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.autocast_bf16):
            q = embed(queries, args.max_query_tokens)
            p = embed(passages, args.max_passage_tokens)
            scores = q.float() @ p.float().T * 20.0
        loss = torch.nn.functional.cross_entropy(scores, torch.arange(len(pairs)))
        for opt in optimizers:
            opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        for opt in optimizers:
            opt.step()
        elapsed = time.perf_counter() - start
        print(f"step {i + 1}: loss {loss.item():.4f} {elapsed:.2f}s", flush=True)
        if i >= args.warmup:
            times.append(elapsed)
    pairs_per_step = len(batches[0]["pairs"])
    mean = sum(times) / len(times)
    print(json.dumps({"pairs_per_s": pairs_per_step / mean, "seconds_per_step": mean, "steps": len(times),
                      "threads": torch.get_num_threads(), "sparse_embeddings": args.sparse_embeddings,
                      "autocast_bf16": args.autocast_bf16}))


if __name__ == "__main__":
    main()
