//! The job around the training library: resolve model and data (fetching what is missing), train
//! in the run directory, evaluate the fine-tuned model (and the base model) zero-shot, write
//! `summary.json`.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use polyret_encoder::{Role, SentenceEncoder};
use polyret_evaluator::{Embedder, EvalOptions, EvalReport};
use polyret_files::write_atomic;
use polyret_ingest::{Catalog, EvalSet};
use polyret_train::{RunDir, Start, Tokenizers, TrainConfig, TrainData, TrainError, Trainer};
use serde_json::json;

use crate::embedder::CachedEmbedder;

/// What to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The resolved config.
    pub config: TrainConfig,
    /// The run directory.
    pub run_dir: PathBuf,
    /// Continue from `run_dir/checkpoint`.
    pub resume: bool,
    /// Stop after this many steps of this invocation (for tests and the resume demo); the run
    /// stays resumable. `None`: run to the end.
    pub stop_after: Option<u64>,
}

/// What a finished (or stopped) run reports.
#[derive(Debug, Clone)]
pub struct RunSummary {
    /// Steps completed in total.
    pub steps: u64,
    /// Loss of the last step.
    pub last_loss: f64,
    /// Mean loss over the first and last 10% of steps of this invocation.
    pub loss_start_end: (f64, f64),
    /// Pairs per second over the steps of this invocation (excluding start-up).
    pub pairs_per_second: f64,
    /// The final model (HF + sentence-transformers layout), when the run reached its end.
    pub model_dir: Option<PathBuf>,
    /// Zero-shot evaluations after training: (model label, report), the reference model first.
    pub evaluations: Vec<(String, EvalReport)>,
    /// Peak resident memory of the process, in MiB (Linux `VmHWM`).
    pub peak_rss_mib: Option<f64>,
    /// The run had finished before this call, which changed nothing and reports what the run
    /// reported (its `summary.json` and the evaluations in its directory).
    pub already_finished: bool,
}

/// A benchmark of `eval.benchmarks`: a catalog eval table, optionally restricted to languages
/// (`"tatoeba:de,fr,ja"`).
#[derive(Debug, Clone, PartialEq)]
pub struct BenchmarkSpec {
    /// Catalog table name.
    pub table: String,
    /// Languages to keep (empty: `eval.languages`, or all).
    pub languages: Vec<String>,
}

impl BenchmarkSpec {
    /// Parses `name[:lang,lang…]`.
    pub fn parse(spec: &str) -> Self {
        match spec.split_once(':') {
            Some((table, langs)) => Self {
                table: table.trim().to_string(),
                languages: langs.split(',').map(|l| l.trim().to_string()).filter(|l| !l.is_empty()).collect(),
            },
            None => Self { table: spec.trim().to_string(), languages: Vec::new() },
        }
    }
}

/// The model directory for `config.model`: a path with `config.json`, or a known model fetched
/// into `models_dir` if missing.
pub fn resolve_model_dir(config: &TrainConfig) -> anyhow::Result<PathBuf> {
    let path = PathBuf::from(&config.model.name);
    if path.join("config.json").is_file() {
        return Ok(path);
    }
    let mut options = polyret_fetch::ModelOptions::new(&config.model.name);
    options.models_dir = config.model.models_dir.clone();
    Ok(polyret_fetch::ensure_model(&options)?)
}

/// Makes sure every catalog table the run reads exists, fetching and ingesting the bundled
/// benchmarks that are missing or out of date. A table a user ingested (`polyret ingest jsonl`)
/// is taken from the catalog as it is; a name that is neither is an error naming both places.
pub fn ensure_tables(config: &TrainConfig, names: &[String]) -> anyhow::Result<()> {
    let catalog_path = config.data.dir.join("parquet").join(polyret_ingest::CATALOG_FILE);
    let catalog = Catalog::load_or_new(&catalog_path)?;
    let mut bundled = Vec::new();
    for name in names.iter().filter(|n| !n.ends_with(".parquet")) {
        if polyret_ingest::Dataset::from_name(name).is_some() {
            bundled.push(name.clone());
        } else if catalog.table(name).is_none() {
            let known: Vec<&str> =
                polyret_ingest::Dataset::ALL.iter().flat_map(|d| d.tables().iter().copied()).collect();
            return Err(TrainError::Data(format!(
                "table `{name}` is neither in {} nor a bundled benchmark ({}); ingest it with `polyret ingest`, \
                 or give a Parquet file's path",
                catalog_path.display(),
                known.join(", ")
            ))
            .into());
        }
    }
    let names = bundled;
    if names.is_empty() {
        return Ok(());
    }
    let mut options = polyret_fetch::DataOptions::new(&config.data.dir);
    if options.mirror.is_none() {
        options.mirror = config.data.mirror.clone();
    }
    options.only = names;
    polyret_fetch::ensure_data(&options)?;
    Ok(())
}

