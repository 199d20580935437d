//! The training configuration: one TOML file (`configs/*.toml`), every field documented here
//! with its valid range, any field overridable from the command line with
//! `--set section.field=value`. [`TrainConfig::load`] checks every range and names the field,
//! the value and the range when one is off; `training.freeze_layers` depends on the model and is
//! checked when the run starts, before the model loads.

use std::path::{Path, PathBuf};

use polyret_encoder::{BackendKind, BertConfig, Precision};
use polyret_sampler::{LanguageWeighting, SamplerConfig, SamplerError, SamplerOptions, StrategyKind};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

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
    /// Batch composition: `polyret-sampler`'s options (`strategy = "hybrid"`, `alpha`,
    /// `alpha_end`, `batch_size`, `language_weighting`, `source_per_batch`, `small_languages`),
    /// with the seed above and an α ramp over `training.steps`. Ranges: `batch_size` at least 2
    /// (in-batch negatives), `alpha` and `alpha_end` 0 to 1 (`hybrid` needs `alpha`), a
    /// temperature ≥ 0 (finite).
    pub sampler: SamplerOptions,
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
    /// Queries longer than this many tokens are truncated. Range: at least 2 (the special
    /// tokens); the model's position table caps it.
    #[serde(default = "default_query_tokens")]
    pub max_query_tokens: usize,
    /// Passages longer than this many tokens are truncated. Range: at least 2.
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
    /// Pair tables to train on: catalog names (`xquad-pairs`, or a table `polyret ingest`
    /// made) or Parquet paths. At least one.
    pub sources: Vec<String>,
    /// Split of the tables to train on: `train`, `val` or `test`.
    #[serde(default = "default_split")]
    pub split: String,
    /// Only these languages (empty: all of the tables' languages). Canonical codes (`de`, `ast`).
    #[serde(default)]
    pub languages: Vec<String>,
    /// Held-out pairs (from `validation_split`) for validation loss; 0 disables it.
    #[serde(default = "default_validation_pairs")]
    pub validation_pairs: usize,
    /// Split the validation pairs come from: `train`, `val` or `test`, never `split` (when
    /// `validation_pairs` > 0).
    #[serde(default = "default_validation_split")]
    pub validation_split: String,
}

/// InfoNCE over cosine similarities.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LossSection {
    /// Similarities are multiplied by this (1 / temperature); 20 as in sentence-transformers.
    /// Range: > 0 (finite).
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
    /// Peak learning rate (paper: 3e-5). Range: > 0 (finite).
    #[serde(default = "default_lr")]
    pub lr: f64,
    /// Decoupled weight decay (paper: 0.01), not applied to `no_decay` parameters. Range: ≥ 0
    /// (finite).
    #[serde(default = "default_weight_decay")]
    pub weight_decay: f64,
    /// Adam β1. Range: 0 ≤ β1 < 1.
    #[serde(default = "default_beta1")]
    pub beta1: f64,
    /// Adam β2. Range: 0 ≤ β2 < 1.
    #[serde(default = "default_beta2")]
    pub beta2: f64,
    /// Adam ε. Range: > 0 (finite).
    #[serde(default = "default_eps")]
    pub eps: f64,
    /// Linear warm-up over this fraction of the steps. Range: 0 ≤ ratio < 1.
    #[serde(default = "default_warmup")]
    pub warmup_ratio: f64,
    /// Schedule after warm-up.
    #[serde(default = "default_decay")]
    pub decay: Decay,
    /// Clip the global gradient norm to this (0: no clipping). Range: ≥ 0 (finite).
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
    /// Optimisation steps (one batch each). At least 1.
    pub steps: u64,
    /// GradCache chunk: embed the batch this many sequences at a time, so the contrastive batch
    /// can exceed what fits in memory (0: whole batch at once). Any value.
    #[serde(default)]
    pub chunk_size: usize,
    /// Freeze the word/position/type embeddings.
    #[serde(default)]
    pub freeze_embeddings: bool,
    /// Freeze the bottom N transformer layers (embeddings too when N > 0). Range: 0 to the
    /// model's layers − 1 (freezing all of them trains nothing), checked before the model loads.
    #[serde(default)]
    pub freeze_layers: usize,
    /// Cache the frozen layers' outputs once per text and train on the cache: exact when frozen
    /// layers run without dropout (what this does), and a large speed-up when few layers train.
    /// Needs `freeze_layers` > 0.
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
    /// Write a checkpoint every this many steps (0: only at the end). Any value.
    #[serde(default = "default_checkpoint_every")]
    pub checkpoint_every: u64,
    /// Log a metrics line every this many steps. At least 1.
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
    /// Number format of the linear layers' products: `"f32"` (the default) or `"bf16"` (mixed
    /// precision: bf16 products, f32 sums, weights, gradients and optimiser state; Flex only,
    /// fastest on CPUs with AVX512_BF16, see docs/training.md). Left out of the written config
    /// when f32, so configs from before the switch keep their digest.
    #[serde(default, skip_serializing_if = "Precision::is_f32")]
    pub precision: Precision,
}

