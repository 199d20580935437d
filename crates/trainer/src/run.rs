//! A training run: resolve model and data, build the trainee, loop over sampled batches with
//! logging, validation and checkpoints, save the final model, evaluate.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use burn::module::Module;
use indicatif::{ProgressBar, ProgressStyle};
use polyret_encoder::weights::WeightMap;
use polyret_encoder::{BertConfig, BertModel, Role, SentenceEncoder, TextTokenizer, save_model_dir};
use polyret_evaluator::{Embedder, EvalOptions, EvalReport};
use polyret_files::write_atomic;
use polyret_ingest::{Catalog, EvalSet};
use polyret_sampler::{Sampler, SamplerConfig};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::sync::Mutex;

use crate::TrainError;
use crate::cache::LayerCache;
use crate::checkpoint::{self, CheckpointState, InvocationStats, WORD_EMBEDDINGS, checkpoint_dir};
use crate::config::TrainConfig;
use crate::data::{PairSet, PairTokens, Tokenizers};
use crate::embedder::CachedEmbedder;
use crate::optim::{AdamW, SparseEmbedding, learning_rate};
use crate::step::Trainee;

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
pub fn resolve_model_dir(config: &TrainConfig) -> Result<PathBuf, TrainError> {
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
pub fn ensure_tables(config: &TrainConfig, names: &[String]) -> Result<(), TrainError> {
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
            )));
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

/// Digest of the resolved config (what a checkpoint must match to resume).
pub fn config_digest(config: &TrainConfig) -> String {
    hex::encode(&Sha256::digest(config.to_toml().as_bytes())[..12])
}

