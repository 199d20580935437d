#!/usr/bin/env bash
# Exact resume, on the real model: train configs/smoke.toml once without interruption, once
# killed with SIGKILL after its first checkpoint and resumed, and compare the final weights.
#   scripts/resume_demo.sh [OUT_DIR]        (default runs/resume-demo; a few minutes on 2 cores)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="${1:-runs/resume-demo}"
rm -rf "$out"
cargo build --release -q -p trainer
trainer="${CARGO_TARGET_DIR:-target}/release/trainer"
run=(--config configs/smoke.toml --set training.steps=20 --set training.checkpoint_every=5 --set data.validation_pairs=0)

echo "== uninterrupted run"
RUST_LOG=warn "$trainer" "${run[@]}" --out "$out/straight"

echo "== run killed with SIGKILL after its first checkpoint"
RUST_LOG=warn "$trainer" "${run[@]}" --out "$out/killed" &
pid=$!
until grep -qs '"step": *[1-9]' "$out/killed/checkpoint/state.json"; do
  kill -0 "$pid" 2>/dev/null || { echo "the run ended before it could be killed" >&2; exit 1; }
  sleep 0.2
done
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
echo "   killed at step $(grep -o '"step": *[0-9]*' "$out/killed/checkpoint/state.json" | grep -o '[0-9]*$')"

echo "== resumed"
RUST_LOG=warn "$trainer" "${run[@]}" --out "$out/killed" --resume

a=$(sha256sum "$out/straight/model/model.safetensors" | cut -d' ' -f1)
b=$(sha256sum "$out/killed/model/model.safetensors" | cut -d' ' -f1)
echo "uninterrupted: $a"
echo "resumed:       $b"
if [ "$a" = "$b" ]; then echo "identical weights"; else echo "weights differ" >&2; exit 1; fi