/// Runs (or resumes) training, then evaluates.
///
/// Nothing in the run directory changes until every check has passed — the config against the
/// checkpoint, the data, the model, `training.freeze_layers`, the sampler — so a refused start
/// leaves the directory as it was (or absent). Resuming a finished run changes nothing and
/// returns its summary ([`RunSummary::already_finished`]); resuming after a kill between the
/// last checkpoint and the final save finishes the save. While it trains and evaluates, the run
/// holds a lock on its directory: a second process is refused. A [`TrainError`] that stops the
/// run is the error itself (downcast it), without added context.
pub fn train(options: &RunOptions) -> anyhow::Result<RunSummary> {
    let config = &options.config;
    let run_dir = &options.run_dir;
    if options.resume
        && let Some(summary) = finished_run(config, run_dir)?
    {
        return Ok(summary);
    }
    let checkpoint = RunDir::checkpoint_to_resume(run_dir, config, options.resume)?;

    let benchmarks: Vec<BenchmarkSpec> = config.eval.benchmarks.iter().map(|b| BenchmarkSpec::parse(b)).collect();
    let mut tables = config.data.sources.clone();
    tables.extend(benchmarks.iter().map(|b| b.table.clone()));
    ensure_tables(config, &tables)?;
    let eval_sets = load_benchmarks(config, &benchmarks)?;
    let model_dir = resolve_model_dir(config)?;
    config.check_freeze_layers(&model_dir)?;
    let prepare = Stopwatch::start();
    let base = SentenceEncoder::load(&model_dir, &config.model.backend.device())?;
    let data = TrainData::load(config, &Tokenizers::new(&base, &config.model)?)?;
    // Evaluation afterwards embeds these texts: with a frozen-layer cache, through it too.
    let also_cache = if config.training.cache_frozen { eval_token_ids(&base, &eval_sets)? } else { Vec::new() };
    let mut trainer = Trainer::new(config.clone(), &base, data, Start { checkpoint, also_cache })?;
    let prepare = prepare.stop();

    // Every check has passed: from here on the run directory changes.
    let run = RunDir::claim(run_dir, config, !options.resume)?;
    let train = Stopwatch::start();
    let fit = trainer.fit(&run, options.stop_after)?;
    let train = train.stop();
    let evaluate = Stopwatch::start();
    let evaluations = match &fit.model_dir {
        Some(dir) if !eval_sets.is_empty() => {
            let trained = trainer.into_trained();
            let cache = trained.cache.map(Mutex::new);
            let evals = evaluate_models(config, run_dir, &base, dir, trained.model, cache.as_ref(), &eval_sets)?;
            if let Some(cache) = cache {
                cache.into_inner().expect("cache lock").store(&config.training.cache_dir)?;
            }
            evals
        }
        _ => Vec::new(),
    };
    let evaluate = evaluate.stop();
    for (name, phase) in [("prepare", prepare), ("train", train), ("evaluate", evaluate)] {
        if let Some(cpu) = phase.cpu_seconds.filter(|_| phase.wall_seconds > 0.0) {
            tracing::info!(
                "{name}: {:.0} s wall, {:.2} cores busy on average",
                phase.wall_seconds,
                cpu / phase.wall_seconds
            );
        }
    }
    let stats = fit.stats;
    let summary = RunSummary {
        steps: fit.steps,
        last_loss: stats.last_loss,
        loss_start_end: stats.loss_start_end,
        pairs_per_second: stats.pairs_per_second,
        model_dir: fit.model_dir,
        evaluations,
        peak_rss_mib: peak_rss_mib(),
        already_finished: false,
    };
    let json = json!({
        "steps": summary.steps, "steps_this_invocation": stats.steps, "last_loss": summary.last_loss,
        "loss_first_tenth": summary.loss_start_end.0, "loss_last_tenth": summary.loss_start_end.1,
        "pairs_per_second": summary.pairs_per_second, "train_seconds": stats.train_seconds, "peak_rss_mib": summary.peak_rss_mib,
        "model_dir": summary.model_dir,
        // Wall and CPU seconds of this invocation's phases (CPU share = cpu / wall, in cores).
        "phases_this_invocation": {
            "prepare": prepare.to_json(), "train": train.to_json(), "evaluate": evaluate.to_json(),
        },
    });
    write_atomic(&run_dir.join("summary.json"), serde_json::to_string_pretty(&json).expect("json").as_bytes())?;
    drop(run);
    Ok(summary)
}

