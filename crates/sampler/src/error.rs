//! Errors of index building, sampler construction and resuming.

use std::fmt;

use crate::sampler::{Exclusion, StreamKind};

/// Query or passage side of a group, for error messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The languages a group can be queried in.
    Query,
    /// The languages a group can be retrieved in.
    Passage,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Query => "query",
            Side::Passage => "passage",
        })
    }
}

/// Everything that can go wrong. The sampler knows no file names: callers reading a file add
/// its name (the CLI and trainer wrap these with `anyhow` context).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SamplerError {
    /// No rows or groups at all.
    #[error("no training groups: the pairs input is empty")]
    EmptyIndex,
    /// A row or group without an id.
    #[error("a group of source `{source_name}` has an empty group id")]
    EmptyGroupId {
        /// Source of the offending row.
        source_name: String,
    },
    /// A row or group with an empty language code.
    #[error("group `{group}` has an empty language code")]
    EmptyLanguageCode {
        /// Group id.
        group: String,
    },
    /// A group added without query or passage languages.
    #[error("group `{group}` (source `{source_name}`) has no {side} language")]
    NoLanguages {
        /// Group id.
        group: String,
        /// Source name.
        source_name: String,
        /// The empty side.
        side: Side,
    },
    /// A language appears twice on one side of a group: which row would a pair use?
    #[error(
        "group `{group}` (source `{source_name}`) has {side} language `{lang}` twice{}; \
         a group holds one row per language",
        rows.map(|(a, b)| format!(" (rows {a} and {b} of the input, counting from 0)")).unwrap_or_default()
    )]
    DuplicateLanguage {
        /// Group id.
        group: String,
        /// Source name.
        source_name: String,
        /// Side with the repeated language.
        side: Side,
        /// The repeated language code.
        lang: String,
        /// The two input rows, when the index was built from rows.
        rows: Option<(usize, usize)>,
    },
    /// The same `(source, id)` added twice with the builder.
    #[error("group `{group}` of source `{source_name}` was added twice")]
    DuplicateGroup {
        /// Group id.
        group: String,
        /// Source name.
        source_name: String,
    },
    /// A [`crate::PairTable`] with two rows for one pair: which row would a batch use?
    #[error(
        "group `{group}` (source `{source_name}`) has the pair (query language `{query_lang}`, passage \
         language `{passage_lang}`) twice (rows {} and {} of the input, counting from 0); a pair table \
         holds one row per pair",
        rows.0, rows.1
    )]
    DuplicatePair {
        /// Group id.
        group: String,
        /// Source name.
        source_name: String,
        /// Query language of the pair.
        query_lang: String,
        /// Passage language of the pair.
        passage_lang: String,
        /// The two input rows.
        rows: (usize, usize),
    },
    /// A [`crate::PairTable`] lacks a pair the strategy can draw.
    #[error(
        "the pair table has no row for group `{group}` (source `{source_name}`) with query language \
         `{query_lang}` and passage language `{passage_lang}`{}, which {kind} batches can draw; every pair \
         a strategy draws must be a row: build the cross-lingual pairs of a parallel table with \
         expand_parallel, or choose a strategy that needs only the pairs the table has",
        if *missing > 1 { format!(" (nor for {} other pairs)", missing - 1) } else { String::new() }
    )]
    MissingPair {
        /// Kind of draw that needs the pair.
        kind: StreamKind,
        /// Group id of the first missing pair.
        group: String,
        /// Its source.
        source_name: String,
        /// Its query language.
        query_lang: String,
        /// Its passage language.
        passage_lang: String,
        /// Number of missing pairs, this one included.
        missing: usize,
    },
    /// More input rows, or (group, language) slots, than a `u32` can count.
    #[error("too many rows or (group, language) combinations for the sampler (at most 4294967294)")]
    TooManyRows,
    /// More groups than a `u32` can count.
    #[error("too many groups for the sampler (at most 4294967295)")]
    TooManyGroups,
    /// More distinct language codes than a `u16` can count.
    #[error("too many distinct language codes (at most 65536)")]
    TooManyLanguages,
    /// More distinct sources than a `u32` can count.
    #[error("too many distinct sources (at most 4294967296)")]
    TooManySources,
    /// A configuration value out of range.
    #[error("invalid sampler configuration: {0}")]
    InvalidConfig(String),
    /// En-En asked for a language code that no group has.
    #[error("En-En sampling needs language `{code}`, which no group has (languages: {available})")]
    UnknownLanguage {
        /// The configured English code.
        code: String,
        /// Comma-separated codes of the index.
        available: String,
    },
    /// Under [`crate::SmallLanguagePolicy::Error`]: languages that cannot fill a batch alone.
    #[error(
        "{} fewer groups than the batch size {batch_size} for {kind} batches: {}; lower the batch \
         size, or set small_languages = \"exclude\" to leave them out of these draws",
        if languages.len() == 1 { "1 language has" } else { "some languages have" },
        languages.iter().map(Exclusion::short).collect::<Vec<_>>().join(", ")
    )]
    SmallLanguages {
        /// Kind of draw that needs the languages.
        kind: StreamKind,
        /// The configured batch size.
        batch_size: usize,
        /// Every offending language, with its source and group count.
        languages: Vec<Exclusion>,
    },
    /// The strategy needs a kind of pair the data cannot give.
    #[error("nothing to sample for {kind} batches: {detail}")]
    NothingToSample {
        /// Kind of draw that is impossible.
        kind: StreamKind,
        /// Why.
        detail: String,
    },
    /// A state saved by another version of this crate.
    #[error("sampler state has format version {found}, this build reads version {expected}")]
    StateVersion {
        /// Version in the state.
        found: u32,
        /// Version this build writes.
        expected: u32,
    },
    /// A state saved for other data or another configuration.
    #[error(
        "sampler state was saved for different groups or a different configuration \
         (fingerprint {found}, expected {expected}); resume with the same data and settings"
    )]
    StateMismatch {
        /// Fingerprint in the state.
        found: String,
        /// Fingerprint of this index and config.
        expected: String,
    },
    /// A state that cannot have been produced by a sampler with this fingerprint.
    #[error("corrupt sampler state: {0}")]
    CorruptState(String),
}
