//! The [`Trainer`]: config, model, optimisers and sampler position, with [`Trainer::step`] (one
//! batch) and [`Trainer::fit`] (the training loop of a run directory).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::module::Module;
use indicatif::{ProgressBar, ProgressStyle};
use polyret_encoder::{BertConfig, BertModel, SentenceConfig, SentenceEncoder, WeightMap, save_model_dir};
use polyret_sampler::{Batch, BatchRecord, GroupIndex, Sampler};
use serde_json::json;

use crate::cache::LayerCache;
use crate::checkpoint::{self, CheckpointState, InvocationStats, WORD_EMBEDDINGS};
use crate::config::{TrainConfig, freeze_layers_in_range};
use crate::data::{PairTokens, TrainData};
use crate::optim::{AdamW, SparseEmbedding, learning_rate};
use crate::run_dir::{RunDir, open_log};
use crate::step::{StepStats, Trainee};
use crate::{PairSet, TrainError};

/// How a [`Trainer`] starts, besides its config, model and data.
#[derive(Debug, Default, Clone)]
pub struct Start {
    /// Continue from this checkpoint (see [`RunDir::checkpoint_to_resume`]).
    pub checkpoint: Option<PathBuf>,
    /// With `training.cache_frozen`: more token sequences for the frozen-layer cache besides
    /// the training and validation texts, e.g. what evaluation will embed afterwards, so that it
    /// runs on the cache too.
    pub also_cache: Vec<Vec<u32>>,
}

/// One step's outcome.
#[derive(Debug, Clone)]
pub struct StepReport {
    /// Steps done, this one included (counted from 1, as in `metrics.jsonl`).
    pub step: u64,
    /// The batch the step trained on.
    pub batch: Batch,
    /// Learning rate of the step.
    pub lr: f64,
    /// Loss, gradient norm, tokens, time. When the loss or the gradient norm is not finite the
    /// weights were left as they were.
    pub stats: StepStats,
}

/// What [`Trainer::fit`] did.
#[derive(Debug, Clone)]
pub struct Fit {
    /// Steps done in total.
    pub steps: u64,
    /// This invocation's figures; for a resume with no step left, those of the invocation that
    /// wrote the last checkpoint.
    pub stats: InvocationStats,
    /// The final model (HF + sentence-transformers layout), when the run reached its end.
    pub model_dir: Option<PathBuf>,
}

/// What a trainer leaves for evaluation: the trained model and the frozen-layer cache.
#[derive(Debug)]
pub struct Trained {
    /// The model, without autodiff.
    pub model: BertModel,
    /// The frozen-layer cache, with `training.cache_frozen`.
    pub cache: Option<LayerCache>,
}

/// Fine-tunes a sentence encoder with InfoNCE over sampled batches of loaded pairs.
pub struct Trainer {
    config: TrainConfig,
    trainee: Trainee,
    sampler: Sampler,
    data: TrainData,
    validation_batches: Option<Vec<Batch>>,
    /// Steps done.
    step: u64,
    /// The step of the checkpoint resumed from or last written.
    last_checkpoint: Option<u64>,
    /// The invocation that wrote the checkpoint resumed from.
    invocation_before: Option<InvocationStats>,
    bert: BertConfig,
    sentence: SentenceConfig,
    tokenizer_path: PathBuf,
}