/// A run that already reached its end: `summary.json` for all its steps and the final model.
/// Returns what it reported, with the evaluations its directory holds, after checking that it
/// was made with this config; changes nothing.
fn finished_run(config: &TrainConfig, run_dir: &Path) -> Result<Option<RunSummary>, TrainError> {
    let path = run_dir.join("summary.json");
    let Some(json) =
        std::fs::read_to_string(&path).ok().and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
    else {
        return Ok(None);
    };
    let model_dir = polyret_files::settled_dir(&run_dir.join("model"));
    if json["steps"].as_u64() != Some(config.training.steps) || model_dir.is_none() {
        return Ok(None);
    }
    let own = TrainConfig::load(&run_dir.join("config.toml"), &[])?;
    if own.digest() != config.digest() {
        return Err(TrainError::RunDir {
            path: run_dir.to_owned(),
            message: "this run finished with another config (its config.toml); nothing to resume with this one".into(),
        });
    }
    let number = |key: &str| json[key].as_f64().unwrap_or(f64::NAN);
    tracing::info!("{} already finished ({} steps); nothing to do", run_dir.display(), config.training.steps);
    let mut evaluations = Vec::new();
    for (label, _) in model_labels(config, run_dir) {
        for spec in config.eval.benchmarks.iter().map(|b| BenchmarkSpec::parse(b)) {
            if let Ok(report) = EvalReport::read(&eval_dir(run_dir, &label, &spec)) {
                evaluations.push((label.clone(), report));
            }
        }
    }
    Ok(Some(RunSummary {
        steps: config.training.steps,
        last_loss: number("last_loss"),
        loss_start_end: (number("loss_first_tenth"), number("loss_last_tenth")),
        pairs_per_second: number("pairs_per_second"),
        model_dir: Some(run_dir.join("model")),
        evaluations,
        peak_rss_mib: json["peak_rss_mib"].as_f64(),
        already_finished: true,
    }))
}

/// Loads every benchmark's eval set (with its language filter applied by the evaluator later).
fn load_benchmarks(config: &TrainConfig, specs: &[BenchmarkSpec]) -> anyhow::Result<Vec<(BenchmarkSpec, EvalSet)>> {
    if specs.is_empty() {
        return Ok(Vec::new());
    }
    let catalog = Catalog::load(&config.data.dir.join("parquet").join(polyret_ingest::CATALOG_FILE))?;
    specs
        .iter()
        .map(|spec| {
            let set = catalog.read_eval_set(&spec.table)?;
            // Restricted here as the evaluator will restrict it, so the frozen-layer cache holds
            // only the texts evaluation embeds (Tatoeba: the selected subsets, not all 112).
            let languages = benchmark_languages(config, spec);
            let set = if languages.is_empty() { set } else { set.select_languages(&languages) };
            Ok((spec.clone(), set))
        })
        .collect()
}

/// The languages a benchmark is evaluated in (empty: all).
fn benchmark_languages(config: &TrainConfig, spec: &BenchmarkSpec) -> Vec<String> {
    if spec.languages.is_empty() { config.eval.languages.clone() } else { spec.languages.clone() }
}

/// Token ids of every query and passage text of the benchmarks, as evaluation will embed them.
fn eval_token_ids(base: &SentenceEncoder, sets: &[(BenchmarkSpec, EvalSet)]) -> anyhow::Result<Vec<Vec<u32>>> {
    let mut ids = Vec::new();
    for (_, set) in sets {
        let queries: Vec<&str> = set.queries.iter().map(|q| q.text.as_str()).collect();
        let docs: Vec<&str> = set.corpus.iter().map(|d| d.text.as_str()).collect();
        ids.extend(base.tokenize(&queries, Role::Query)?);
        ids.extend(base.tokenize(&docs, Role::Passage)?);
    }
    Ok(ids)
}