/// Evaluation.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalSection {
    /// Benchmarks evaluated zero-shot after training (catalog names, e.g. `xquad-r`, optionally
    /// with languages: `tatoeba:de,fr`). Names must not be empty.
    #[serde(default)]
    pub benchmarks: Vec<String>,
    /// Also evaluate the model before training, as the reference row.
    #[serde(default)]
    pub baseline: bool,
    /// Validation loss every this many steps (0: only at the end). Any value.
    #[serde(default)]
    pub validate_every: u64,
    /// Restrict evaluation to these languages (empty: all). Canonical codes.
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
        Self::parse(&text, path, overrides)
    }

    /// Parses TOML `text` and applies `overrides`, as [`TrainConfig::load`] does; errors name
    /// `path`, where the text comes from.
    pub fn parse(text: &str, path: &Path, overrides: &[String]) -> Result<Self, TrainError> {
        let mut value: toml::Table =
            toml::from_str(text).map_err(|e| TrainError::Config { path: path.to_owned(), message: e.to_string() })?;
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

    /// Digest of [`TrainConfig::to_toml`]: what a checkpoint must match to resume, so the TOML
    /// form of a config may never change.
    pub fn digest(&self) -> String {
        hex::encode(&Sha256::digest(self.to_toml().as_bytes())[..12])
    }

    /// `training.freeze_layers` against the depth of the model in `model_dir`, read from its
    /// `config.json` before the model loads: freezing every layer trains nothing. Returns the
    /// layers to freeze.
    pub fn check_freeze_layers(&self, model_dir: &Path) -> Result<usize, TrainError> {
        let path = model_dir.join("config.json");
        freeze_layers_in_range(self.training.freeze_layers, BertConfig::from_file(&path)?.num_hidden_layers, &path)
    }

    /// Checks every field's range (documented on the field); the message names the field, the
    /// value and the range.
    pub fn validate(&self) -> Result<(), String> {
        let (m, d, s, o, t) = (&self.model, &self.data, &self.sampler, &self.optimizer, &self.training);
        let positive = |x: f64| x > 0.0 && x.is_finite();
        let non_negative = |x: f64| x >= 0.0 && x.is_finite();
        let fraction = |x: f64| (0.0..1.0).contains(&x);
        in_range("model.max_query_tokens", m.max_query_tokens, m.max_query_tokens >= 2, "at least 2")?;
        in_range("model.max_passage_tokens", m.max_passage_tokens, m.max_passage_tokens >= 2, "at least 2")?;
        if d.sources.is_empty() || d.sources.iter().any(|n| n.trim().is_empty()) {
            return Err(format!("data.sources = {:?} must list at least one table or Parquet file", d.sources));
        }
        let split = |field: &str, value: &str| {
            in_range(field, format!("{value:?}"), polyret_ingest::SPLITS.contains(&value), "train, val or test")
        };
        split("data.split", &d.split)?;
        split("data.validation_split", &d.validation_split)?;
        if d.validation_pairs > 0 && d.validation_split == d.split {
            return Err(format!(
                "data.validation_split = {:?} must differ from data.split (or set data.validation_pairs = 0)",
                d.validation_split
            ));
        }
        languages("data.languages", &d.languages)?;
        in_range("sampler.batch_size", s.batch_size, s.batch_size >= 2, "at least 2 (in-batch negatives)")?;
        for (field, alpha) in [("sampler.alpha", s.alpha), ("sampler.alpha_end", s.alpha_end)] {
            if let Some(a) = alpha {
                in_range(field, a, (0.0..=1.0).contains(&a), "0 to 1")?;
            }
        }
        if s.strategy == StrategyKind::Hybrid && s.alpha.is_none() {
            return Err("sampler.strategy = \"hybrid\" needs sampler.alpha".into());
        }
        if let LanguageWeighting::Temperature(tau) = s.language_weighting {
            in_range("sampler.language_weighting.temperature", tau, non_negative(tau), "≥ 0 (finite)")?;
        }
        in_range("loss.scale", self.loss.scale, positive(self.loss.scale), "> 0 (finite)")?;
        in_range("optimizer.lr", o.lr, positive(o.lr), "> 0 (finite)")?;
        in_range("optimizer.weight_decay", o.weight_decay, non_negative(o.weight_decay), "≥ 0 (finite)")?;
        in_range("optimizer.beta1", o.beta1, fraction(o.beta1), "0 ≤ beta1 < 1")?;
        in_range("optimizer.beta2", o.beta2, fraction(o.beta2), "0 ≤ beta2 < 1")?;
        in_range("optimizer.eps", o.eps, positive(o.eps), "> 0 (finite)")?;
        in_range("optimizer.warmup_ratio", o.warmup_ratio, fraction(o.warmup_ratio), "0 ≤ warmup_ratio < 1")?;
        in_range("optimizer.max_grad_norm", o.max_grad_norm, non_negative(o.max_grad_norm), "≥ 0 (0: no clipping)")?;
        in_range("training.steps", t.steps, t.steps >= 1, "at least 1")?;
        in_range("training.log_every", t.log_every, t.log_every >= 1, "at least 1")?;
        if t.precision == Precision::Int8 {
            return Err("training.precision = \"int8\" is for encoding only; training takes \"f32\" or \"bf16\"".into());
        }
        if t.cache_frozen && t.freeze_layers == 0 {
            return Err("training.cache_frozen needs training.freeze_layers > 0".into());
        }
        if let Some(b) = self.eval.benchmarks.iter().find(|b| b.split(':').next().unwrap_or("").trim().is_empty()) {
            return Err(format!("eval.benchmarks has an entry without a table name: {b:?}"));
        }
        languages("eval.languages", &self.eval.languages)?;
        self.sampler_config().map(|_| ()).map_err(|e| e.to_string())
    }

    /// The `polyret-sampler` configuration: the `[sampler]` options with `seed`, an α ramp
    /// lasting `training.steps`.
    pub fn sampler_config(&self) -> Result<SamplerConfig, SamplerError> {
        self.sampler.config(self.seed, self.training.steps)
    }
}

