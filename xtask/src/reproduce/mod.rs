//! `cargo xtask reproduce`: the study. Trains X-X, X-X-mono, X-Y and Hybrid(α = 0.25, 0.5, 0.75)
//! from multilingual-e5-small with identical settings (`configs/reproduce.toml`) over several
//! seeds, each run evaluating itself zero-shot (the first also evaluates the untouched model as
//! the reference row), then writes `results/REPORT.md` and `results/summary.json`.
//!
//! Runs are separate `trainer` processes under `runs/reproduce/<strategy>-seed<k>`. A finished
//! run leaves a small record under `results/runs/<regime>/` (see [`record`]) that the report reads
//! and that is committed with it; a recorded run is not repeated, so an interrupted study
//! continues where it stopped, on this machine or from a clean clone on another — under the same
//! config and overrides only (`study.json` beside the records).

mod figures;
mod record;
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
    /// Where the runs go [default: `runs/reproduce`, with `--full` `runs/reproduce-full`].
    #[arg(long)]
    runs: Option<PathBuf>,
    /// Where REPORT.md, summary.json and the figures go.
    #[arg(long, default_value = "results")]
    results: PathBuf,
    /// Seeds of every strategy.
    #[arg(long, value_delimiter = ',', default_value = "1,2,3")]
    seeds: Vec<u64>,
    /// The full-fine-tuning regime: every layer and the embeddings trained, no frozen-layer cache,
    /// checkpoints every 50 steps (an interrupted run resumes), evaluated on XQuAD-R, MLQA-R,
    /// Multi30K test_2016 and xFlickr&CO; grid X-X-mono, X-Y, Hybrid(0.5) × seeds and X-X × the
    /// first seed. Runs on the config's backend (Flex, CPU); `--set model.backend="wgpu"` for a GPU.
    #[arg(long)]
    full: bool,
    /// Extra trainer overrides for every run, e.g. `--set training.steps=600`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    overrides: Vec<String>,
    /// Run this trainer binary instead of building the workspace's (e.g. a copy kept while the
    /// workspace is being edited).
    #[arg(long, value_name = "PATH")]
    trainer: Option<PathBuf>,
    /// Only (re)write the report from the runs that exist.
    #[arg(long)]
    report_only: bool,
}

/// Overrides of the full-fine-tuning regime. Tatoeba is left out of its evaluation: embedding its
/// 34 000 texts with the whole model costs ~8 CPU-minutes per run, and the question this regime
/// answers is asked on the four benchmarks above.
const FULL_SIZE: &[&str] = &[
    "training.freeze_layers=0",
    "training.cache_frozen=false",
    "training.checkpoint_every=50",
    "eval.benchmarks=[\"xquad-r\", \"mlqa-r\", \"multi30k-test_2016\", \"xflickrco\"]",
];

/// The strategies of the full-fine-tuning grid, each with every seed; X-X runs with the first
/// seed only (the baseline the paper improves on, not one of the claims' contenders).
const FULL_STRATEGIES: &[&str] = &["hybrid-0.5", "x-y", "x-x-mono"];

