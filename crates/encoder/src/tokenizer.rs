//! HF `tokenizer.json` through the `tokenizers` crate: batch encoding with truncation, and
//! dynamic padding (each batch padded to its own longest sequence, never to a fixed length).

use std::path::{Path, PathBuf};

use tokenizers::{ModelWrapper, Tokenizer, TruncationParams};

use crate::EncoderError;
use crate::model::TokenBatch;

/// A loaded tokenizer with the model's length limit and padding id.
#[derive(Clone)]
pub struct TextTokenizer {
    inner: Tokenizer,
    path: PathBuf,
    pad_id: u32,
    max_len: usize,
}

impl std::fmt::Debug for TextTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextTokenizer").field("path", &self.path).field("max_len", &self.max_len).finish()
    }
}

impl TextTokenizer {
    /// Loads `tokenizer.json`; inputs are truncated to `max_len` tokens (special tokens included).
    /// The padding id is the tokenizer's own (`<pad>` / `[PAD]`), else `fallback_pad_id`.
    pub fn from_file(path: &Path, max_len: usize, fallback_pad_id: u32) -> Result<Self, EncoderError> {
        let err = |message: String| EncoderError::Tokenizer { path: path.to_owned(), message };
        if max_len < 2 {
            return Err(err(format!("max length {max_len} leaves no room for text")));
        }
        let mut inner = Tokenizer::from_file(path).map_err(|e| err(e.to_string()))?;
        let pad_id = inner
            .get_padding()
            .map(|p| p.pad_id)
            .or_else(|| inner.token_to_id("<pad>"))
            .or_else(|| inner.token_to_id("[PAD]"))
            .unwrap_or(fallback_pad_id);
        inner.with_padding(None);
        inner
            .with_truncation(Some(TruncationParams { max_length: max_len, ..Default::default() }))
            .map_err(|e| err(e.to_string()))?;
        Ok(Self { inner, path: path.to_owned(), pad_id, max_len })
    }

    /// The file it was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The id padding uses.
    pub fn pad_id(&self) -> u32 {
        self.pad_id
    }

    /// Longest encoding, special tokens included.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// Token ids (with special tokens, truncated) of every text, in order.
    pub fn encode(&self, texts: &[&str]) -> Result<Vec<Vec<u32>>, EncoderError> {
        let inputs: Vec<&str> = texts.to_vec();
        let encodings = self
            .inner
            .encode_batch(inputs, true)
            .map_err(|e| EncoderError::Tokenizer { path: self.path.clone(), message: e.to_string() })?;
        Ok(encodings.into_iter().map(|e| e.get_ids().to_vec()).collect())
    }

    /// The id of `token` in the vocabulary (special tokens included).
    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// Whether `token` is one of the tokenizer's special tokens.
    pub fn is_special_token(&self, token: &str) -> bool {
        self.inner.get_added_tokens_decoder().values().any(|t| t.special && t.content == token)
    }

    /// The tokenization algorithm of `tokenizer.json`: `WordPiece`, `Unigram`, `BPE` or `WordLevel`.
    pub fn model_kind(&self) -> &'static str {
        match self.inner.get_model() {
            ModelWrapper::WordPiece(_) => "WordPiece",
            ModelWrapper::Unigram(_) => "Unigram",
            ModelWrapper::BPE(_) => "BPE",
            ModelWrapper::WordLevel(_) => "WordLevel",
        }
    }

    /// Whether a text that ends with a space keeps a final lone `▁` piece (SentencePiece
    /// tokenizers in the XLM-R shape do).
    pub fn keeps_trailing_space_piece(&self) -> bool {
        self.inner.encode("a ", false).is_ok_and(|e| e.get_tokens().last().is_some_and(|t| t == "\u{2581}"))
    }

    /// Pads `sequences` to the longest among them.
    pub fn pad(&self, sequences: &[&[u32]]) -> TokenBatch {
        pad_batch(sequences, self.pad_id)
    }
}

/// Right-pads token sequences with `pad_id` to the longest one.
pub fn pad_batch(sequences: &[&[u32]], pad_id: u32) -> TokenBatch {
    pad_batch_to(sequences, pad_id, 0)
}

/// Right-pads token sequences with `pad_id` to the longest one, or to `min_len` if longer.
pub fn pad_batch_to(sequences: &[&[u32]], pad_id: u32, min_len: usize) -> TokenBatch {
    let seq_len = sequences.iter().map(|s| s.len()).max().unwrap_or(0).max(min_len);
    let mut input_ids = Vec::with_capacity(sequences.len() * seq_len);
    let mut attention_mask = Vec::with_capacity(sequences.len() * seq_len);
    for seq in sequences {
        input_ids.extend_from_slice(seq);
        input_ids.extend(std::iter::repeat_n(pad_id, seq_len - seq.len()));
        attention_mask.extend(std::iter::repeat_n(1u8, seq.len()));
        attention_mask.extend(std::iter::repeat_n(0u8, seq_len - seq.len()));
    }
    TokenBatch { input_ids, attention_mask, token_type_ids: None, batch: sequences.len(), seq_len }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_to_longest_in_batch() {
        let batch = pad_batch(&[&[5, 6, 7], &[8]], 1);
        assert_eq!(batch.seq_len, 3);
        assert_eq!(batch.input_ids, vec![5, 6, 7, 8, 1, 1]);
        assert_eq!(batch.attention_mask, vec![1, 1, 1, 1, 0, 0]);
        assert_eq!(batch.lengths(), vec![3, 1]);
        assert_eq!(batch.real_tokens(), 4);
    }

    #[test]
    fn missing_file_is_named() {
        let err = TextTokenizer::from_file(Path::new("/nonexistent/tokenizer.json"), 16, 0).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/tokenizer.json"), "{err}");
    }
}
