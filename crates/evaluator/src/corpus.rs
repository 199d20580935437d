//! An evaluation set's corpus embedded once and searched with ad-hoc queries (`polyret
//! search`): a quick look at what a model retrieves, and in which languages.

use std::path::Path;

use polyret_ingest::{DocRow, EvalSet};

use crate::embed::{Embedder, Role};
use crate::error::{EvalError, Result};
use crate::search::{ExactIndex, Hit};
use crate::selection::{CorpusLayout, Selection};

/// The documents of a set (optionally only some languages), embedded and indexed.
pub struct CorpusSearch<'a> {
    docs: Vec<&'a DocRow>,
    index: ExactIndex,
}

impl<'a> CorpusSearch<'a> {
    /// Embeds the corpus of `set` (documents in `langs` only, when given; a set with subsets
    /// keeps the subsets wholly in `langs`, as evaluation does) as passages, using
    /// the embedding cache in `cache_dir` when given — the same cache entry `evaluate` uses
    /// for the same languages.
    pub fn build(
        embedder: &dyn Embedder,
        set: &'a EvalSet,
        langs: Option<&[String]>,
        cache_dir: Option<&Path>,
    ) -> Result<Self> {
        let layout = CorpusLayout::new(set, &Selection::new(set, langs)?);
        if layout.docs.is_empty() {
            return Err(EvalError::data(&set.name, "no documents in the requested languages"));
        }
        let (matrix, _) = layout.embed(embedder, cache_dir)?;
        let docs = layout.docs.iter().map(|&i| &set.corpus[i]).collect();
        // Ties as in the run files: the later docid first.
        let index = ExactIndex::new(matrix, embedder.dim())?.with_tie_keys(layout.ties)?;
        Ok(Self { docs, index })
    }

    /// Number of searchable documents.
    pub fn len(&self) -> usize {
        self.docs.len()
    }

    /// Whether there is nothing to search.
    pub fn is_empty(&self) -> bool {
        self.docs.is_empty()
    }

    /// The `k` best documents for `query` (embedded as a query), best first.
    pub fn search(&self, embedder: &dyn Embedder, query: &str, k: usize) -> Result<Vec<(Hit, &'a DocRow)>> {
        let vector = embedder.embed(&[query], Role::Query)?;
        let hits = self.index.search(&vector, k)?;
        Ok(hits.into_iter().flatten().map(|h| (h, self.docs[h.doc])).collect())
    }
}
