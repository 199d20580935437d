//! Model configuration, mirroring HF `config.json` field for field so a checkpoint's own config
//! file is the single source of truth (unknown fields are kept and written back on save).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::EncoderError;

/// The architecture family, from HF `model_type`. Both are the same post-norm transformer; they
/// differ only in how position ids are counted (see [`BertConfig::position_offset`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ModelType {
    /// BERT, mBERT, LaBSE, MiniLM, multilingual-e5: positions count from 0.
    #[serde(rename = "bert")]
    Bert,
    /// XLM-R / RoBERTa: positions count from `pad_token_id + 1` and skip padding.
    #[serde(rename = "xlm-roberta", alias = "roberta")]
    XlmRoberta,
}

/// Feed-forward activation, HF `hidden_act`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Activation {
    /// Exact GELU with `erf` (HF `"gelu"`).
    #[serde(rename = "gelu")]
    Gelu,
    /// Tanh approximation (HF `"gelu_new"`, `"gelu_pytorch_tanh"`).
    #[serde(rename = "gelu_new", alias = "gelu_pytorch_tanh")]
    GeluTanh,
    /// ReLU.
    #[serde(rename = "relu")]
    Relu,
}

/// HF `config.json` of a BERT-family encoder. Field names are HF's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BertConfig {
    /// `bert` or `xlm-roberta`.
    pub model_type: ModelType,
    /// Rows of the word-embedding matrix.
    pub vocab_size: usize,
    /// Width of every hidden state.
    pub hidden_size: usize,
    /// Transformer layers.
    pub num_hidden_layers: usize,
    /// Attention heads per layer (`hidden_size` must be a multiple).
    pub num_attention_heads: usize,
    /// Width of the feed-forward inner layer.
    pub intermediate_size: usize,
    /// Feed-forward activation.
    #[serde(default = "default_act")]
    pub hidden_act: Activation,
    /// Dropout on hidden states during training.
    #[serde(default = "default_dropout")]
    pub hidden_dropout_prob: f64,
    /// Dropout on attention probabilities during training.
    #[serde(default = "default_dropout")]
    pub attention_probs_dropout_prob: f64,
    /// Rows of the position-embedding matrix.
    pub max_position_embeddings: usize,
    /// Rows of the token-type embedding matrix.
    #[serde(default = "default_type_vocab")]
    pub type_vocab_size: usize,
    /// LayerNorm epsilon.
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    /// Id of the padding token (XLM-R also derives position ids from it).
    #[serde(default)]
    pub pad_token_id: u32,
    /// Every other field of the original file, written back unchanged on save.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

fn default_act() -> Activation {
    Activation::Gelu
}
fn default_dropout() -> f64 {
    0.1
}
fn default_type_vocab() -> usize {
    2
}
fn default_eps() -> f64 {
    1e-12
}

impl BertConfig {
    /// Reads and validates an HF `config.json`.
    pub fn from_file(path: &Path) -> Result<Self, EncoderError> {
        let text = std::fs::read_to_string(path).map_err(|e| EncoderError::io(path, e))?;
        let config: Self = serde_json::from_str(&text)
            .map_err(|e| EncoderError::Format { path: path.to_owned(), message: e.to_string() })?;
        config.validate().map_err(|message| EncoderError::Format { path: path.to_owned(), message })?;
        Ok(config)
    }

    /// Checks the invariants the model relies on.
    pub fn validate(&self) -> Result<(), String> {
        if self.hidden_size == 0 || self.num_attention_heads == 0 {
            return Err("hidden_size and num_attention_heads must be positive".into());
        }
        if !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return Err(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            ));
        }
        if let Some(kind) = self.extra.get("position_embedding_type").and_then(|v| v.as_str())
            && kind != "absolute"
        {
            return Err(format!("position_embedding_type {kind:?} is not supported (only \"absolute\")"));
        }
        Ok(())
    }

    /// Per-head width.
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }

    /// Position id of the first token: 0 for BERT, `pad_token_id + 1` for XLM-R.
    pub fn position_offset(&self) -> usize {
        match self.model_type {
            ModelType::Bert => 0,
            ModelType::XlmRoberta => self.pad_token_id as usize + 1,
        }
    }

    /// Longest input (special tokens included) the position table allows.
    pub fn max_input_tokens(&self) -> usize {
        self.max_position_embeddings - self.position_offset()
    }

    /// Serialises to pretty JSON in HF layout.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("config serialises")
    }
}

/// How token states become one sentence vector (sentence-transformers `1_Pooling/config.json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    /// Attention-mask-weighted mean of the last hidden states (E5, most ST models).
    Mean,
    /// The first token's last hidden state (LaBSE, BGE).
    Cls,
}

/// Sentence-level settings around the transformer: prompts, pooling, normalisation, length.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SentenceConfig {
    /// Pooling of token states.
    pub pooling: Pooling,
    /// L2-normalise embeddings, so dot product is cosine similarity.
    pub normalize: bool,
    /// Prefix for queries, e.g. E5's `"query: "`.
    pub query_prefix: String,
    /// Prefix for passages, e.g. E5's `"passage: "`.
    pub passage_prefix: String,
    /// Inputs longer than this many tokens (special tokens included) are truncated.
    pub max_seq_length: usize,
}

impl Default for SentenceConfig {
    fn default() -> Self {
        Self {
            pooling: Pooling::Mean,
            normalize: true,
            query_prefix: String::new(),
            passage_prefix: String::new(),
            max_seq_length: 512,
        }
    }
}

impl SentenceConfig {
    /// The multilingual-e5 recipe from its model card: mean pooling, L2 norm, role prefixes.
    pub fn e5() -> Self {
        Self {
            pooling: Pooling::Mean,
            normalize: true,
            query_prefix: "query: ".into(),
            passage_prefix: "passage: ".into(),
            max_seq_length: 512,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_hf_config_and_keeps_unknown_fields() {
        let json = r#"{"model_type":"xlm-roberta","vocab_size":10,"hidden_size":8,"num_hidden_layers":1,
            "num_attention_heads":2,"intermediate_size":16,"max_position_embeddings":20,"pad_token_id":1,
            "architectures":["XLMRobertaModel"],"layer_norm_eps":1e-5}"#;
        let config: BertConfig = serde_json::from_str(json).unwrap();
        assert_eq!(config.model_type, ModelType::XlmRoberta);
        assert_eq!(config.position_offset(), 2);
        assert_eq!(config.max_input_tokens(), 18);
        assert_eq!(config.hidden_act, Activation::Gelu);
        let back: serde_json::Value = serde_json::from_str(&config.to_json()).unwrap();
        assert_eq!(back["architectures"][0], "XLMRobertaModel");
        assert_eq!(back["model_type"], "xlm-roberta");
    }

    #[test]
    fn rejects_heads_not_dividing_width() {
        let json = r#"{"model_type":"bert","vocab_size":10,"hidden_size":10,"num_hidden_layers":1,
            "num_attention_heads":3,"intermediate_size":16,"max_position_embeddings":20}"#;
        let config: BertConfig = serde_json::from_str(json).unwrap();
        assert!(config.validate().unwrap_err().contains("multiple"));
    }
}