/// Runs (or resumes) training.
///
/// Nothing in the run directory changes until every check has passed — the config against the
/// checkpoint, the data, the model, `training.freeze_layers`, the sampler — so a refused start
/// leaves the directory as it was (or absent). Resuming a finished run changes nothing and
/// returns its summary ([`RunSummary::already_finished`]); resuming after a kill between the
/// last checkpoint and the final save finishes the save. While it trains, the run holds a lock
/// on its directory: a second process is refused.
pub fn train(options: &RunOptions) -> Result<RunSummary, TrainError> {
    let config = &options.config;
    let run_dir = &options.run_dir;
    let ckpt_dir = checkpoint_dir(run_dir);
    let digest = config_digest(config);
    if options.resume
        && let Some(summary) = finished_run(config, run_dir)?
    {
        return Ok(summary);
    }
    let checkpoint = start_checkpoint(options, &digest)?;

    let benchmarks: Vec<BenchmarkSpec> = config.eval.benchmarks.iter().map(|b| BenchmarkSpec::parse(b)).collect();
    let mut tables = config.data.sources.clone();
    tables.extend(benchmarks.iter().map(|b| b.table.clone()));
    ensure_tables(config, &tables)?;
    let eval_sets = load_benchmarks(config, &benchmarks)?;
    let model_dir = resolve_model_dir(config)?;
    let frozen = check_freeze_layers(config, &model_dir)?;
    let device = config.model.backend.device();
    let base = SentenceEncoder::load(&model_dir, &device)?;
    let sentence = base.sentence_config().clone();
    let bert = base.model().config().clone();
    let tokenizer_path = base.tokenizer().path().to_owned();
    let pad_id = base.tokenizer().pad_id();
    let query_tok = TextTokenizer::from_file(
        &tokenizer_path,
        config.model.max_query_tokens.min(bert.max_input_tokens()),
        bert.pad_token_id,
    )?;
    let passage_tok = TextTokenizer::from_file(
        &tokenizer_path,
        config.model.max_passage_tokens.min(bert.max_input_tokens()),
        bert.pad_token_id,
    )?;
    let prompt = |text: &str, role| base.prompt(text, role);
    let tokenizers = Tokenizers { query: &query_tok, passage: &passage_tok, prompt: &prompt };
    let train_set = PairSet::load(&config.data, &config.data.split, &tokenizers)?;
    let validation = load_validation(config, &tokenizers)?;
    if config.loss.hard_negatives && !train_set.all_have_negatives() {
        return Err(TrainError::Data("loss.hard_negatives is set but some training rows have no negative".into()));
    }

    // The trainee, fresh or from the checkpoint.
    let ad_device = device.clone().autodiff();
    let mut restored = match &checkpoint {
        Some(dir) => Some(checkpoint::load(dir, &digest, config.training.steps)?),
        None => None,
    };
    let weights = match &mut restored {
        Some(r) => std::mem::take(&mut r.weights),
        None => base.model().to_weights(),
    };
    let freeze_embeddings = config.training.freeze_embeddings || frozen > 0;
    let sparse = config.training.sparse_embeddings && !freeze_embeddings && !config.training.cache_frozen;
    let words = sparse.then(|| {
        let w = &weights[WORD_EMBEDDINGS];
        SparseEmbedding::new(w.shape[0], w.shape[1], w.data.clone())
    });
    let (model, _) = BertModel::from_weights(&bert, WeightMap::new(&ckpt_dir, weights), &ad_device)?;
    let model = freeze(model, freeze_embeddings, sparse, frozen);
    let (adam, start_step, sampler) = match &mut restored {
        Some(r) => {
            let adam = AdamW::import(&r.moments, r.state.adam_steps, &device);
            let sampler =
                Sampler::resume(Arc::clone(&train_set.index), sampler_config(config)?, r.state.sampler.clone())?;
            (adam, r.state.step, sampler)
        }
        None => (AdamW::default(), 0, Sampler::new(Arc::clone(&train_set.index), sampler_config(config)?)?),
    };
    let validation_batches = validation.as_ref().map(|v| validation_batches(v, config)).transpose()?;
    let cache = if config.training.cache_frozen {
        let eval_ids = eval_token_ids(&base, &eval_sets)?;
        let mut sequences: Vec<&[u32]> = train_set.all_sequences().collect();
        if let Some(v) = &validation {
            sequences.extend(v.all_sequences());
        }
        sequences.extend(eval_ids.iter().map(Vec::as_slice));
        Some(load_or_build_cache(config, base.model(), base.fingerprint(), pad_id, sequences, &device)?)
    } else {
        None
    };
    let mut trainee =
        Trainee::new(model, words, cache, adam, sentence.clone(), ad_device, pad_id, frozen, config.training.dropout);
    if config.training.pad_to_max {
        trainee.pad_to = Some((query_tok.max_len(), passage_tok.max_len()));
    }
    let invocation_before = restored.as_ref().and_then(|r| r.state.invocation.clone());
    if let (Some(r), Some(table)) = (&mut restored, &mut trainee.words) {
        checkpoint::restore_sparse(table, r);
    }
    drop(restored);
    if let Some(excluded) = Some(sampler.excluded()).filter(|e| !e.is_empty()) {
        tracing::warn!("sampler excluded: {excluded:?}");
    }

    // Every check has passed: from here on the run directory changes.
    let _lock = claim_run_dir(run_dir)?;
    polyret_files::recover_dir(&ckpt_dir)?;
    polyret_files::recover_dir(&run_dir.join("model"))?;
    if !options.resume {
        write_atomic(&run_dir.join("config.toml"), config.to_toml().as_bytes())?;
    }
    let metrics_path = run_dir.join("metrics.jsonl");
    let mut metrics = open_metrics(&metrics_path, start_step)?;
    let batches_path = run_dir.join("batches.jsonl");
    let mut batch_log = if config.training.log_batches { Some(open_metrics(&batches_path, start_step)?) } else { None };
    let total = config.training.steps;
    let last = options.stop_after.map_or(total, |n| (start_step + n).min(total));
    let bar = ProgressBar::new(total).with_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} steps [{elapsed_precise} < {eta_precise}] {msg}")
            .expect("template"),
    );
    bar.set_position(start_step);
    let mut sampler = sampler;
    let mut losses = Vec::new();
    let mut seconds = 0.0;
    let mut pairs_done = 0usize;
    let mut last_checkpoint = checkpoint.is_some().then_some(start_step);
    for step in start_step..last {
        let batch = sampler.next_batch();
        let done = step + 1;
        if let Some(log) = &mut batch_log {
            writeln!(log, "{}", batch_json(&train_set, &batch, done)).map_err(|e| TrainError::io(&batches_path, e))?;
        }
        let pairs: Vec<PairTokens<'_>> = batch.pairs.iter().map(|p| train_set.pair(p)).collect();
        let lr = learning_rate(&config.optimizer, step, total);
        let seed = config.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ step;
        let stats = trainee.step(config, &pairs, lr, seed);
        if !stats.loss.is_finite() || !stats.grad_norm.is_finite() {
            bar.abandon();
            return Err(TrainError::NonFinite {
                step: done,
                loss: stats.loss,
                grad_norm: stats.grad_norm,
                checkpoint: last_checkpoint.map(|_| ckpt_dir.clone()),
                checkpoint_step: last_checkpoint,
            });
        }
        losses.push(stats.loss);
        seconds += stats.seconds;
        pairs_done += pairs.len();
        if done % config.training.log_every.max(1) == 0 || done == last {
            let line = json!({
                "step": done, "loss": stats.loss, "lr": lr, "grad_norm": stats.grad_norm,
                "pairs_per_s": pairs.len() as f64 / stats.seconds, "tokens_per_s": stats.tokens as f64 / stats.seconds,
                "batch_kind": batch.kind.as_str(), "epoch": batch.epoch, "step_seconds": stats.seconds,
            });
            writeln!(metrics, "{line}").map_err(|e| TrainError::io(&metrics_path, e))?;
        }
        let validate_every = config.eval.validate_every;
        if let Some(batches) = &validation_batches
            && ((validate_every > 0 && done % validate_every == 0) || done == total)
        {
            let pairs: Vec<Vec<PairTokens<'_>>> = batches
                .iter()
                .map(|b| b.pairs.iter().map(|p| validation.as_ref().expect("validation set").pair(p)).collect())
                .collect();
            let val = trainee.validation_loss(config, &pairs);
            writeln!(metrics, "{}", json!({"step": done, "val_loss": val}))
                .map_err(|e| TrainError::io(&metrics_path, e))?;
            tracing::info!(step = done, val_loss = val, "validation");
        }
        bar.set_message(format!("loss {:.4} · {:.1} pairs/s", stats.loss, pairs.len() as f64 / stats.seconds));
        bar.inc(1);
        let every = config.training.checkpoint_every;
        if done == last || (every > 0 && done % every == 0) {
            metrics.flush().map_err(|e| TrainError::io(&metrics_path, e))?;
            if let Some(log) = &mut batch_log {
                log.flush().map_err(|e| TrainError::io(&batches_path, e))?;
            }
            let state = CheckpointState {
                step: done,
                adam_steps: trainee.adam.steps,
                sparse_steps: trainee.words.as_ref().map_or(0, |t| t.steps),
                sampler: sampler.state(),
                config_digest: digest.clone(),
                invocation: Some(InvocationStats::new(&losses, pairs_done, seconds)),
            };
            checkpoint::save(&ckpt_dir, &trainee, &state)?;
            last_checkpoint = Some(done);
        }
    }
    bar.finish_and_clear();
    metrics.flush().map_err(|e| TrainError::io(&metrics_path, e))?;
    if let Some(log) = &mut batch_log {
        log.flush().map_err(|e| TrainError::io(&batches_path, e))?;
    }

    let finished = last == total;
    let model_out = if finished {
        let dir = run_dir.join("model");
        let weights = checkpoint::model_weights(&trainee);
        save_model_dir(&dir, &bert, &weights, &tokenizer_path, &sentence)?;
        tracing::info!(dir = %dir.display(), "saved model");
        Some(dir)
    } else {
        None
    };
    let evaluations = match &model_out {
        Some(dir) if !eval_sets.is_empty() => {
            let cache = trainee.cache.take().map(Mutex::new);
            let trained = trainee.model().valid();
            drop(trainee);
            let evals = evaluate_models(config, run_dir, &base, dir, trained, cache.as_ref(), &eval_sets)?;
            if let Some(cache) = cache {
                save_cache(config, cache.into_inner().expect("cache lock"), base.fingerprint())?;
            }
            evals
        }
        _ => Vec::new(),
    };
    // A resume with no step left (killed after its last checkpoint) reports the invocation that
    // trained, as that invocation would have.
    let stats = match invocation_before {
        Some(before) if losses.is_empty() => before,
        _ => InvocationStats::new(&losses, pairs_done, seconds),
    };
    let summary = RunSummary {
        steps: last,
        last_loss: stats.last_loss,
        loss_start_end: stats.loss_start_end,
        pairs_per_second: stats.pairs_per_second,
        model_dir: model_out,
        evaluations,
        peak_rss_mib: peak_rss_mib(),
        already_finished: false,
    };
    let json = json!({
        "steps": summary.steps, "steps_this_invocation": stats.steps, "last_loss": summary.last_loss,
        "loss_first_tenth": summary.loss_start_end.0, "loss_last_tenth": summary.loss_start_end.1,
        "pairs_per_second": summary.pairs_per_second, "train_seconds": stats.train_seconds, "peak_rss_mib": summary.peak_rss_mib,
        "model_dir": summary.model_dir,
    });
    write_atomic(&run_dir.join("summary.json"), serde_json::to_string_pretty(&json).expect("json").as_bytes())?;
    Ok(summary)
}

