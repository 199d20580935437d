//! # polyret-evaluator
//!
//! LAReQA-style zero-shot evaluation of multilingual retrieval models.
//!
//! - [`evaluate`]: embed an evaluation set's queries and corpus (each distinct text once,
//!   cached on disk per model and content), rank every query against every corpus language of
//!   its subset (the query-language × corpus-language matrix; monolingual and cross-lingual
//!   are its diagonal and off-diagonal means) and against one multilingual pool where every
//!   parallel copy is relevant; measure with trec_eval's definitions ([`metrics`]); report
//!   language bias ([`bias`]); write `results.json`, `per_query.tsv`, TREC runs and qrels, a
//!   heatmap and a markdown summary.
//! - [`evaluate_embeddings`]: the same evaluation on embeddings computed elsewhere (the Python
//!   package's entry point), with [`group_qrels`] for sets judged by group; [`load_benchmark`]
//!   finds a set by name or directory.
//! - [`compare`]: results side by side with paired randomization tests.
//! - [`ExactIndex`], [`CorpusSearch`]: exact top-k search (blocked sgemm + partial selection).
//! - [`trec`]: read and score TREC run/qrels files exactly as trec_eval does.
//!
//! Models plug in through [`Embedder`]; [`HashEmbedder`] is a model-free stand-in for tests.
//! The file layouts and every definition are documented in `docs/evaluation.md`.

mod benchmark;
pub mod bias;
pub mod compare;
mod corpus;
mod embed;
mod embedded;
mod error;
mod evaluate;
mod heatmap;
pub mod metrics;
pub mod report;
mod search;
pub mod trec;
mod write;

pub use benchmark::load_benchmark;
pub use corpus::CorpusSearch;
pub use embed::{Embedder, HashEmbedder, Role, default_cache_dir};
pub use embedded::{Embeddings, evaluate_embeddings, group_qrels};
pub use error::{EvalError, Result};
pub use evaluate::{EvalOptions, Evaluation, TrecExport, evaluate};
pub use heatmap::font_path;
pub use metrics::Metric;
pub use report::{EvalReport, QueryUnit, Setting, setting_weights};
pub use search::{DEFAULT_MEMORY_BUDGET, ExactIndex, Hit};
pub use write::summary;
