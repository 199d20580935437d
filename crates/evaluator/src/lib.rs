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
//! - [`compare`]: results side by side with paired randomization tests.
//! - [`ExactIndex`], [`CorpusSearch`]: exact top-k search (blocked sgemm + partial selection).
//! - [`trec`]: read and score TREC run/qrels files exactly as trec_eval does.
//!
//! Models plug in through [`Embedder`]; [`HashEmbedder`] is a model-free stand-in for tests.
//! The file layouts and every definition are documented in `docs/evaluation.md`.

pub mod bias;
pub mod compare;
mod corpus;
mod embed;
mod error;
mod evaluate;
mod heatmap;
pub mod metrics;
mod output;
pub mod report;
mod search;
pub mod trec;
mod write;

pub use corpus::CorpusSearch;
pub use embed::{Embedder, HashEmbedder, Role, default_cache_dir};
pub use error::{EvalError, Result};
pub use evaluate::{EvalOptions, Evaluation, TrecExport, evaluate};
pub use heatmap::font_path;
pub use metrics::Metric;
pub use report::{EvalReport, QueryUnit, Setting, setting_weights};
pub use search::{DEFAULT_MEMORY_BUDGET, ExactIndex, Hit};
pub use write::summary;
