//! Hybrid batch sampling over parallel training groups, for multilingual dense retrieval.
//!
//! Training data for multilingual retrieval is largely *parallel*: one question (with its
//! answer) or one image's caption exists in several languages. A [`GroupIndex`] holds these
//! groups and the languages each can be queried and retrieved in; a [`Sampler`] turns it into
//! an endless, deterministic sequence of [`Batch`]es of [`PairRef`]s — (group, query language,
//! passage language) — following a [`Strategy`]:
//!
//! - **En-En**: English monolingual pairs only.
//! - **X-X**: monolingual pairs, languages mixed within a batch.
//! - **X-X-mono**: monolingual pairs, one language per batch.
//! - **X-Y**: cross-lingual pairs only.
//! - **Hybrid(α)**: each batch X-X-mono with probability α (constant or scheduled), else X-Y.
//!
//! Guarantees: a batch never holds two pairs of one group (parallel copies would be false
//! in-batch negatives); every batch has exactly `batch_size` pairs; each language's groups are
//! dealt once per pass in a fresh permutation; the sequence depends only on the index, the
//! config and the seed, and [`Sampler::state`] / [`Sampler::resume`] continue it exactly.
//! `docs/sampler.md` in the Polyret repository explains the semantics in detail.
//!
//! Configs and command lines spell a strategy flat ([`SamplerOptions`]: `strategy = "hybrid"`,
//! `alpha = 0.5`; with the `clap` feature, the same as flags: [`SamplerArgs`]); a
//! [`BatchRecord`] is a batch written out by name.
//!
//! A training table with one row per (query, positive) pair — a sentence-transformers dataset —
//! goes through a [`PairTable`], which turns batches into row numbers; [`expand_parallel`]
//! makes such a table's pairs from parallel rows.
//!
//! ```
//! use std::sync::Arc;
//! use polyret_sampler::{AlphaSchedule, GroupIndex, Sampler, SamplerConfig, Strategy};
//!
//! let mut builder = GroupIndex::builder();
//! for q in 0..8 {
//!     builder.add_group(&format!("q{q}"), "xquad", &["en", "de", "ar"], &["en", "de", "ar"])?;
//! }
//! let index = Arc::new(builder.build()?);
//! let config = SamplerConfig::new(Strategy::Hybrid { alpha: AlphaSchedule::Constant(0.5) }, 4, 7);
//! let mut sampler = Sampler::new(Arc::clone(&index), config.clone())?;
//! let batch = sampler.next_batch();
//! assert_eq!(batch.pairs.len(), 4);
//!
//! // Save, restore, continue identically.
//! let state = sampler.state();
//! let mut resumed = Sampler::resume(index, config, state)?;
//! assert_eq!(resumed.next_batch(), sampler.next_batch());
//! # Ok::<(), polyret_sampler::SamplerError>(())
//! ```

#[cfg(feature = "clap")]
mod args;
mod config;
mod error;
mod index;
mod options;
mod pairs;
mod record;
mod rng;
mod sampler;
mod state;
mod stream;

#[cfg(feature = "clap")]
pub use args::{DEFAULT_ALPHA, SamplerArgs, Weighting};
pub use config::{AlphaSchedule, LanguageWeighting, SamplerConfig, SmallLanguagePolicy, Strategy};
pub use error::{SamplerError, Side};
pub use index::{GroupIdx, GroupIndex, GroupIndexBuilder, LangId};
pub use options::{SamplerOptions, StrategyKind};
pub use pairs::{PairTable, expand_parallel};
pub use record::{BatchRecord, PairRecord};
pub use sampler::{Batch, BatchKind, Exclusion, PairRef, Sampler, StreamCoverage, StreamKind};
pub use state::SamplerState;
