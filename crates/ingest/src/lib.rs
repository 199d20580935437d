//! Multilingual retrieval datasets into typed rows and Parquet tables.
//!
//! Every source is read into one of two table shapes: training *pairs* ([`PairRow`]) and
//! *evaluation sets* ([`EvalSet`]: queries, corpus, qrels). Tables are written to Parquet under
//! one root directory and listed in its `catalog.json` ([`Catalog`]), which is how the trainer
//! and the evaluator find them. Entry points:
//!
//! - bundled benchmarks (XQuAD + XQuAD-R, MLQA-R, Multi30K, xFlickr&CO, Tatoeba), read from a
//!   raw directory laid out as `OWNER/REPO/PATH` (what `polyret-fetch` downloads):
//!   [`Dataset::ingest`], then [`Catalog::publish`];
//! - user data: [`read_jsonl_pairs`] and [`read_parallel_dir`];
//! - tables: [`read_pairs`] / [`write_pairs`], [`read_eval_set`] / [`write_eval_set`],
//!   [`read_embeddings`] / [`write_embeddings`].
//!
//! Language codes are canonicalised on the way in ([`canonical_lang`]). Errors name the file and
//! line ([`IngestError`]). The layout and every decision taken on the data are documented in
//! `docs/data-format.md`.
//!
//! ```
//! use polyret_ingest::{CATALOG_FILE, Catalog, Ingested, PairRow, TableKind, read_jsonl_pairs};
//!
//! let dir = tempfile::tempdir()?;
//! let jsonl = dir.path().join("mine.jsonl");
//! std::fs::write(&jsonl, r#"{"query": "Wo?", "positive": "Here.", "query_lang": "deu", "positive_lang": "en"}"#)?;
//! let table = read_jsonl_pairs(&jsonl, "mine")?;
//!
//! let catalog_file = dir.path().join("parquet").join(CATALOG_FILE);
//! let mut catalog = Catalog::load_or_new(&catalog_file)?;
//! catalog.publish(&Ingested { tables: vec![table], xquad_split: None }, &[], None)?;
//!
//! let catalog = Catalog::load(&catalog_file)?;
//! assert_eq!(catalog.table("mine").map(|t| t.kind), Some(TableKind::Pairs));
//! let rows: Vec<PairRow> = catalog.read_pairs("mine")?;
//! assert_eq!((rows[0].query_lang.as_str(), rows[0].positive.as_str()), ("de", "Here."));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod catalog;
mod error;
mod io;
mod jsonl;
mod lang;
mod mlqa;
mod multi30k;
mod parallel;
mod sentences;
mod tables;
mod tatoeba;
mod xflickrco;
mod xquad;

use std::path::Path;

pub use catalog::{
    CATALOG_FILE, Catalog, CatalogEntry, Ingested, Replace, Source, SourceFile, Table, TableData, TableKind,
    XquadSplit, validate_table_name,
};
pub use error::{IngestError, Line, Result};
pub use io::{numbered_lines, read_text};
pub use jsonl::read_jsonl_pairs;
pub use lang::{canonical as canonical_lang, is_canonical as is_canonical_lang};
pub use parallel::{language_files, read_parallel_dir};
pub use tables::{
    DocRow, EmbeddedText, EvalSet, LanguageSelection, PAIRS_FILE, PairRow, PartInfo, QrelRow, QueryRow, SPLITS,
    TableInfo, read_embeddings, read_eval_set, read_pairs, write_embeddings, write_eval_set, write_pairs,
};

/// Version of the readers' output. Bump it whenever a reader's output changes for the same
/// input, so that `fetch-data` rebuilds tables made by an older version.
pub const FORMAT_VERSION: u32 = 1;

/// A bundled benchmark: the unit that is fetched, ingested and kept up to date together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dataset {
    /// XQuAD + XQuAD-R: `xquad-pairs`, `xquad-r`, `xquad-r-full`.
    Xquad,
    /// MLQA-R (LAReQA): `mlqa-r`.
    MlqaR,
    /// Multi30K: `multi30k-pairs` and four test sets.
    Multi30k,
    /// xFlickr&CO: `xflickrco`.
    XflickrCo,
    /// Tatoeba (LASER): `tatoeba`.
    Tatoeba,
}

impl Dataset {
    /// Every bundled benchmark.
    pub const ALL: [Dataset; 5] =
        [Dataset::Xquad, Dataset::MlqaR, Dataset::Multi30k, Dataset::XflickrCo, Dataset::Tatoeba];

    /// Name used on the command line (`--only xquad`).
    pub fn name(self) -> &'static str {
        match self {
            Dataset::Xquad => "xquad",
            Dataset::MlqaR => mlqa::MLQA_R_TABLE,
            Dataset::Multi30k => "multi30k",
            Dataset::XflickrCo => "xflickrco",
            Dataset::Tatoeba => "tatoeba",
        }
    }

    /// The dataset called `name`, also accepting the name of any table it produces and the
    /// `xquad-r` source name (`xquad-r-full` → XQuAD, `multi30k-test_2016` → Multi30K).
    pub fn from_name(name: &str) -> Option<Dataset> {
        Dataset::ALL.into_iter().find(|d| d.name() == name || d.tables().contains(&name))
    }

    /// Names of the `data/manifest.toml` entries (each one repository at one commit) whose
    /// files the reader reads. One repository can have several entries: LAReQA's XQuAD-R and
    /// MLQA-R are pinned to different commits.
    pub fn manifest_entries(self) -> &'static [&'static str] {
        match self {
            Dataset::Xquad => &["xquad", "xquad-r"],
            Dataset::MlqaR => &["mlqa-r"],
            Dataset::Multi30k => &["multi30k"],
            Dataset::XflickrCo => &["xflickrco"],
            Dataset::Tatoeba => &["tatoeba"],
        }
    }

    /// Names of the tables the reader produces.
    pub fn tables(self) -> &'static [&'static str] {
        match self {
            Dataset::Xquad => &["xquad-pairs", "xquad-r", "xquad-r-full"],
            Dataset::MlqaR => &[mlqa::MLQA_R_TABLE],
            Dataset::Multi30k => &[
                "multi30k-pairs",
                "multi30k-test_2016",
                "multi30k-test_2017",
                "multi30k-test_2017_mscoco",
                "multi30k-test_2018",
            ],
            Dataset::XflickrCo => &["xflickrco"],
            Dataset::Tatoeba => &["tatoeba"],
        }
    }

    /// Reads the benchmark from `raw_root` (laid out as `OWNER/REPO/PATH`) into tables.
    pub fn ingest(self, raw_root: &Path) -> Result<Ingested> {
        let ingested = match self {
            Dataset::Xquad => xquad::ingest(raw_root),
            Dataset::MlqaR => mlqa::ingest(raw_root),
            Dataset::Multi30k => multi30k::ingest(raw_root),
            Dataset::XflickrCo => xflickrco::ingest(raw_root),
            Dataset::Tatoeba => tatoeba::ingest(raw_root),
        }?;
        debug_assert!(ingested.tables.iter().map(|t| t.name.as_str()).eq(self.tables().iter().copied()));
        Ok(ingested)
    }
}

impl std::fmt::Display for Dataset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
