//! The training configuration: one TOML file (`configs/*.toml`), every field documented here,
//! any field overridable from the command line with `--set section.field=value`.

use std::path::{Path, PathBuf};

use polyret_encoder::BackendKind;
use polyret_sampler::{AlphaSchedule, LanguageWeighting, SamplerConfig, SmallLanguagePolicy, Strategy};
use serde::{Deserialize, Serialize};

use crate::TrainError;

/// A whole run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Seed of everything random: sampler, dropout, initialisation of new heads.
    pub seed: u64,
    /// Model to fine-tune.
    pub model: ModelSection,
    /// Training data.
    pub data: DataSection,
    /// Batch composition.
    pub sampler: SamplerSection,
    /// Contrastive loss.
    #[serde(default)]
    pub loss: LossSection,
    /// AdamW and its schedule.
    #[serde(default)]
    pub optimizer: OptimizerSection,
    /// Length of training, memory, checkpoints.
    pub training: TrainingSection,
    /// Evaluation during and after training.
    #[serde(default)]
    pub eval: EvalSection,
}

/// Which model, where, on which backend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSection {
    /// A known model name (fetched with `cargo xtask fetch-model NAME` if missing) or a model
    /// directory path (contains `config.json`).
    #[serde(default = "default_model")]
    pub name: String,
    /// Where known models are stored.
    #[serde(default = "default_models_dir")]
    pub models_dir: PathBuf,
    /// Burn backend: `flex` (CPU, default), `ndarray` (CPU) or `wgpu` (GPU).
    #[serde(default)]
    pub backend: BackendKind,
    /// Queries longer than this many tokens are truncated.
    #[serde(default = "default_query_tokens")]
    pub max_query_tokens: usize,
    /// Passages longer than this many tokens are truncated.
    #[serde(default = "default_passage_tokens")]
    pub max_passage_tokens: usize,
}

/// Where the training pairs come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSection {
    /// The data directory: `manifest.toml`, verified downloads in `raw/`, tables in `parquet/`
    /// (with `catalog.json`). Missing tables are fetched and ingested on start.
    #[serde(default = "default_data_dir")]
    pub dir: PathBuf,
    /// A local mirror of the upstream files (`OWNER/REPO/PATH`), used when data must be fetched;
    /// `POLYRET_DATA_MIRROR` overrides it.
    #[serde(default)]
    pub mirror: Option<PathBuf>,
    /// Pair tables to train on: catalog names (`xquad-pairs`) or Parquet paths.
    pub sources: Vec<String>,
    /// Split of the tables to train on.
    #[serde(default = "default_split")]
    pub split: String,
    /// Only these languages (empty: all of the tables' languages).
    #[serde(default)]
    pub languages: Vec<String>,
    /// Held-out pairs (from `validation_split`) for validation loss; 0 disables it.
    #[serde(default = "default_validation_pairs")]
    pub validation_pairs: usize,
    /// Split the validation pairs come from (never the training split).
    #[serde(default = "default_validation_split")]
    pub validation_split: String,
}

/// Batch composition (see `polyret-sampler`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SamplerSection {
    /// `en-en`, `x-x`, `x-x-mono`, `x-y` or `hybrid`.
    pub strategy: String,
    /// Hybrid: probability of an X-X-mono batch (constant).
    #[serde(default)]
    pub alpha: Option<f64>,
    /// Hybrid: ramp α linearly from `alpha` to `alpha_end` over the run instead.
    #[serde(default)]
    pub alpha_end: Option<f64>,
    /// Pairs per batch (the contrastive batch: in-batch negatives come from it).
    pub batch_size: usize,
    /// Language choice: `uniform` (the paper), `proportional`, or `{ temperature = τ }`.
    #[serde(default)]
    pub language_weighting: LanguageWeighting,
    /// Draw one source per batch, sources in proportion to size.
    #[serde(default)]
    pub source_per_batch: bool,
    /// Languages with fewer groups than the batch: `error` or `exclude` (from mono batches).
    #[serde(default)]
    pub small_languages: SmallLanguagePolicy,
}