/// Evaluates the fine-tuned model (and the base model when `eval.baseline`) on every benchmark,
/// writing `RUN/eval/<label>/<benchmark>/`.
fn evaluate_models(
    config: &TrainConfig,
    run_dir: &Path,
    base: &SentenceEncoder,
    trained_dir: &Path,
    trained: polyret_encoder::BertModel,
    cache: Option<&Mutex<polyret_train::LayerCache>>,
    sets: &[(BenchmarkSpec, EvalSet)],
) -> anyhow::Result<Vec<(String, EvalReport)>> {
    let device = config.model.backend.device();
    let mut models: Vec<(String, Box<dyn Embedder + '_>)> = Vec::new();
    let mut trained = Some(trained);
    for (label, is_trained) in model_labels(config, run_dir) {
        let embedder: Box<dyn Embedder + '_> = match (cache, is_trained) {
            (Some(cache), _) => {
                let (model, fingerprint) = if is_trained {
                    let fingerprint = SentenceEncoder::load(trained_dir, &device)?.fingerprint().to_string();
                    (trained.take().expect("one trained model"), fingerprint)
                } else {
                    (base.model().clone(), base.fingerprint().to_string())
                };
                Box::new(CachedEmbedder {
                    model,
                    cache,
                    tokenizer: base.tokenizer(),
                    sentence: base.sentence_config().clone(),
                    device: device.clone(),
                    fingerprint,
                })
            }
            (None, false) => Box::new(base.clone()),
            (None, true) => {
                drop(trained.take());
                Box::new(SentenceEncoder::load(trained_dir, &device)?)
            }
        };
        models.push((label, embedder));
    }
    let mut out = Vec::new();
    for (label, embedder) in &models {
        for (spec, set) in sets {
            let languages = benchmark_languages(config, spec);
            let options = EvalOptions {
                model_name: label.clone(),
                langs: (!languages.is_empty()).then_some(languages),
                cache_dir: polyret_evaluator::default_cache_dir(),
                ..EvalOptions::default()
            };
            let started = Instant::now();
            let mut evaluation = polyret_evaluator::evaluate(embedder.as_ref(), set, &options)?;
            evaluation.write(&eval_dir(run_dir, label, spec))?;
            tracing::info!(model = %label, benchmark = %spec.table, seconds = started.elapsed().as_secs_f64(), "evaluated");
            out.push((label.clone(), evaluation.report));
        }
    }
    Ok(out)
}

/// The models a run evaluates, as (label, whether it is the fine-tuned one): the base model
/// first when `eval.baseline`.
fn model_labels(config: &TrainConfig, run_dir: &Path) -> Vec<(String, bool)> {
    let base_name = Path::new(&config.model.name)
        .file_name()
        .map_or(config.model.name.clone(), |n| n.to_string_lossy().into_owned());
    let trained_name = format!("{base_name}+{}", run_dir.file_name().map_or("run".into(), |n| n.to_string_lossy()));
    let mut labels = Vec::new();
    if config.eval.baseline {
        labels.push((base_name, false));
    }
    labels.push((trained_name, true));
    labels
}

/// Where one evaluation of a run is written: `RUN/eval/<model label>/<benchmark>/`.
fn eval_dir(run_dir: &Path, label: &str, spec: &BenchmarkSpec) -> PathBuf {
    run_dir.join("eval").join(label.replace('/', "--")).join(&spec.table)
}

/// Wall and CPU time of one phase of a run: how many cores it kept busy (`cpu_seconds /
/// wall_seconds`; this process only, all its threads).
#[derive(Debug, Clone, Copy)]
struct PhaseTime {
    wall_seconds: f64,
    /// `None` where the platform does not report CPU time.
    cpu_seconds: Option<f64>,
}

impl PhaseTime {
    fn to_json(self) -> serde_json::Value {
        json!({ "wall_seconds": self.wall_seconds, "cpu_seconds": self.cpu_seconds })
    }
}

/// Measures a [`PhaseTime`] from [`Stopwatch::start`] to [`Stopwatch::stop`].
struct Stopwatch {
    wall: std::time::Instant,
    cpu: Option<f64>,
}

impl Stopwatch {
    fn start() -> Self {
        Self { wall: std::time::Instant::now(), cpu: cpu_seconds() }
    }

    fn stop(self) -> PhaseTime {
        let cpu = cpu_seconds().zip(self.cpu).map(|(now, then)| now - then);
        PhaseTime { wall_seconds: self.wall.elapsed().as_secs_f64(), cpu_seconds: cpu }
    }
}

/// CPU time (user + system, all threads) this process has used so far, in seconds.
pub fn cpu_seconds() -> Option<f64> {
    #[cfg(unix)]
    {
        let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
        // SAFETY: `getrusage` fills the struct it is given; on failure it is not read.
        let usage = unsafe {
            if libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) != 0 {
                return None;
            }
            usage.assume_init()
        };
        let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
        Some(seconds(usage.ru_utime) + seconds(usage.ru_stime))
    }
    #[cfg(not(unix))]
    None
}

/// Peak resident set size of this process in MiB (Linux), for the GradCache memory figures.
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}