/// Freezing `frozen` of a model's `layers` must leave one to train; `path` is the model's
/// `config.json`, which the message names.
pub(crate) fn freeze_layers_in_range(frozen: usize, layers: usize, path: &Path) -> Result<usize, TrainError> {
    if frozen >= layers {
        return Err(TrainError::Config {
            path: path.to_owned(),
            message: format!(
                "training.freeze_layers = {frozen} is out of range: the model has {layers} layers, so at most {} \
                 (freezing them all leaves nothing to train)",
                layers.saturating_sub(1)
            ),
        });
    }
    Ok(frozen)
}

/// `field = value is out of range: range` unless `ok`.
fn in_range(field: &str, value: impl std::fmt::Display, ok: bool, range: &str) -> Result<(), String> {
    if ok { Ok(()) } else { Err(format!("{field} = {value} is out of range: {range}")) }
}

/// Every code must be canonical (what the tables hold), or the filter silently matches nothing.
fn languages(field: &str, codes: &[String]) -> Result<(), String> {
    for code in codes {
        if !polyret_ingest::is_canonical_lang(code) {
            let hint = polyret_ingest::canonical_lang(code)
                .map_or_else(|| "an unknown language code".to_string(), |c| format!("write it as {c:?}"));
            return Err(format!("{field} has {code:?}: {hint}"));
        }
    }
    Ok(())
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
        // f32, the default, stays out of the TOML: configs written before the switch existed
        // keep their digest (checkpoints and the study's runs resume).
        assert_eq!(config.training.precision, Precision::F32);
        assert!(!config.to_toml().contains("precision"));
        let bf16 = TrainConfig::load(&path, &["training.precision=\"bf16\"".into()]).unwrap();
        assert!(bf16.to_toml().contains("precision = \"bf16\"") && bf16.digest() != config.digest());
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

    /// Each range is checked at load time, and the message has the field, the value and the
    /// range (before, a negative learning rate trained with a rising loss and exit 0).
    #[test]
    fn out_of_range_values_are_refused_with_field_value_and_range() {
        let (_dir, path) = write(SMOKE);
        let cases = [
            ("optimizer.lr=-0.001", "optimizer.lr = -0.001 is out of range: > 0"),
            ("optimizer.lr=0.0", "optimizer.lr = 0 is out of range"),
            ("optimizer.max_grad_norm=-1.0", "optimizer.max_grad_norm = -1 is out of range: ≥ 0"),
            ("optimizer.weight_decay=-0.01", "optimizer.weight_decay = -0.01 is out of range: ≥ 0"),
            ("optimizer.beta1=1.0", "optimizer.beta1 = 1 is out of range: 0 ≤ beta1 < 1"),
            ("optimizer.beta2=-0.5", "optimizer.beta2 = -0.5 is out of range"),
            ("optimizer.eps=0.0", "optimizer.eps = 0 is out of range"),
            ("optimizer.warmup_ratio=1.0", "optimizer.warmup_ratio = 1 is out of range"),
            ("loss.scale=nan", "loss.scale = NaN is out of range: > 0"),
            ("sampler.alpha=1.5", "sampler.alpha = 1.5 is out of range: 0 to 1"),
            ("sampler.alpha_end=-0.1", "sampler.alpha_end = -0.1 is out of range"),
            ("sampler.batch_size=1", "sampler.batch_size = 1 is out of range: at least 2"),
            ("sampler.language_weighting={temperature=-1.0}", "temperature = -1 is out of range"),
            ("training.steps=0", "training.steps = 0 is out of range: at least 1"),
            ("training.log_every=0", "training.log_every = 0 is out of range: at least 1"),
            ("model.max_query_tokens=1", "model.max_query_tokens = 1 is out of range: at least 2"),
            ("data.split=\"dev\"", "data.split = \"dev\" is out of range: train, val or test"),
            ("data.validation_split=\"train\"", "data.validation_split = \"train\" must differ from data.split"),
            ("data.languages=[\"de\", \"eng\"]", "data.languages has \"eng\": write it as \"en\""),
            ("eval.languages=[\"xx\"]", "eval.languages has \"xx\": an unknown language code"),
            ("data.sources=[]", "data.sources = [] must list at least one"),
            ("training.precision=\"int8\"", "training.precision = \"int8\" is for encoding only"),
            ("training.precision=\"fp8\"", "unknown variant `fp8`"),
        ];
        for (set, expected) in cases {
            let err = TrainConfig::load(&path, &[set.into()]).unwrap_err().to_string();
            assert!(err.contains("c.toml") && err.contains(expected), "{set}: {err}");
        }
        // The edges of each range are accepted.
        let edges =
            ["optimizer.max_grad_norm=0.0", "optimizer.weight_decay=0.0", "sampler.alpha=1.0", "optimizer.lr=1e30"];
        TrainConfig::load(&path, &edges.map(String::from)).unwrap();
        TrainConfig::load(&path, &["data.validation_split=\"train\"".into(), "data.validation_pairs=0".into()])
            .unwrap();
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