/// One run of the grid.
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// `hybrid-0.5`, …
    pub strategy: String,
    /// Seed.
    pub seed: u64,
    /// Directory of the run (model, checkpoints, evaluations; `runs/…`).
    pub dir: PathBuf,
    /// Its durable record once finished (`results/runs/<regime>/…`).
    pub record: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if args.seeds.is_empty() {
        bail!("--seeds is empty");
    }
    let runs = args.runs.clone().unwrap_or_else(|| default_runs_dir(args.full));
    let records = records_dir(&args.results, args.full);
    let (specs, order) = grid(args.full, &args.seeds, &runs, &records);
    let started = Instant::now();
    let mut overrides = args.overrides.clone();
    if args.full {
        overrides.extend(FULL_SIZE.iter().map(|s| s.to_string()));
    }
    check_settings(&runs, &records, &args.config, &overrides, !args.report_only)?;
    if !args.report_only {
        let trainer = trainer_binary(&runs, args.trainer.as_deref())?;
        for (i, spec) in order.iter().map(|&k| &specs[k]).enumerate() {
            // A run that finished but was not recorded (the study stopped in between).
            if !record::is_recorded(&spec.record) && record::is_finished(&spec.dir) {
                record::write(&spec.dir, &spec.record)?;
            }
            if record::is_recorded(&spec.record) {
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
            run_trainer(&trainer, &args.config, spec, &run_overrides, args.full)?;
            record::write(&spec.dir, &spec.record)?;
        }
    }
    // The report covers both regimes: this one from `runs`, the other from its default directory.
    let regimes: Vec<report::Regime> = [false, true]
        .into_iter()
        .map(|full| {
            let dir = if full == args.full { runs.clone() } else { default_runs_dir(full) };
            let records = records_dir(&args.results, full);
            let specs = grid(full, &args.seeds, &dir, &records).0;
            regime(full, dir, records, specs)
        })
        .collect();
    let command = std::env::args().skip(1).collect::<Vec<_>>().join(" ");
    let study = report::Study {
        config: &args.config,
        seen: report::training_languages(&args.config)?,
        regimes,
        command: format!("cargo xtask {command}"),
    };
    report::write(&args.results, &study, started.elapsed().as_secs_f64())?;
    println!("wrote {} and {}", args.results.join("REPORT.md").display(), args.results.join("summary.json").display());
    Ok(())
}

/// A regime of the study as the report describes it.
fn regime(full: bool, runs: PathBuf, records: PathBuf, specs: Vec<RunSpec>) -> report::Regime {
    if full {
        report::Regime {
            key: "full",
            title: "Full fine-tuning",
            description: "Every layer and the embeddings trained, nothing cached (`--full`; the word-embedding rows \
                of each batch are updated with lazy Adam, as PyTorch's SparseAdam, the rest with AdamW); X-X-mono, X-Y \
                and Hybrid(0.5) with every seed, X-X with the first; checkpoints every 50 steps, so an interrupted run \
                resumes. Tatoeba is left out: embedding its 34 000 texts with the whole model costs ~8 CPU-minutes a run.",
            runs,
            records,
            specs,
        }
    } else {
        report::Regime {
            key: "top-2",
            title: "Top 2 layers trained",
            description: "The bottom 10 of 12 layers and the embeddings frozen, their outputs computed once per \
                distinct text (training and evaluation texts alike) and cached, so each step and each evaluation runs \
                the top 2 layers only. Exact (frozen layers run without dropout either way), and cheap enough for the \
                whole grid: X-X, X-X-mono, X-Y and Hybrid(α = 0.25, 0.5, 0.75), every seed. It measures what batch \
                composition does to the top of the network, a smaller intervention than the paper's. The grid \
                was rerun with MLQA-R added to its evaluation (the earlier grid's models were not kept).",
            runs,
            records,
            specs,
        }
    }
}

/// Where a regime's runs go unless `--runs` says otherwise.
pub fn default_runs_dir(full: bool) -> PathBuf {
    PathBuf::from(if full { "runs/reproduce-full" } else { "runs/reproduce" })
}

/// Where a regime's run records go: `<results>/runs/top-2` or `<results>/runs/full`.
pub fn records_dir(results: &Path, full: bool) -> PathBuf {
    results.join("runs").join(if full { "full" } else { "top-2" })
}

