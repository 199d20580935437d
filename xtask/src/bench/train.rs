//! `cargo xtask bench train`: pairs/s of e5-small fine-tuning (batch 32, XQuAD pairs) — Polyret
//! with each optimisation switched off in turn, and the PyTorch reference doing the same step on
//! the same batches (sentence-transformers-style MultipleNegativesRankingLoss, AdamW lr 3e-5,
//! mean pooling, the same lengths and dropout; `nn.Embedding(sparse=True)` + `SparseAdam` for the
//! word embeddings, the update rule Polyret uses). Also peak memory for batch 32 vs 128 with
//! GradCache. PyTorch runs twice: in f32 and under `torch.autocast("cpu", dtype=torch.bfloat16)`;
//! the last line compares Polyret's faster precision with PyTorch's faster recipe. Each Polyret variant is a separate `trainer` process; the first `--warmup` steps of
//! every run are not timed.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

#[derive(clap::Args)]
pub struct Args {
    /// Steps per run, warm-up included.
    #[arg(long, default_value_t = 8)]
    steps: u64,
    /// Untimed steps at the start of every run.
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// Python with torch and transformers for the reference.
    #[arg(long, env = "POLYRET_PYTHON", default_value = "python3")]
    python: String,
    /// Only the main comparison (no ablations, no memory runs).
    #[arg(long)]
    quick: bool,
    /// Where the runs go (metrics, batches and summaries kept for inspection; models deleted).
    #[arg(long, default_value = "runs/bench-train")]
    out: PathBuf,
}

/// One Polyret configuration: config overrides and environment.
struct Variant {
    name: &'static str,
    what: &'static str,
    overrides: &'static [&'static str],
    env: &'static [(&'static str, &'static str)],
}

const VARIANTS: &[Variant] = &[
    Variant {
        name: "polyret",
        what: "all optimisations (Flex, sparse embeddings, dynamic padding, fused kernels, jemalloc)",
        overrides: &[],
        env: &[],
    },
    Variant {
        name: "bf16",
        what: "mixed precision: bf16 products, f32 sums, weights and optimiser state",
        overrides: &["training.precision=\"bf16\""],
        env: &[],
    },
    Variant {
        name: "dense-embeddings",
        what: "dense AdamW over the 96M-value word embeddings",
        overrides: &["training.sparse_embeddings=false"],
        env: &[],
    },
    Variant {
        name: "pad-to-max",
        what: "pad to 64/128 tokens instead of the batch's longest",
        overrides: &["training.pad_to_max=true"],
        env: &[],
    },
    Variant {
        name: "burn-kernels",
        what: "Burn's GELU (scalar erf) and ChaCha dropout masks",
        overrides: &[],
        env: &[("POLYRET_KERNELS", "burn")],
    },
    Variant {
        name: "allocator-purging",
        what: "jemalloc returning freed pages to the kernel at once",
        overrides: &[],
        env: &[("_RJEM_MALLOC_CONF", "dirty_decay_ms:0,muzzy_decay_ms:0")],
    },
    Variant {
        name: "ndarray",
        what: "the NdArray backend instead of Flex",
        overrides: &["model.backend=\"ndarray\""],
        env: &[],
    },
];

/// Peak-memory runs: (name, overrides).
const MEMORY: &[(&str, &[&str])] = &[
    ("batch 32", &["sampler.batch_size=32"]),
    ("batch 128", &["sampler.batch_size=128"]),
    ("batch 128, GradCache chunks of 32", &["sampler.batch_size=128", "training.chunk_size=32"]),
];

struct Measured {
    pairs_per_s: f64,
    peak_rss_mib: f64,
}

fn trainer_binary() -> anyhow::Result<PathBuf> {
    let status = Command::new(env!("CARGO")).args(["build", "--release", "--quiet", "-p", "trainer"]).status()?;
    if !status.success() {
        bail!("building the trainer failed");
    }
    let exe = std::env::current_exe()?;
    Ok(exe.with_file_name("trainer"))
}

fn run_polyret(
    trainer: &Path,
    out: &Path,
    steps: u64,
    warmup: u64,
    overrides: &[&str],
    env: &[(&str, &str)],
) -> anyhow::Result<Measured> {
    if out.exists() {
        std::fs::remove_dir_all(out)?;
    }
    let config = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../configs/bench-train.toml");
    let mut cmd = Command::new(trainer);
    cmd.arg("--config").arg(&config).arg("--out").arg(out).args(["--set", &format!("training.steps={steps}")]);
    for o in overrides {
        cmd.args(["--set", o]);
    }
    cmd.envs(env.iter().copied()).env("RUST_LOG", "warn");
    let status = cmd.status().with_context(|| format!("running {}", trainer.display()))?;
    if !status.success() {
        bail!("trainer run {} failed", out.display());
    }
    let metrics = std::fs::read_to_string(out.join("metrics.jsonl"))?;
    let timed: Vec<(f64, f64)> = metrics
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["step"].as_u64().is_some_and(|s| s > warmup) && v.get("step_seconds").is_some())
        .map(|v| {
            (
                v["step_seconds"].as_f64().unwrap_or(f64::NAN),
                v["pairs_per_s"].as_f64().unwrap_or(f64::NAN) * v["step_seconds"].as_f64().unwrap_or(f64::NAN),
            )
        })
        .collect();
    if timed.is_empty() {
        bail!("no timed steps in {}", out.display());
    }
    let seconds: f64 = timed.iter().map(|t| t.0).sum();
    let pairs: f64 = timed.iter().map(|t| t.1).sum();
    let summary: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("summary.json"))?)?;
    // The saved model and checkpoint (~1.8 GB a run) are not measured; nine runs of them
    // filled this machine's disk.
    for dir in ["model", "checkpoint"].map(|d| out.join(d)) {
        if dir.is_dir() {
            std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
        }
    }
    Ok(Measured { pairs_per_s: pairs / seconds, peak_rss_mib: summary["peak_rss_mib"].as_f64().unwrap_or(f64::NAN) })
}

