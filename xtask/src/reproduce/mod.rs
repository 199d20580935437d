//! `cargo xtask reproduce`: the study. Trains X-X, X-X-mono, X-Y and Hybrid(α = 0.25, 0.5, 0.75)
//! from multilingual-e5-small with identical settings (`configs/reproduce.toml`) over several
//! seeds, each run evaluating itself zero-shot (the first also evaluates the untouched model as
//! the reference row), then writes `results/REPORT.md` and `results/summary.json`.
//!
//! Runs are separate `trainer` processes under `runs/reproduce/<strategy>-seed<k>`; a run that
//! finished (its `summary.json` and evaluations exist) is not repeated, so an interrupted study
//! continues where it stopped — under the same config and overrides only (`study.json`).

mod report;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};

/// The study grid: (run name, strategy, α).
pub const STRATEGIES: &[(&str, &str, Option<f64>)] = &[
    ("x-x", "x-x", None),
    ("x-x-mono", "x-x-mono", None),
    ("x-y", "x-y", None),
    ("hybrid-0.25", "hybrid", Some(0.25)),
    ("hybrid-0.5", "hybrid", Some(0.5)),
    ("hybrid-0.75", "hybrid", Some(0.75)),
];

#[derive(clap::Args)]
pub struct Args {
    /// Training config shared by every run (strategy, α and seed are set per run).
    #[arg(long, default_value = "configs/reproduce.toml")]
    config: PathBuf,
    /// Where the runs go.
    #[arg(long, default_value = "runs/reproduce")]
    runs: PathBuf,
    /// Where REPORT.md, summary.json and the figures go.
    #[arg(long, default_value = "results")]
    results: PathBuf,
    /// Seeds of every strategy.
    #[arg(long, value_delimiter = ',', default_value = "1,2,3")]
    seeds: Vec<u64>,
    /// The full-size setting (for a GPU): fine-tune every layer, no frozen-layer cache, on WGPU.
    #[arg(long)]
    full: bool,
    /// Extra trainer overrides for every run, e.g. `--set training.steps=600`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    overrides: Vec<String>,
    /// Only (re)write the report from the runs that exist.
    #[arg(long)]
    report_only: bool,
}

/// Overrides of the full-size setting.
const FULL_SIZE: &[&str] = &["training.freeze_layers=0", "training.cache_frozen=false", "model.backend=\"wgpu\""];

/// One run of the grid.
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// `hybrid-0.5`, …
    pub strategy: String,
    /// Seed.
    pub seed: u64,
    /// Directory.
    pub dir: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if args.seeds.is_empty() {
        bail!("--seeds is empty");
    }
    let mut specs = Vec::new();
    for (name, _, _) in STRATEGIES {
        for &seed in &args.seeds {
            specs.push(RunSpec { strategy: name.to_string(), seed, dir: args.runs.join(format!("{name}-seed{seed}")) });
        }
    }
    // Run order: the comparison the study is about (Hybrid(0.5) against the three baselines)
    // first, then the α-sensitivity runs seed by seed, so an interrupted study has complete
    // seeds where they matter most.
    let sensitivity = |s: &RunSpec| s.strategy == "hybrid-0.25" || s.strategy == "hybrid-0.75";
    let mut order: Vec<usize> = (0..specs.len()).collect();
    order.sort_by_key(|&i| if sensitivity(&specs[i]) { (1, specs[i].seed, i) } else { (0, 0, i) });
    let started = Instant::now();
    let mut overrides = args.overrides.clone();
    if args.full {
        overrides.extend(FULL_SIZE.iter().map(|s| s.to_string()));
    }
    check_settings(&args.runs, &args.config, &overrides, !args.report_only)?;
    if !args.report_only {
        let trainer = trainer_binary(&args.runs)?;
        for (i, spec) in order.iter().map(|&k| &specs[k]).enumerate() {
            if is_done(&spec.dir) {
                eprintln!("== [{}/{}] {} seed {}: done earlier", i + 1, specs.len(), spec.strategy, spec.seed);
                continue;
            }
            eprintln!("== [{}/{}] {} seed {}", i + 1, specs.len(), spec.strategy, spec.seed);
            let (_, strategy, alpha) = STRATEGIES.iter().find(|s| s.0 == spec.strategy).expect("known strategy");
            let mut run_overrides = vec![format!("seed={}", spec.seed), format!("sampler.strategy=\"{strategy}\"")];
            if let Some(alpha) = alpha {
                run_overrides.push(format!("sampler.alpha={alpha}"));
            }
            // The first run of the grid also evaluates the untouched model: the reference row.
            run_overrides.push(format!("eval.baseline={}", i == 0));
            run_overrides.extend(overrides.iter().cloned());
            run_trainer(&trainer, &args.config, spec, &run_overrides)?;
        }
    }
    let command = std::env::args().skip(1).collect::<Vec<_>>().join(" ");
    report::write(
        &args.results,
        &args.config,
        &specs,
        &format!("cargo xtask {command}"),
        started.elapsed().as_secs_f64(),
    )?;
    println!("wrote {} and {}", args.results.join("REPORT.md").display(), args.results.join("summary.json").display());
    Ok(())
}