/// InfoNCE over cosine similarities.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LossSection {
    /// Similarities are multiplied by this (1 / temperature); 20 as in sentence-transformers.
    #[serde(default = "default_scale")]
    pub scale: f64,
    /// Also score passages against queries (passage → query direction), averaged.
    #[serde(default)]
    pub symmetric: bool,
    /// Add each pair's hard negative (the table's `negative` column) to the candidates.
    #[serde(default)]
    pub hard_negatives: bool,
}

/// Learning-rate schedule after warm-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decay {
    /// Linear to 0 at the last step (sentence-transformers' default).
    Linear,
    /// Half cosine to 0 at the last step.
    Cosine,
    /// Constant after warm-up.
    Constant,
}

/// AdamW (decoupled weight decay) with warm-up and decay.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptimizerSection {
    /// Peak learning rate (paper: 3e-5).
    #[serde(default = "default_lr")]
    pub lr: f64,
    /// Decoupled weight decay (paper: 0.01), not applied to `no_decay` parameters.
    #[serde(default = "default_weight_decay")]
    pub weight_decay: f64,
    /// Adam β1.
    #[serde(default = "default_beta1")]
    pub beta1: f64,
    /// Adam β2.
    #[serde(default = "default_beta2")]
    pub beta2: f64,
    /// Adam ε.
    #[serde(default = "default_eps")]
    pub eps: f64,
    /// Linear warm-up over this fraction of the steps.
    #[serde(default = "default_warmup")]
    pub warmup_ratio: f64,
    /// Schedule after warm-up.
    #[serde(default = "default_decay")]
    pub decay: Decay,
    /// Clip the global gradient norm to this (0: no clipping).
    #[serde(default = "default_clip")]
    pub max_grad_norm: f64,
    /// Parameters whose module path contains one of these get no weight decay (paths look like
    /// `layers.3.attention.qkv.bias`, `layers.3.ffn.norm.gamma`, `embeddings.position`).
    #[serde(default = "default_no_decay")]
    pub no_decay: Vec<String>,
}

/// How long and how.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingSection {
    /// Optimisation steps (one batch each).
    pub steps: u64,
    /// GradCache chunk: embed the batch this many sequences at a time, so the contrastive batch
    /// can exceed what fits in memory (0: whole batch at once).
    #[serde(default)]
    pub chunk_size: usize,
    /// Freeze the word/position/type embeddings.
    #[serde(default)]
    pub freeze_embeddings: bool,
    /// Freeze the bottom N transformer layers (embeddings too when N > 0).
    #[serde(default)]
    pub freeze_layers: usize,
    /// Cache the frozen layers' outputs once per text and train on the cache: exact when frozen
    /// layers run without dropout (what this does), and a large speed-up when few layers train.
    #[serde(default)]
    pub cache_frozen: bool,
    /// Update only the word-embedding rows of the batch's tokens (lazy Adam, like PyTorch's
    /// `SparseAdam`; no weight decay on them). Dense AdamW over the 96M-row matrix otherwise.
    #[serde(default = "yes")]
    pub sparse_embeddings: bool,
    /// Apply dropout in trainable layers (as HF does in train mode).
    #[serde(default = "yes")]
    pub dropout: bool,
    /// Where frozen-layer caches are kept (shared by runs of the same model and layer).
    #[serde(default = "default_cache_dir")]
    pub cache_dir: PathBuf,
    /// Write a checkpoint every this many steps (0: only at the end).
    #[serde(default = "default_checkpoint_every")]
    pub checkpoint_every: u64,
    /// Log a metrics line every this many steps.
    #[serde(default = "default_log_every")]
    pub log_every: u64,
    /// Also write every batch's pairs to `batches.jsonl` (group, languages; what
    /// `polyret sample` prints), e.g. to replay the run's batches in a reference implementation.
    #[serde(default)]
    pub log_batches: bool,
    /// Pad every batch to `max_query_tokens` / `max_passage_tokens` instead of to its longest
    /// sequence. Only for measuring what dynamic padding saves (`cargo xtask bench train`).
    #[serde(default)]
    pub pad_to_max: bool,
}