fn run_reference(args: &Args, model: &Path, batches: &Path, sparse: bool, bf16: bool) -> anyhow::Result<f64> {
    let mut argv: Vec<OsString> = vec![
        "--model".into(),
        model.into(),
        "--pairs".into(),
        "data/parquet/xquad-pairs/pairs.parquet".into(),
        "--batches".into(),
        batches.into(),
        "--steps".into(),
        args.steps.to_string().into(),
        "--warmup".into(),
        args.warmup.to_string().into(),
    ];
    if sparse {
        argv.push("--sparse-embeddings".into());
    }
    if bf16 {
        argv.push("--autocast-bf16".into());
    }
    let report = super::run_reference(&args.python, "bench_train_pytorch.py", &argv)?;
    report["pairs_per_s"].as_f64().context("no pairs_per_s in the reference output")
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if args.steps <= args.warmup {
        bail!("--steps must exceed --warmup");
    }
    let model = polyret_fetch::ensure_model(&polyret_fetch::ModelOptions::new(polyret_fetch::DEFAULT_MODEL))?;
    let mut data = polyret_fetch::DataOptions::new("data");
    data.only = vec!["xquad-pairs".into()];
    polyret_fetch::ensure_data(&data)?;
    let trainer = trainer_binary()?;

    // Quick: the default and mixed precision.
    let variants = if args.quick { &VARIANTS[..2] } else { VARIANTS };
    let mut rows = Vec::new();
    for v in variants {
        eprintln!("== polyret variant {}: {}", v.name, v.what);
        let m = run_polyret(&trainer, &args.out.join(v.name), args.steps, args.warmup, v.overrides, v.env)?;
        eprintln!("   {:.2} pairs/s", m.pairs_per_s);
        rows.push((v, m));
    }
    let batches = args.out.join("polyret/batches.jsonl");
    eprintln!("== pytorch reference, sparse embeddings (same update rule as Polyret)");
    let pytorch_sparse = run_reference(&args, &model, &batches, true, false)?;
    eprintln!("== pytorch reference, sparse embeddings, torch.autocast(\"cpu\", dtype=torch.bfloat16)");
    let pytorch_bf16 = run_reference(&args, &model, &batches, true, true)?;
    let pytorch_dense = if args.quick {
        None
    } else {
        eprintln!("== pytorch reference, dense AdamW (sentence-transformers' default)");
        Some(run_reference(&args, &model, &batches, false, false)?)
    };
    let mut memory = Vec::new();
    if !args.quick {
        for (i, (name, overrides)) in MEMORY.iter().enumerate() {
            eprintln!("== memory: {name}");
            let m = run_polyret(&trainer, &args.out.join(format!("memory-{i}")), 3, 1, overrides, &[])?;
            memory.push((name, m));
        }
    }

    let base = rows[0].1.pairs_per_s;
    println!("\n| configuration | pairs/s | vs Polyret | step time (s, batch 32) |");
    println!("|---|---:|---:|---:|");
    for (v, m) in &rows {
        println!(
            "| {} ({}) | {:.2} | {:.2}× | {:.2} |",
            v.name,
            v.what,
            m.pairs_per_s,
            m.pairs_per_s / base,
            32.0 / m.pairs_per_s
        );
    }
    println!(
        "| pytorch, SparseAdam embeddings (like for like) | {pytorch_sparse:.2} | {:.2}× | {:.2} |",
        pytorch_sparse / base,
        32.0 / pytorch_sparse
    );
    println!(
        "| pytorch, SparseAdam embeddings, bf16 autocast | {pytorch_bf16:.2} | {:.2}× | {:.2} |",
        pytorch_bf16 / base,
        32.0 / pytorch_bf16
    );
    if let Some(dense) = pytorch_dense {
        println!("| pytorch, dense AdamW | {dense:.2} | {:.2}× | {:.2} |", dense / base, 32.0 / dense);
    }
    if !memory.is_empty() {
        println!("\n| peak memory | MiB | pairs/s |");
        println!("|---|---:|---:|");
        for (name, m) in &memory {
            println!("| {name} | {:.0} | {:.2} |", m.peak_rss_mib, m.pairs_per_s);
        }
    }
    let (best_ours, ours) =
        rows[..2].iter().map(|(v, m)| (v.name, m.pairs_per_s)).fold(("", 0.0), |a, b| if b.1 > a.1 { b } else { a });
    let (best_ref, reference) = if pytorch_bf16 > pytorch_sparse {
        ("pytorch bf16 autocast", pytorch_bf16)
    } else {
        ("pytorch f32", pytorch_sparse)
    };
    println!(
        "train pairs/s polyret={ours:.2} ({best_ours}) best_reference={reference:.2} ({best_ref}) ratio={:.2}",
        ours / reference
    );
    Ok(())
}
