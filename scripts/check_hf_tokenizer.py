#!/usr/bin/env python3
"""A model directory Polyret wrote tokenizes in transformers exactly as in Polyret.

    python scripts/check_hf_tokenizer.py --expected ids.jsonl --model models/multilingual-e5-small

`--expected` is JSONL, one `{"text": ..., "input_ids": [...]}` per line: Polyret's token ids
(special tokens included). Each `--model` directory is loaded with `AutoTokenizer` as a user
would (offline; its `tokenizer_config.json` decides the class) and every text is tokenized with
the default settings. Prints one JSON line per directory and exits 1 if any id differs.

Needs only `transformers` and `tokenizers` (no torch). CI runs it with the current
transformers 5 and the last 4.x release (`crates/trainer/tests/hf_export.rs`).
"""
import argparse
import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import transformers  # noqa: E402
from transformers import AutoTokenizer  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--expected", required=True, help="JSONL of {text, input_ids} from Polyret")
    ap.add_argument("--model", required=True, action="append", help="model directory (repeatable)")
    args = ap.parse_args()
    with open(args.expected, encoding="utf-8") as f:
        cases = [json.loads(line) for line in f if line.strip()]
    if not cases:
        print(f"{args.expected}: no cases", file=sys.stderr)
        return 2
    failed = False
    for model in args.model:
        tokenizer = AutoTokenizer.from_pretrained(model)
        mismatches = []
        for case in cases:
            got = tokenizer(case["text"])["input_ids"]
            if got != case["input_ids"]:
                mismatches.append({"text": case["text"], "transformers": got, "polyret": case["input_ids"]})
        failed |= bool(mismatches)
        report = {
            "model": model,
            "transformers": transformers.__version__,
            "tokenizer_class": type(tokenizer).__name__,
            "texts": len(cases),
            "mismatches": len(mismatches),
        }
        if mismatches:
            report["first_mismatch"] = mismatches[0]
        print(json.dumps(report, ensure_ascii=False))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