/// The runs of a regime and the order to run them in (indices into the runs).
///
/// Top 2 layers: every strategy × every seed; the comparison the study is about (Hybrid(0.5)
/// against the three baselines) first, then the α-sensitivity runs seed by seed, so an
/// interrupted study has complete seeds where they matter most. Full fine-tuning:
/// [`FULL_STRATEGIES`] × seeds and X-X × the first seed, seed by seed, so every sitting adds a
/// complete comparison before it adds seeds.
fn grid(full: bool, seeds: &[u64], runs: &Path, records: &Path) -> (Vec<RunSpec>, Vec<usize>) {
    let spec = |name: &str, seed: u64| RunSpec {
        strategy: name.to_string(),
        seed,
        dir: runs.join(format!("{name}-seed{seed}")),
        record: records.join(format!("{name}-seed{seed}")),
    };
    let mut specs = Vec::new();
    if full {
        for (name, _, _) in STRATEGIES {
            let seeds = if FULL_STRATEGIES.contains(name) {
                seeds
            } else if *name == "x-x" {
                &seeds[..1]
            } else {
                &[]
            };
            specs.extend(seeds.iter().map(|&seed| spec(name, seed)));
        }
        let mut order: Vec<usize> = (0..specs.len()).collect();
        let rank = |s: &RunSpec| FULL_STRATEGIES.iter().position(|n| *n == s.strategy).unwrap_or(FULL_STRATEGIES.len());
        order.sort_by_key(|&i| (specs[i].seed, rank(&specs[i])));
        return (specs, order);
    }
    for (name, _, _) in STRATEGIES {
        specs.extend(seeds.iter().map(|&seed| spec(name, seed)));
    }
    let sensitivity = |s: &RunSpec| s.strategy == "hybrid-0.25" || s.strategy == "hybrid-0.75";
    let mut order: Vec<usize> = (0..specs.len()).collect();
    order.sort_by_key(|&i| if sensitivity(&specs[i]) { (1, specs[i].seed, i) } else { (0, 0, i) });
    (specs, order)
}

/// The settings every run of a regime shares, kept in `study.json` beside its records: finished
/// runs are only reused (and reported) under the config and `--set` overrides they were made
/// with, so changing either never mixes runs of two settings in one report. The check and the
/// record happen under the lock of the runs directory, so two studies started at once with
/// different settings cannot both claim it.
fn check_settings(
    runs: &Path,
    records: &Path,
    config: &Path,
    overrides: &[String],
    record: bool,
) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(config).with_context(|| format!("reading {}", config.display()))?;
    let parsed: toml::Value = toml::from_str(&text).with_context(|| format!("parsing {}", config.display()))?;
    let settings = serde_json::json!({"config": parsed, "overrides": overrides});
    let path = records.join("study.json");
    let _lock = if record { Some(polyret_files::DirLock::acquire(runs)?) } else { None };
    if let Ok(previous) = std::fs::read_to_string(&path) {
        let previous: serde_json::Value =
            serde_json::from_str(&previous).with_context(|| format!("parsing {}", path.display()))?;
        if previous != settings {
            bail!(
                "the runs recorded in {} were made with other settings (see {}) than {} with --set {:?}; \
                 pass other --results and --runs directories, or remove those records to start over",
                records.display(),
                path.display(),
                config.display(),
                overrides
            );
        }
    } else if record {
        std::fs::create_dir_all(records).with_context(|| format!("creating {}", records.display()))?;
        polyret_files::write_atomic(&path, serde_json::to_string_pretty(&settings)?.as_bytes())?;
    }
    Ok(())
}

/// The trainer binary a study runs, and what identifies it in every run's `timing.json`.
struct TrainerBinary {
    path: PathBuf,
    /// SHA-256 of the binary, hex.
    sha256: String,
    /// The commit it was built from (`+changes` when tracked files differed from it), when the
    /// study built it; `None` for a binary given with `--trainer`.
    built_from: Option<String>,
}

/// Builds the trainer (unless `--trainer` names one) and copies it into the runs directory, so
/// every run of the study uses the same binary even if the workspace is rebuilt while it runs.
fn trainer_binary(runs: &Path, given: Option<&Path>) -> anyhow::Result<TrainerBinary> {
    let (built, built_from) = match given {
        Some(path) => (path.to_owned(), None),
        None => {
            let status =
                Command::new(env!("CARGO")).args(["build", "--release", "--quiet", "-p", "trainer"]).status()?;
            if !status.success() {
                bail!("building the trainer failed");
            }
            (std::env::current_exe()?.with_file_name("trainer"), checkout_commit())
        }
    };
    std::fs::create_dir_all(runs)?;
    let copy = runs.join("trainer");
    std::fs::copy(&built, &copy).with_context(|| format!("copying {} to {}", built.display(), copy.display()))?;
    let mut hasher = polyret_files::HashingWriter::new(std::io::sink());
    std::io::copy(&mut std::fs::File::open(&copy)?, &mut hasher)
        .with_context(|| format!("hashing {}", copy.display()))?;
    let sha256 = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Ok(TrainerBinary { path: copy, sha256, built_from })
}