/// Evaluation.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalSection {
    /// Benchmarks evaluated zero-shot after training (catalog names, e.g. `xquad-r`).
    #[serde(default)]
    pub benchmarks: Vec<String>,
    /// Also evaluate the model before training, as the reference row.
    #[serde(default)]
    pub baseline: bool,
    /// Validation loss every this many steps (0: only at the end).
    #[serde(default)]
    pub validate_every: u64,
    /// Restrict evaluation to these languages (empty: all).
    #[serde(default)]
    pub languages: Vec<String>,
}

impl Default for LossSection {
    fn default() -> Self {
        Self { scale: default_scale(), symmetric: false, hard_negatives: false }
    }
}

impl Default for OptimizerSection {
    fn default() -> Self {
        Self {
            lr: default_lr(),
            weight_decay: default_weight_decay(),
            beta1: default_beta1(),
            beta2: default_beta2(),
            eps: default_eps(),
            warmup_ratio: default_warmup(),
            decay: default_decay(),
            max_grad_norm: default_clip(),
            no_decay: default_no_decay(),
        }
    }
}

fn default_model() -> String {
    "multilingual-e5-small".into()
}
fn default_models_dir() -> PathBuf {
    "models".into()
}
fn default_query_tokens() -> usize {
    64
}
fn default_passage_tokens() -> usize {
    128
}
fn default_data_dir() -> PathBuf {
    "data".into()
}
fn default_split() -> String {
    "train".into()
}
fn default_validation_split() -> String {
    "test".into()
}
fn default_validation_pairs() -> usize {
    256
}
fn default_scale() -> f64 {
    20.0
}
fn default_lr() -> f64 {
    3e-5
}
fn default_weight_decay() -> f64 {
    0.01
}
fn default_beta1() -> f64 {
    0.9
}
fn default_beta2() -> f64 {
    0.999
}
fn default_eps() -> f64 {
    1e-6
}
fn default_warmup() -> f64 {
    0.1
}
fn default_decay() -> Decay {
    Decay::Linear
}
fn default_clip() -> f64 {
    1.0
}
fn default_no_decay() -> Vec<String> {
    vec!["bias".into(), "norm".into()]
}
fn yes() -> bool {
    true
}
fn default_cache_dir() -> PathBuf {
    "runs/cache".into()
}
fn default_checkpoint_every() -> u64 {
    100
}
fn default_log_every() -> u64 {
    10
}

impl TrainConfig {
    /// Reads a TOML file and applies `overrides` (`section.field=value`, value in TOML syntax).
    pub fn load(path: &Path, overrides: &[String]) -> Result<Self, TrainError> {
        let text = std::fs::read_to_string(path).map_err(|e| TrainError::io(path, e))?;
        let mut value: toml::Table =
            toml::from_str(&text).map_err(|e| TrainError::Config { path: path.to_owned(), message: e.to_string() })?;
        for item in overrides {
            apply_override(&mut value, item)
                .map_err(|message| TrainError::Config { path: path.to_owned(), message })?;
        }
        let config: Self = toml::Value::Table(value)
            .try_into()
            .map_err(|e: toml::de::Error| TrainError::Config { path: path.to_owned(), message: e.to_string() })?;
        config.validate().map_err(|message| TrainError::Config { path: path.to_owned(), message })?;
        Ok(config)
    }

