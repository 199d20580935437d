//! # polyret-evaluator
//!
//! LAReQA-style zero-shot evaluation of multilingual retrieval models.
//!
//! - [`evaluate`]: embed an evaluation set's queries and corpus (each distinct text once,
//!   cached on disk per model and content), rank every query against every corpus language of
//!   its subset (the query-language × corpus-language matrix; monolingual and cross-lingual
//!   are its diagonal and off-diagonal means) and against one multilingual pool where every
//!   parallel copy is relevant; measure with trec_eval's definitions ([`metrics`]); report
//!   language bias ([`bias`]). It computes and returns an [`Evaluation`]; the caller writes it
//!   ([`Evaluation::write`]: `results.json`, `per_query.tsv`, TREC runs and qrels, a heatmap
//!   and a markdown summary) or not.
//! - [`evaluate_embeddings`]: the same evaluation on embeddings computed elsewhere (the Python
//!   package's entry point), with [`group_qrels`] for sets judged by group; [`load_benchmark`]
//!   finds a set by name or directory.
//! - [`compare`]: results side by side with paired randomization tests.
//! - [`ExactIndex`], [`CorpusSearch`]: exact top-k search (blocked sgemm + partial selection).
//! - [`trec`]: read and score TREC run/qrels files exactly as trec_eval does.
//!
//! Models plug in through [`Embedder`]; [`HashEmbedder`] is a model-free stand-in for tests.
//! The file layouts and every definition are documented in `docs/evaluation.md`.
//!
//! ```
//! use polyret_evaluator::{EvalOptions, HashEmbedder, evaluate};
//! use polyret_ingest::{DocRow, EvalSet, QrelRow, QueryRow};
//!
//! // Two parallel sentences: each is a query and a document, relevant to the other.
//! let mut set = EvalSet { name: "toy".into(), ..Default::default() };
//! for (id, text) in [("de", "der Hund schläft"), ("en", "the dog sleeps")] {
//!     let (lang, text, group_id) = (id.to_owned(), text.to_owned(), "1".to_owned());
//!     set.corpus.push(DocRow { docid: id.into(), lang, text, group_id, subset: None });
//!     let doc = set.corpus.last().unwrap().clone();
//!     set.queries.push(QueryRow { qid: doc.docid, lang: doc.lang, text: doc.text, group_id: doc.group_id, subset: None });
//! }
//! set.qrels = polyret_evaluator::group_qrels(&set);
//!
//! let mut evaluation = evaluate(&HashEmbedder::new(32), &set, &EvalOptions::default())?;
//! assert_eq!(evaluation.report.main_score, Some(1.0)); // the only other document is relevant
//! let dir = tempfile::tempdir()?;
//! evaluation.write(dir.path())?;
//! assert!(dir.path().join("results.json").is_file() && dir.path().join("multilingual/run.trec").is_file());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod aggregate;
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
mod options;
mod prepare;
mod rank;
pub mod report;
mod run_files;
mod search;
mod selection;
pub mod trec;
mod write;

pub use benchmark::load_benchmark;
pub use corpus::CorpusSearch;
pub use embed::{Embedder, HashEmbedder, Role, default_cache_dir};
pub use embedded::{Embeddings, evaluate_embeddings, group_qrels};
pub use error::{EvalError, Result};
pub use evaluate::{Evaluation, evaluate};
pub use heatmap::font_path;
pub use metrics::Metric;
pub use options::{EvalOptions, TrecExport};
pub use report::{EvalReport, QueryUnit, Setting, setting_weights};
pub use search::{DEFAULT_MEMORY_BUDGET, ExactIndex, Hit};
pub use write::summary;