/// The checked-out commit, with `+changes` when tracked files differ from it; `None` outside git.
fn checkout_commit() -> Option<String> {
    let git = |args: &[&str]| {
        let out = Command::new("git").args(args).output().ok()?;
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    let commit = git(&["rev-parse", "HEAD"])?;
    let changed = !git(&["status", "--porcelain", "--untracked-files=no"])?.is_empty();
    Some(if changed { format!("{commit}+changes") } else { commit })
}

fn run_trainer(
    trainer: &TrainerBinary,
    config: &Path,
    spec: &RunSpec,
    overrides: &[String],
    keep_model: bool,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let invoke = |resume: bool| -> anyhow::Result<bool> {
        let mut cmd = Command::new(&trainer.path);
        cmd.arg("--config").arg(config).arg("--out").arg(&spec.dir);
        for o in overrides {
            cmd.args(["--set", o]);
        }
        if resume {
            cmd.arg("--resume");
        }
        let status = cmd.env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into())).status()?;
        Ok(status.success())
    };
    // An interrupted run continues from its last checkpoint (the trainer checks that it was made
    // with this config); one with no checkpoint, or one the trainer refuses to resume, starts again.
    let mut succeeded = false;
    if has_checkpoint(&spec.dir) {
        eprintln!("   resuming {} from its checkpoint", spec.dir.display());
        close_sitting(&spec.dir)?;
        open_sitting(&spec.dir)?;
        succeeded = invoke(true)?;
        if !succeeded {
            eprintln!("   could not resume {}; starting it again", spec.dir.display());
        }
    }
    if !succeeded {
        if spec.dir.exists() {
            std::fs::remove_dir_all(&spec.dir).with_context(|| format!("removing {}", spec.dir.display()))?;
        }
        open_sitting(&spec.dir)?;
        if !invoke(false)? {
            bail!("run {} failed", spec.dir.display());
        }
    }
    let seconds = earlier_sittings(&spec.dir)?.iter().sum::<f64>() + started.elapsed().as_secs_f64();
    prune(&spec.dir, keep_model)?;
    let sittings = earlier_sittings(&spec.dir)?.len() + 1;
    let timing = serde_json::json!({
        "wall_seconds": seconds,
        "sittings": sittings,
        "overrides": overrides,
        "cpu": report::cpu_model(),
        "cores": std::thread::available_parallelism().map_or(1, |n| n.get()),
        "trainer_sha256": trainer.sha256,
        "trainer_built_from": trainer.built_from,
    });
    polyret_files::write_atomic(&spec.dir.join("timing.json"), serde_json::to_string_pretty(&timing)?.as_bytes())?;
    eprintln!("   {:.1} min", seconds / 60.0);
    Ok(())
}

/// Whether an interrupted run left a checkpoint to continue from.
fn has_checkpoint(dir: &Path) -> bool {
    polyret_files::settled_dir(&dir.join("checkpoint")).is_some_and(|d| d.join("state.json").is_file())
}

/// When the current sitting of a run started (Unix seconds), so that a later sitting can count
/// the time an interrupted one spent.
const SITTING_START: &str = "sitting-start";
/// Wall seconds of a run's earlier, interrupted sittings (a JSON array).
const SITTINGS: &str = "sittings.json";

fn unix_now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

fn open_sitting(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    polyret_files::write_atomic(&dir.join(SITTING_START), format!("{}", unix_now()).as_bytes())?;
    Ok(())
}

fn earlier_sittings(dir: &Path) -> anyhow::Result<Vec<f64>> {
    let path = dir.join(SITTINGS);
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display())),
        Err(_) => Ok(Vec::new()),
    }
}