    /// The resolved config as TOML (written into the run directory).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("config serialises")
    }

    /// Checks values serde cannot.
    pub fn validate(&self) -> Result<(), String> {
        if self.data.sources.is_empty() {
            return Err("data.sources is empty".into());
        }
        if self.sampler.batch_size < 2 {
            return Err("sampler.batch_size must be at least 2 (in-batch negatives)".into());
        }
        if self.training.steps == 0 {
            return Err("training.steps must be at least 1".into());
        }
        if self.training.cache_frozen && self.training.freeze_layers == 0 {
            return Err("training.cache_frozen needs training.freeze_layers > 0".into());
        }
        if !(0.0..1.0).contains(&self.optimizer.warmup_ratio) {
            return Err(format!("optimizer.warmup_ratio {} is not in [0, 1)", self.optimizer.warmup_ratio));
        }
        if self.loss.scale <= 0.0 {
            return Err("loss.scale must be positive".into());
        }
        if self.sampler.strategy == "hybrid" && self.sampler.alpha.is_none() {
            return Err("sampler.strategy = \"hybrid\" needs sampler.alpha".into());
        }
        self.sampler_config().map(|_| ())
    }

    /// The `polyret-sampler` configuration.
    pub fn sampler_config(&self) -> Result<SamplerConfig, String> {
        let s = &self.sampler;
        let strategy = match s.strategy.as_str() {
            "en-en" => Strategy::EnEn,
            "x-x" => Strategy::XX,
            "x-x-mono" => Strategy::XXMono,
            "x-y" => Strategy::XY,
            "hybrid" => {
                let start = s.alpha.unwrap_or(0.5);
                let alpha = match s.alpha_end {
                    Some(end) => AlphaSchedule::Linear { start, end, batches: self.training.steps },
                    None => AlphaSchedule::Constant(start),
                };
                Strategy::Hybrid { alpha }
            }
            other => return Err(format!("unknown sampler.strategy {other:?} (en-en, x-x, x-x-mono, x-y, hybrid)")),
        };
        let mut config = SamplerConfig::new(strategy, s.batch_size, self.seed);
        config.language_weighting = s.language_weighting;
        config.source_per_batch = s.source_per_batch;
        config.small_languages = s.small_languages;
        Ok(config)
    }
}

/// `a.b.c=value` into a TOML table; `value` parsed as TOML, else taken as a string.
fn apply_override(table: &mut toml::Table, item: &str) -> Result<(), String> {
    let (key, raw) = item.split_once('=').ok_or_else(|| format!("override {item:?} is not key=value"))?;
    let value: toml::Value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()));
    let parts: Vec<&str> = key.trim().split('.').collect();
    let (last, path) = parts.split_last().ok_or_else(|| format!("empty key in {item:?}"))?;
    let mut current = table;
    for part in path {
        current = current
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .ok_or_else(|| format!("{part} in {key} is not a section"))?;
    }
    current.insert(last.to_string(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMOKE: &str = r#"
seed = 7
[model]
[data]
sources = ["xquad-pairs"]
[sampler]
strategy = "hybrid"
alpha = 0.5
batch_size = 8
[training]
steps = 10
"#;

    fn write(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn defaults_follow_the_paper() {
        let (_dir, path) = write(SMOKE);
        let config = TrainConfig::load(&path, &[]).unwrap();
        assert_eq!(config.optimizer.lr, 3e-5);
        assert_eq!(config.optimizer.weight_decay, 0.01);
        assert_eq!(config.loss.scale, 20.0);
        assert!(config.training.sparse_embeddings);
        let round_trip: TrainConfig = toml::from_str(&config.to_toml()).unwrap();
        assert_eq!(round_trip, config);
    }

    #[test]
    fn overrides_apply_with_toml_values() {
        let (_dir, path) = write(SMOKE);
        let config = TrainConfig::load(
            &path,
            &["sampler.alpha=0.25".into(), "training.steps=3".into(), "model.backend=ndarray".into()],
        )
        .unwrap();
        assert_eq!(config.sampler.alpha, Some(0.25));
        assert_eq!(config.training.steps, 3);
        assert_eq!(config.model.backend, BackendKind::NdArray);
    }

    #[test]
    fn errors_name_the_file_and_field() {
        let (_dir, path) = write(&SMOKE.replace("batch_size = 8", "batch_size = 8\nbatchsize = 3"));
        let err = TrainConfig::load(&path, &[]).unwrap_err().to_string();
        assert!(err.contains("c.toml") && err.contains("batchsize"), "{err}");
        let (_dir, path) = write(&SMOKE.replace("strategy = \"hybrid\"", "strategy = \"mixed\""));
        let err = TrainConfig::load(&path, &[]).unwrap_err().to_string();
        assert!(err.contains("mixed"), "{err}");
    }
}
