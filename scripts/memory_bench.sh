#!/usr/bin/env bash
# Peak memory of e5-small full fine-tuning (configs/bench-train.toml) for batch 32, 128, 128 with
# GradCache chunks of 32, and the paper's batch of 100 with chunks of 25: two steps each, the peak
# resident set from each run's summary.json. The same runs as the memory part of
# `cargo xtask bench train`, without its speed ablations.
#   scripts/memory_bench.sh [OUT_DIR]      (default runs/memory; ~3 min on 2 cores)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="${1:-runs/memory}"
cargo build --release -q -p trainer
trainer="${CARGO_TARGET_DIR:-target}/release/trainer"
run() {
  local name=$1; shift
  rm -rf "$out/$name"
  local sets=()
  for s in "$@"; do sets+=(--set "$s"); done
  RUST_LOG=warn "$trainer" --config configs/bench-train.toml --out "$out/$name" --set training.steps=2 "${sets[@]}" >/dev/null
  python3 -c "import json,sys; s=json.load(open('$out/$name/summary.json')); print(f\"| $name | {s['peak_rss_mib']:.0f} | {s['pairs_per_second']:.2f} |\")"
  rm -rf "$out/$name/checkpoint" "$out/$name/model"  # ~1.4 GB each; only the numbers matter here
}
echo "| configuration | peak memory (MiB) | pairs/s |"
echo "|---|---:|---:|"
run batch-32 sampler.batch_size=32
run batch-128 sampler.batch_size=128
run batch-128-gradcache-32 sampler.batch_size=128 training.chunk_size=32
run batch-100-gradcache-25 sampler.batch_size=100 training.chunk_size=25