/// Whether `run_dir` holds a run: a checkpoint (possibly mid-replacement after a kill) or a
/// finished run's summary. `--resume` continues such a run; a fresh start is refused there.
pub fn run_exists(run_dir: &Path) -> bool {
    let ckpt = polyret_files::settled_dir(&checkpoint_dir(run_dir));
    ckpt.is_some_and(|d| d.join("state.json").is_file()) || run_dir.join("summary.json").is_file()
}

/// The checkpoint a start continues from (resume) after checking, without changing anything,
/// that the start makes sense: a fresh start needs a directory without a run, a resume needs a
/// checkpoint of this config within its steps (only `state.json` is read here).
fn start_checkpoint(options: &RunOptions, digest: &str) -> Result<Option<PathBuf>, TrainError> {
    let ckpt_dir = checkpoint_dir(&options.run_dir);
    if !options.resume {
        if run_exists(&options.run_dir) {
            return Err(TrainError::Checkpoint {
                path: ckpt_dir,
                message: "a run already exists here: pass --resume to continue it, or choose another --out".into(),
            });
        }
        return Ok(None);
    }
    let Some(dir) = polyret_files::settled_dir(&ckpt_dir).filter(|d| d.join("state.json").is_file()) else {
        return Err(TrainError::Checkpoint {
            path: ckpt_dir,
            message: "no checkpoint to resume from (none written yet, or removed after the run finished)".into(),
        });
    };
    checkpoint::read_state(&dir, digest, options.config.training.steps)?;
    Ok(Some(dir))
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
    if config_digest(&own) != config_digest(config) {
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

/// `training.freeze_layers` against the model's depth, read from its `config.json` before the
/// model loads: freezing every layer trains nothing. Returns the layers to freeze.
fn check_freeze_layers(config: &TrainConfig, model_dir: &Path) -> Result<usize, TrainError> {
    let layers = BertConfig::from_file(&model_dir.join("config.json"))?.num_hidden_layers;
    let frozen = config.training.freeze_layers;
    if frozen >= layers {
        return Err(TrainError::Config {
            path: model_dir.join("config.json"),
            message: format!(
                "training.freeze_layers = {frozen} is out of range: the model has {layers} layers, so at most {} \
                 (freezing them all leaves nothing to train)",
                layers.saturating_sub(1)
            ),
        });
    }
    Ok(frozen)
}

/// Creates the run directory and takes its lock for the rest of the run.
fn claim_run_dir(run_dir: &Path) -> Result<polyret_files::DirLock, TrainError> {
    polyret_files::DirLock::try_acquire(run_dir)?.ok_or_else(|| TrainError::RunDir {
        path: run_dir.to_owned(),
        message: "another process is training in this directory".into(),
    })
}

/// Loads every benchmark's eval set (with its language filter applied by the evaluator later).
fn load_benchmarks(config: &TrainConfig, specs: &[BenchmarkSpec]) -> Result<Vec<(BenchmarkSpec, EvalSet)>, TrainError> {
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
fn eval_token_ids(base: &SentenceEncoder, sets: &[(BenchmarkSpec, EvalSet)]) -> Result<Vec<Vec<u32>>, TrainError> {
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
    trained: BertModel,
    cache: Option<&Mutex<LayerCache>>,
    sets: &[(BenchmarkSpec, EvalSet)],
) -> Result<Vec<(String, EvalReport)>, TrainError> {
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
                out_dir: Some(eval_dir(run_dir, label, spec)),
                cache_dir: polyret_evaluator::default_cache_dir(),
                ..EvalOptions::default()
            };
            let started = Instant::now();
            let evaluation = polyret_evaluator::evaluate(embedder.as_ref(), set, &options)?;
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

/// Peak resident set size of this process in MiB (Linux), for the GradCache memory figures.
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// One line of `batches.jsonl`, in `polyret sample`'s format.
fn batch_json(set: &PairSet, batch: &polyret_sampler::Batch, step: u64) -> serde_json::Value {
    let index = &set.index;
    let pairs: Vec<serde_json::Value> = batch
        .pairs
        .iter()
        .map(|p| {
            json!({"group_id": index.group_id(p.group), "source": index.group_source(p.group),
                   "query_lang": index.lang_code(p.query_lang), "passage_lang": index.lang_code(p.passage_lang)})
        })
        .collect();
    json!({"step": step, "batch": batch.index, "kind": batch.kind.as_str(), "pairs": pairs})
}

fn sampler_config(config: &TrainConfig) -> Result<SamplerConfig, TrainError> {
    config.sampler_config().map_err(TrainError::Data)
}

/// Turns off gradients for what is frozen: embeddings (all of them when frozen; only the word
/// table when it is trained sparsely on the host) and the bottom `layers` layers.
fn freeze(mut model: BertModel, embeddings: bool, sparse_words: bool, layers: usize) -> BertModel {
    if embeddings {
        model.embeddings = model.embeddings.no_grad();
    } else if sparse_words {
        model.embeddings.word = model.embeddings.word.set_require_grad(false);
    }
    for layer in model.layers.iter_mut().take(layers) {
        *layer = layer.clone().no_grad();
    }
    if layers > 0 || embeddings {
        model.pooler = model.pooler.map(|p| p.no_grad());
    }
    model
}

fn load_validation(config: &TrainConfig, tokenizers: &Tokenizers<'_>) -> Result<Option<PairSet>, TrainError> {
    if config.data.validation_pairs == 0 {
        return Ok(None);
    }
    match PairSet::load(&config.data, &config.data.validation_split, tokenizers) {
        Ok(set) => Ok(Some(set)),
        Err(TrainError::Data(message)) => {
            tracing::warn!("no validation pairs: {message}");
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Fixed validation batches: the first `validation_pairs` pairs the training strategy draws from
/// the held-out groups with a fixed seed, so every evaluation sees the same pairs.
fn validation_batches(set: &PairSet, config: &TrainConfig) -> Result<Vec<polyret_sampler::Batch>, TrainError> {
    let mut sampler_cfg = sampler_config(config)?;
    sampler_cfg.seed = 0x5EED;
    sampler_cfg.batch_size = sampler_cfg.batch_size.min(set.index.len());
    let mut sampler = Sampler::new(Arc::clone(&set.index), sampler_cfg)?;
    let batches = config.data.validation_pairs.div_ceil(sampler.config().batch_size);
    Ok((0..batches).map(|_| sampler.next_batch()).collect())
}

/// Loads the frozen-layer cache, computes what it lacks and saves it, holding the lock on the
/// cache directory throughout: runs of the same model started together wait for the first, then
/// find its states cached instead of computing them again.
fn load_or_build_cache(
    config: &TrainConfig,
    model: &BertModel,
    fingerprint: &str,
    pad_id: u32,
    sequences: Vec<&[u32]>,
    device: &burn::tensor::Device,
) -> Result<LayerCache, TrainError> {
    let layer = config.training.freeze_layers.min(model.layers.len());
    let path = cache_path(&config.training.cache_dir, fingerprint, layer);
    let _lock = polyret_files::DirLock::acquire(&config.training.cache_dir)?;
    let mut cache = LayerCache::load(&path, layer, fingerprint)?
        .unwrap_or_else(|| LayerCache::new(layer, model.config().hidden_size, fingerprint));
    let started = Instant::now();
    let added = cache.extend(model, pad_id, sequences, device);
    if added > 0 || !cache.matches_file(&path) {
        tracing::info!(added, seconds = started.elapsed().as_secs_f64(), path = %path.display(), "layer cache extended");
        cache.save(&path)?;
    }
    Ok(cache)
}

/// Writes the cache back if evaluation added texts to it, under the directory's lock, keeping
/// what other runs added to the file since this one loaded it.
fn save_cache(config: &TrainConfig, mut cache: LayerCache, fingerprint: &str) -> Result<(), TrainError> {
    if !cache.is_dirty() {
        return Ok(());
    }
    let path = cache_path(&config.training.cache_dir, fingerprint, cache.layer());
    let _lock = polyret_files::DirLock::acquire(&config.training.cache_dir)?;
    if !cache.matches_file(&path)
        && let Some(theirs) = LayerCache::load(&path, cache.layer(), fingerprint)?
    {
        cache.absorb(theirs);
    }
    cache.save(&path)
}

/// Where the cache of `layer` frozen layers of the model with `fingerprint` lives.
pub fn cache_path(dir: &Path, fingerprint: &str, layer: usize) -> PathBuf {
    dir.join(format!("{fingerprint}-layer{layer}.bin"))
}

/// Opens `metrics.jsonl` for appending, first dropping lines after `keep_until` (a resumed run
/// repeats the steps after its checkpoint).
fn open_metrics(path: &Path, keep_until: u64) -> Result<std::io::BufWriter<std::fs::File>, TrainError> {
    let kept: Vec<String> = match std::fs::read_to_string(path) {
        Ok(text) if keep_until > 0 => text
            .lines()
            .filter(|l| {
                serde_json::from_str::<serde_json::Value>(l)
                    .ok()
                    .and_then(|v| v["step"].as_u64())
                    .is_some_and(|s| s <= keep_until)
            })
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    };
    let mut body = kept.join("\n");
    if !body.is_empty() {
        body.push('\n');
    }
    write_atomic(path, body.as_bytes())?;
    let file = std::fs::OpenOptions::new().append(true).open(path).map_err(|e| TrainError::io(path, e))?;
    Ok(std::io::BufWriter::new(file))
}