impl Trainer {
    /// A trainer of `base` on `data`, fresh or from `start.checkpoint`.
    ///
    /// Checks everything before the expensive part: `training.freeze_layers` against the
    /// model, hard negatives against the data, the checkpoint against the config, the sampler
    /// against the groups. With `training.cache_frozen`, then loads or builds the frozen-layer
    /// cache in `training.cache_dir`.
    pub fn new(config: TrainConfig, base: &SentenceEncoder, data: TrainData, start: Start) -> Result<Self, TrainError> {
        let bert = base.model().config().clone();
        let frozen = freeze_layers_in_range(
            config.training.freeze_layers,
            bert.num_hidden_layers,
            &base.tokenizer().path().with_file_name("config.json"),
        )?;
        if config.loss.hard_negatives && !data.train.all_have_negatives() {
            return Err(TrainError::Data("loss.hard_negatives is set but some training rows have no negative".into()));
        }
        let device = config.model.backend.device();
        let ad_device = device.clone().autodiff();
        let mut restored = match &start.checkpoint {
            Some(dir) => Some(checkpoint::load(dir, &config.digest(), config.training.steps)?),
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
        // Where the weights come from, for error messages.
        let origin = start.checkpoint.clone().or_else(|| base.tokenizer().path().parent().map(Path::to_owned));
        let (model, _) =
            BertModel::from_weights(&bert, WeightMap::new(origin.unwrap_or_default(), weights), &ad_device)?;
        let mut model = freeze(model, freeze_embeddings, sparse, frozen);
        model.set_precision(config.training.precision);
        let sampler_config = config.sampler_config()?;
        // Backends in host memory update the dense weights on the host (see `AdamW::new`).
        let host_optimizer = config.model.backend.host_memory();
        let (adam, step, sampler) = match &mut restored {
            Some(r) => {
                let adam = AdamW::import(&r.moments, r.state.adam_steps, &device, host_optimizer);
                let sampler = Sampler::resume(Arc::clone(&data.train.index), sampler_config, r.state.sampler.clone())?;
                (adam, r.state.step, sampler)
            }
            None => (AdamW::new(host_optimizer), 0, Sampler::new(Arc::clone(&data.train.index), sampler_config)?),
        };
        let validation_batches = data.validation.as_ref().map(|v| validation_batches(v, &config)).transpose()?;
        let cache = if config.training.cache_frozen {
            let mut sequences: Vec<&[u32]> = data.train.all_sequences().collect();
            if let Some(v) = &data.validation {
                sequences.extend(v.all_sequences());
            }
            sequences.extend(start.also_cache.iter().map(Vec::as_slice));
            let layer = frozen.min(base.model().layers.len());
            let (dir, pad_id) = (&config.training.cache_dir, base.tokenizer().pad_id());
            Some(LayerCache::load_or_build(dir, layer, base.model(), base.fingerprint(), pad_id, sequences, &device)?)
        } else {
            None
        };
        let sentence = base.sentence_config().clone();
        let pad_id = base.tokenizer().pad_id();
        let mut trainee = Trainee::new(
            model,
            words,
            cache,
            adam,
            sentence.clone(),
            ad_device,
            pad_id,
            frozen,
            config.training.dropout,
        );
        if config.training.pad_to_max {
            let limit = |tokens: usize| tokens.min(bert.max_input_tokens());
            trainee.pad_to = Some((limit(config.model.max_query_tokens), limit(config.model.max_passage_tokens)));
        }
        let invocation_before = restored.as_ref().and_then(|r| r.state.invocation.clone());
        if let (Some(r), Some(table)) = (&mut restored, &mut trainee.words) {
            checkpoint::restore_sparse(table, r);
        }
        drop(restored);
        if let Some(excluded) = Some(sampler.excluded()).filter(|e| !e.is_empty()) {
            tracing::warn!("sampler excluded: {excluded:?}");
        }
        Ok(Self {
            last_checkpoint: start.checkpoint.is_some().then_some(step),
            config,
            trainee,
            sampler,
            data,
            validation_batches,
            step,
            invocation_before,
            bert,
            sentence,
            tokenizer_path: base.tokenizer().path().to_owned(),
        })
    }

    /// The config.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// Steps done (from a checkpoint included).
    pub fn steps_done(&self) -> u64 {
        self.step
    }

    /// The model being trained (on the autodiff device).
    pub fn model(&self) -> &BertModel {
        self.trainee.model()
    }

    /// One optimisation step on the sampler's next batch: the learning rate of the schedule at
    /// this step, dropout seeded by the config's seed and the step.
    pub fn step(&mut self) -> StepReport {
        let batch = self.sampler.next_batch();
        let pairs: Vec<PairTokens<'_>> = batch.pairs.iter().map(|p| self.data.train.pair(p)).collect();
        let lr = learning_rate(&self.config.optimizer, self.step, self.config.training.steps);
        let seed = self.config.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ self.step;
        let stats = self.trainee.step(&self.config, &pairs, lr, seed);
        self.step += 1;
        StepReport { step: self.step, batch, lr, stats }
    }

    /// Mean InfoNCE over the fixed validation batches (no dropout, no update); `None` without
    /// validation pairs.
    pub fn validation_loss(&self) -> Option<f64> {
        let (set, batches) = (self.data.validation.as_ref()?, self.validation_batches.as_ref()?);
        let pairs: Vec<Vec<PairTokens<'_>>> =
            batches.iter().map(|b| b.pairs.iter().map(|p| set.pair(p)).collect()).collect();
        Some(self.trainee.validation_loss(&self.config, &pairs))
    }

    /// Trains in `run` up to `training.steps`, or for `stop_after` steps of this call (the run
    /// stays resumable): a line per `training.log_every` steps in `metrics.jsonl` (and one per
    /// step in `batches.jsonl` with `training.log_batches`), the validation loss every
    /// `eval.validate_every` steps and at the end, a checkpoint every
    /// `training.checkpoint_every` steps and at the last step of the call, and the final model
    /// in `run/model` when the run reaches its end. Log lines after the step the trainer started
    /// from (a resume repeats them) are dropped first.
    pub fn fit(&mut self, run: &RunDir, stop_after: Option<u64>) -> Result<Fit, TrainError> {
        let start = self.step;
        let metrics_path = run.path().join("metrics.jsonl");
        let mut metrics = open_log(&metrics_path, start)?;
        let batches_path = run.path().join("batches.jsonl");
        let mut batch_log = if self.config.training.log_batches { Some(open_log(&batches_path, start)?) } else { None };
        let total = self.config.training.steps;
        let last = stop_after.map_or(total, |n| (start + n).min(total));
        let bar = ProgressBar::new(total).with_style(
            ProgressStyle::with_template("{bar:30} {pos}/{len} steps [{elapsed_precise} < {eta_precise}] {msg}")
                .expect("template"),
        );
        bar.set_position(start);
        let mut losses = Vec::new();
        let mut seconds = 0.0;
        let mut pairs_done = 0usize;
        while self.step < last {
            let StepReport { step: done, batch, lr, stats } = self.step();
            if let Some(log) = &mut batch_log {
                writeln!(log, "{}", batch_line(&self.data.train.index, &batch, done))
                    .map_err(|e| TrainError::io(&batches_path, e))?;
            }
            if !stats.loss.is_finite() || !stats.grad_norm.is_finite() {
                bar.abandon();
                return Err(TrainError::NonFinite {
                    step: done,
                    loss: stats.loss,
                    grad_norm: stats.grad_norm,
                    checkpoint: self.last_checkpoint.map(|_| run.checkpoint_dir()),
                    checkpoint_step: self.last_checkpoint,
                });
            }
            let pairs = batch.pairs.len();
            losses.push(stats.loss);
            seconds += stats.seconds;
            pairs_done += pairs;
            if done % self.config.training.log_every.max(1) == 0 || done == last {
                let line = json!({
                    "step": done, "loss": stats.loss, "lr": lr, "grad_norm": stats.grad_norm,
                    "pairs_per_s": pairs as f64 / stats.seconds, "tokens_per_s": stats.tokens as f64 / stats.seconds,
                    "batch_kind": batch.kind.as_str(), "epoch": batch.epoch, "step_seconds": stats.seconds,
                });
                writeln!(metrics, "{line}").map_err(|e| TrainError::io(&metrics_path, e))?;
            }
            let validate_every = self.config.eval.validate_every;
            if ((validate_every > 0 && done % validate_every == 0) || done == total)
                && let Some(val) = self.validation_loss()
            {
                writeln!(metrics, "{}", json!({"step": done, "val_loss": val}))
                    .map_err(|e| TrainError::io(&metrics_path, e))?;
                tracing::info!(step = done, val_loss = val, "validation");
            }
            bar.set_message(format!("loss {:.4} · {:.1} pairs/s", stats.loss, pairs as f64 / stats.seconds));
            bar.inc(1);
            let every = self.config.training.checkpoint_every;
            if done == last || (every > 0 && done % every == 0) {
                metrics.flush().map_err(|e| TrainError::io(&metrics_path, e))?;
                if let Some(log) = &mut batch_log {
                    log.flush().map_err(|e| TrainError::io(&batches_path, e))?;
                }
                self.write_checkpoint(&run.checkpoint_dir(), Some(InvocationStats::new(&losses, pairs_done, seconds)))?;
                self.last_checkpoint = Some(done);
            }
        }
        bar.finish_and_clear();
        metrics.flush().map_err(|e| TrainError::io(&metrics_path, e))?;
        if let Some(log) = &mut batch_log {
            log.flush().map_err(|e| TrainError::io(&batches_path, e))?;
        }
        let model_dir = if last == total {
            let dir = run.model_dir();
            self.save_model(&dir)?;
            tracing::info!(dir = %dir.display(), "saved model");
            Some(dir)
        } else {
            None
        };
        // A resume with no step left (killed after its last checkpoint) reports the invocation
        // that trained, as that invocation would have.
        let stats = match &self.invocation_before {
            Some(before) if losses.is_empty() => before.clone(),
            _ => InvocationStats::new(&losses, pairs_done, seconds),
        };
        Ok(Fit { steps: last, stats, model_dir })
    }

    /// Writes a checkpoint into `dir` (atomically): weights, optimiser moments, sampler
    /// position and step, so that [`Start::checkpoint`] continues bit for bit.
    pub fn save_checkpoint(&self, dir: &Path) -> Result<(), TrainError> {
        self.write_checkpoint(dir, None)
    }

    fn write_checkpoint(&self, dir: &Path, invocation: Option<InvocationStats>) -> Result<(), TrainError> {
        let state = CheckpointState {
            step: self.step,
            adam_steps: self.trainee.adam.steps,
            sparse_steps: self.trainee.words.as_ref().map_or(0, |t| t.steps),
            sampler: self.sampler.state(),
            config_digest: self.config.digest(),
            invocation,
        };
        checkpoint::save(dir, &self.trainee, &state)
    }

    /// Saves the model as it stands into `dir` (HF + sentence-transformers layout, with the
    /// base model's tokenizer and pooling).
    pub fn save_model(&self, dir: &Path) -> Result<(), TrainError> {
        let weights = checkpoint::model_weights(&self.trainee);
        save_model_dir(dir, &self.bert, &weights, &self.tokenizer_path, &self.sentence)?;
        Ok(())
    }

    /// The trained model and the frozen-layer cache; the rest (optimiser moments, autodiff
    /// graph, data) is freed.
    pub fn into_trained(mut self) -> Trained {
        let cache = self.trainee.cache.take();
        Trained { model: self.trainee.model().valid(), cache }
    }
}

/// One line of `batches.jsonl`: the batch's [`BatchRecord`] and the step, without the epoch and
/// with the keys sorted, as the file has been written since before the record existed.
fn batch_line(index: &GroupIndex, batch: &Batch, step: u64) -> serde_json::Value {
    let mut line = serde_json::to_value(BatchRecord::new(index, batch)).expect("a record serialises");
    let fields = line.as_object_mut().expect("a record is an object");
    fields.remove("epoch");
    fields.insert("step".into(), step.into());
    line
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

/// Fixed validation batches: the first `validation_pairs` pairs the training strategy draws from
/// the held-out groups with a fixed seed, so every evaluation sees the same pairs.
fn validation_batches(set: &PairSet, config: &TrainConfig) -> Result<Vec<Batch>, TrainError> {
    let mut sampler_cfg = config.sampler_config()?;
    sampler_cfg.seed = 0x5EED;
    sampler_cfg.batch_size = sampler_cfg.batch_size.min(set.index.len());
    let mut sampler = Sampler::new(Arc::clone(&set.index), sampler_cfg)?;
    let batches = config.data.validation_pairs.div_ceil(sampler.config().batch_size);
    Ok((0..batches).map(|_| sampler.next_batch()).collect())
}

#[cfg(test)]
mod tests {
    use polyret_sampler::{SamplerConfig, Strategy};

    use super::*;

    /// The bytes `batches.jsonl` had when the trainer wrote its lines with `json!` (keys sorted).
    #[test]
    fn batch_lines_keep_their_bytes() {
        let mut builder = GroupIndex::builder();
        for g in 0..3 {
            builder.add_group(&format!("q{g}"), "xquad", &["en", "de"], &["en", "de"]).unwrap();
        }
        let index = Arc::new(builder.build().unwrap());
        let mut sampler = Sampler::new(Arc::clone(&index), SamplerConfig::new(Strategy::XY, 2, 7)).unwrap();
        let batch = sampler.next_batch();
        let old = json!({"step": 1, "batch": batch.index, "kind": batch.kind.as_str(), "pairs": batch.pairs.iter().map(|p| {
            json!({"group_id": index.group_id(p.group), "source": index.group_source(p.group),
                   "query_lang": index.lang_code(p.query_lang), "passage_lang": index.lang_code(p.passage_lang)})
        }).collect::<Vec<_>>()});
        assert_eq!(batch_line(&index, &batch, 1).to_string(), old.to_string());
        assert!(old.to_string().starts_with(r#"{"batch":0,"kind":"cross","pairs":[{"group_id":"q"#), "{old}");
    }
}
