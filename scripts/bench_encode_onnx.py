#!/usr/bin/env python3
"""ONNX Runtime reference for `cargo xtask bench encode`: the same model exported to ONNX, run
in float32 and after `onnxruntime.quantization.quantize_dynamic` (QInt8 weights, the recipe ONNX
Runtime documents for transformer encoders on CPU), on the same texts and machine.

    python scripts/bench_encode_onnx.py --model models/multilingual-e5-small --input texts.jsonl \
        --work DIR [--batch-size 32] [--check polyret.f32]

The export (torch.onnx, opset 17, dynamic batch and length) and quantization are cached in
--work and not timed. Texts are encoded as sentence-transformers does: role prompt, sorted by
length, batches of --batch-size, HF fast tokenizer, mean pooling. Tokenization is timed, as in
Polyret's and sentence-transformers' figures. With --check (raw little-endian float32, texts ×
dim, Polyret's float32 embeddings), each variant reports its min and mean cosine to Polyret's.
Last line: one JSON object {"f32": {...}, "int8": {...}, "threads": N}, each variant with
`sentences_per_s`, `seconds` (and `min_cosine`, `mean_cosine` with --check).
"""
import argparse
import json
import os
import time

import numpy as np


def export(model_dir: str, path: str) -> None:
    import torch
    from transformers import AutoModel

    class LastHidden(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = AutoModel.from_pretrained(model_dir).eval()

        def forward(self, input_ids, attention_mask):
            return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    model = LastHidden().eval()
    ids = torch.ones(2, 8, dtype=torch.long)
    mask = torch.ones(2, 8, dtype=torch.long)
    axes = {0: "batch", 1: "length"}
    with torch.no_grad():
        torch.onnx.export(model, (ids, mask), path, input_names=["input_ids", "attention_mask"],
                          output_names=["last_hidden_state"], opset_version=17, dynamo=False,
                          dynamic_axes={"input_ids": axes, "attention_mask": axes, "last_hidden_state": axes})


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--input", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--check")
    args = ap.parse_args()

    import onnxruntime as ort
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoTokenizer

    os.makedirs(args.work, exist_ok=True)
    f32_path = os.path.join(args.work, "model.onnx")
    int8_path = os.path.join(args.work, "model.int8.onnx")
    if not os.path.exists(f32_path):
        export(args.model, f32_path + ".tmp")
        os.replace(f32_path + ".tmp", f32_path)
    if not os.path.exists(int8_path):
        quantize_dynamic(f32_path, int8_path + ".tmp", weight_type=QuantType.QInt8)
        os.replace(int8_path + ".tmp", int8_path)

    prompts = json.load(open(os.path.join(args.model, "config_sentence_transformers.json"))).get("prompts", {})
    rows = [json.loads(line) for line in open(args.input, encoding="utf-8")]
    texts = [prompts.get(r.get("role", "passage"), "") + r["text"] for r in rows]
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    max_len = json.load(open(os.path.join(args.model, "sentence_bert_config.json"))).get("max_seq_length", 512)
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    ours = None
    if args.check:
        ours = np.fromfile(args.check, dtype="<f4").reshape(len(texts), -1)

    report = {}
    for name, path in (("f32", f32_path), ("int8", int8_path)):
        session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])

        def encode(batch_texts):
            enc = tokenizer(batch_texts, padding=True, truncation=True, max_length=max_len, return_tensors="np")
            feed = {"input_ids": enc["input_ids"].astype(np.int64), "attention_mask": enc["attention_mask"].astype(np.int64)}
            hidden = session.run(None, feed)[0]
            mask = feed["attention_mask"][..., None].astype(np.float32)
            pooled = (hidden * mask).sum(1) / mask.sum(1)
            return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)

        encode(texts[:2])  # warm-up
        out = np.zeros((len(texts), 0), dtype=np.float32)
        start = time.perf_counter()
        parts = []
        for b in range(0, len(order), args.batch_size):
            idx = order[b:b + args.batch_size]
            parts.append((idx, encode([texts[i] for i in idx])))
        seconds = time.perf_counter() - start
        out = np.zeros((len(texts), parts[0][1].shape[1]), dtype=np.float32)
        for idx, emb in parts:
            out[idx] = emb
        variant = {"sentences_per_s": len(texts) / seconds, "seconds": seconds}
        if ours is not None:
            cos = (ours * out).sum(1) / (np.linalg.norm(ours, axis=1) * np.linalg.norm(out, axis=1))
            variant["min_cosine"] = float(cos.min())
            variant["mean_cosine"] = float(cos.mean())
        report[name] = variant
        print(f"onnxruntime {name}: {variant['sentences_per_s']:.1f} sentences/s", flush=True)
    report["threads"] = os.cpu_count()
    print(json.dumps(report))


if __name__ == "__main__":
    main()