/// Records how long the interrupted sitting of a run lasted: from its start to the last time it
/// wrote anything in the run directory (metrics every `log_every` steps, checkpoints, caches).
fn close_sitting(dir: &Path) -> anyhow::Result<()> {
    let Some(start) = std::fs::read_to_string(dir.join(SITTING_START)).ok().and_then(|t| t.trim().parse::<f64>().ok())
    else {
        return Ok(());
    };
    let last = newest_mtime(dir).unwrap_or(start);
    let mut sittings = earlier_sittings(dir)?;
    sittings.push((last - start).max(0.0));
    polyret_files::write_atomic(&dir.join(SITTINGS), serde_json::to_string(&sittings)?.as_bytes())?;
    Ok(())
}

/// The newest modification time (Unix seconds) of any file under `dir`.
fn newest_mtime(dir: &Path) -> Option<f64> {
    let mut newest: Option<f64> = None;
    for entry in std::fs::read_dir(dir).ok()?.filter_map(Result::ok) {
        let path = entry.path();
        let time = if path.is_dir() {
            newest_mtime(&path)
        } else {
            entry.metadata().ok()?.modified().ok()?.duration_since(std::time::UNIX_EPOCH).ok().map(|d| d.as_secs_f64())
        };
        newest = match (newest, time) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }
    newest
}

/// Removes what a finished run no longer needs: the resume checkpoint (~1.4 GB in the full
/// regime), the TREC run files of its evaluations (the report reads `results.json` and
/// `per_query.tsv`; `polyret eval` writes TREC files on demand) and, unless `keep_model`, the
/// final model (470 MB; the top-2 regime's 18 models would take 8.5 GB, and retraining one takes
/// minutes). The full regime keeps its models: each is an hour of CPU.
fn prune(dir: &Path, keep_model: bool) -> anyhow::Result<()> {
    let remove = |path: &Path| std::fs::remove_dir_all(path).with_context(|| format!("removing {}", path.display()));
    if dir.join("checkpoint").is_dir() {
        remove(&dir.join("checkpoint"))?;
    }
    if !keep_model && dir.join("model").is_dir() {
        remove(&dir.join("model"))?;
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
        let records = dir.path().join("results/runs/top-2");
        let config = dir.path().join("study.toml");
        std::fs::write(&config, "[training]\nsteps = 300\n").unwrap();
        let set = ["sampler.batch_size=16".to_string()];
        check_settings(&runs, &records, &config, &set, false).unwrap();
        assert!(!records.join("study.json").exists(), "--report-only records nothing");
        check_settings(&runs, &records, &config, &set, true).unwrap();
        check_settings(&runs, &records, &config, &set, true).unwrap();
        // Comments and layout do not matter; values and overrides do.
        std::fs::write(&config, "# the study\n[training]\nsteps    = 300\n").unwrap();
        check_settings(&runs, &records, &config, &set, false).unwrap();
        let err = check_settings(&runs, &records, &config, &[], true).unwrap_err().to_string();
        assert!(err.contains("other settings"), "{err}");
        std::fs::write(&config, "[training]\nsteps = 400\n").unwrap();
        assert!(check_settings(&runs, &records, &config, &set, false).is_err());
    }

    /// Studies started at once with different settings: exactly one claims the directory (before
    /// the lock, several read "no study.json" and each wrote its own).
    #[test]
    fn concurrent_studies_with_different_settings_cannot_both_claim_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        let runs = dir.path().join("runs");
        let records = dir.path().join("results/runs/top-2");
        let config = dir.path().join("study.toml");
        std::fs::write(&config, "[training]\nsteps = 300\n").unwrap();
        let barrier = std::sync::Barrier::new(12);
        let claimed: usize = std::thread::scope(|s| {
            let handles: Vec<_> = (0..12)
                .map(|t| {
                    let (runs, records, config, barrier) = (&runs, &records, &config, &barrier);
                    s.spawn(move || {
                        barrier.wait();
                        usize::from(check_settings(runs, records, config, &[format!("seed={t}")], true).is_ok())
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(claimed, 1);
        let names: Vec<_> = std::fs::read_dir(&records).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["study.json"], "no temporaries left");
        assert_eq!(std::fs::read_dir(&runs).unwrap().count(), 0, "the lock is released");
    }
}