/// The settings every run of a runs directory shares, kept in `<runs>/study.json`: finished runs
/// are only reused (and reported) under the config and `--set` overrides they were made with, so
/// changing either never mixes runs of two settings in one report. The check and the record
/// happen under the lock of the runs directory, so two studies started at once with different
/// settings cannot both claim it.
fn check_settings(runs: &Path, config: &Path, overrides: &[String], record: bool) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(config).with_context(|| format!("reading {}", config.display()))?;
    let parsed: toml::Value = toml::from_str(&text).with_context(|| format!("parsing {}", config.display()))?;
    let settings = serde_json::json!({"config": parsed, "overrides": overrides});
    let path = runs.join("study.json");
    let _lock = if record { Some(polyret_files::DirLock::acquire(runs)?) } else { None };
    if let Ok(previous) = std::fs::read_to_string(&path) {
        let previous: serde_json::Value =
            serde_json::from_str(&previous).with_context(|| format!("parsing {}", path.display()))?;
        if previous != settings {
            bail!(
                "the runs in {} were made with other settings (see {}) than {} with --set {:?}; \
                 pass another --runs directory, or remove that one to start over",
                runs.display(),
                path.display(),
                config.display(),
                overrides
            );
        }
    } else if record {
        polyret_files::write_atomic(&path, serde_json::to_string_pretty(&settings)?.as_bytes())?;
    }
    Ok(())
}

/// Builds the trainer and copies it into the runs directory, so every run of the study uses the
/// same binary even if the workspace is rebuilt while the study runs.
fn trainer_binary(runs: &Path) -> anyhow::Result<PathBuf> {
    let status = Command::new(env!("CARGO")).args(["build", "--release", "--quiet", "-p", "trainer"]).status()?;
    if !status.success() {
        bail!("building the trainer failed");
    }
    let built = std::env::current_exe()?.with_file_name("trainer");
    std::fs::create_dir_all(runs)?;
    let copy = runs.join("trainer");
    std::fs::copy(&built, &copy).with_context(|| format!("copying {} to {}", built.display(), copy.display()))?;
    Ok(copy)
}

/// A run is done when it wrote its summary and its evaluations.
fn is_done(dir: &Path) -> bool {
    dir.join("summary.json").is_file() && dir.join("eval").is_dir() && dir.join("timing.json").is_file()
}

fn run_trainer(trainer: &Path, config: &Path, spec: &RunSpec, overrides: &[String]) -> anyhow::Result<()> {
    if spec.dir.exists() {
        // An interrupted run: start it again from scratch (its checkpoint is only written at the end).
        std::fs::remove_dir_all(&spec.dir).with_context(|| format!("removing {}", spec.dir.display()))?;
    }
    let started = Instant::now();
    let mut cmd = Command::new(trainer);
    cmd.arg("--config").arg(config).arg("--out").arg(&spec.dir);
    for o in overrides {
        cmd.args(["--set", o]);
    }
    let status = cmd.env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into())).status()?;
    if !status.success() {
        bail!("run {} failed", spec.dir.display());
    }
    let seconds = started.elapsed().as_secs_f64();
    prune(&spec.dir)?;
    let timing = serde_json::json!({"wall_seconds": seconds, "overrides": overrides});
    polyret_files::write_atomic(&spec.dir.join("timing.json"), serde_json::to_string_pretty(&timing)?.as_bytes())?;
    eprintln!("   {:.1} min", seconds / 60.0);
    Ok(())
}

/// Removes what a finished run no longer needs, ~1.4 GB of its ~1.9 GB: the resume checkpoint
/// (the final model stays in `model/`) and the TREC run files of its evaluations (the report
/// reads `results.json` and `per_query.tsv`; `polyret eval` writes TREC files on demand).
fn prune(dir: &Path) -> anyhow::Result<()> {
    let remove = |path: &Path| std::fs::remove_dir_all(path).with_context(|| format!("removing {}", path.display()));
    if dir.join("checkpoint").is_dir() {
        remove(&dir.join("checkpoint"))?;
    }
    for model in std::fs::read_dir(dir.join("eval"))?.filter_map(Result::ok) {
        for bench in std::fs::read_dir(model.path())?.filter_map(Result::ok) {
            for entry in std::fs::read_dir(bench.path())?.filter_map(Result::ok) {
                if entry.path().is_dir() {
                    remove(&entry.path())?;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finished_runs_are_reused_only_under_their_settings() {
        let dir = tempfile::tempdir().unwrap();
        let runs = dir.path().join("runs");
        let config = dir.path().join("study.toml");
        std::fs::write(&config, "[training]\nsteps = 300\n").unwrap();
        let set = ["sampler.batch_size=16".to_string()];
        check_settings(&runs, &config, &set, false).unwrap();
        assert!(!runs.join("study.json").exists(), "--report-only records nothing");
        check_settings(&runs, &config, &set, true).unwrap();
        check_settings(&runs, &config, &set, true).unwrap();
        // Comments and layout do not matter; values and overrides do.
        std::fs::write(&config, "# the study\n[training]\nsteps    = 300\n").unwrap();
        check_settings(&runs, &config, &set, false).unwrap();
        let err = check_settings(&runs, &config, &[], true).unwrap_err().to_string();
        assert!(err.contains("other settings"), "{err}");
        std::fs::write(&config, "[training]\nsteps = 400\n").unwrap();
        assert!(check_settings(&runs, &config, &set, false).is_err());
    }

    /// Studies started at once with different settings: exactly one claims the directory (before
    /// the lock, several read "no study.json" and each wrote its own).
    #[test]
    fn concurrent_studies_with_different_settings_cannot_both_claim_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        let runs = dir.path().join("runs");
        let config = dir.path().join("study.toml");
        std::fs::write(&config, "[training]\nsteps = 300\n").unwrap();
        let barrier = std::sync::Barrier::new(12);
        let claimed: usize = std::thread::scope(|s| {
            let handles: Vec<_> = (0..12)
                .map(|t| {
                    let (runs, config, barrier) = (&runs, &config, &barrier);
                    s.spawn(move || {
                        barrier.wait();
                        usize::from(check_settings(runs, config, &[format!("seed={t}")], true).is_ok())
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(claimed, 1);
        let names: Vec<_> = std::fs::read_dir(&runs).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["study.json"], "no temporaries left");
    }
}
