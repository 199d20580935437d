//! Training pairs: loaded from ingested tables, grouped for the sampler, tokenised once.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use polyret_encoder::{Role, TextTokenizer};
use polyret_ingest::{Catalog, PairRow};
use polyret_sampler::{GroupIndex, PairRef};

use crate::TrainError;
use crate::config::DataSection;

/// Token ids of one pair's texts, role prompts and special tokens included.
#[derive(Debug, Clone, Copy)]
pub struct PairTokens<'a> {
    /// The query (from the query-language row).
    pub query: &'a [u32],
    /// The positive passage (from the passage-language row).
    pub positive: &'a [u32],
    /// The hard negative of the passage row, if the table has one.
    pub negative: Option<&'a [u32]>,
}

/// Pair rows of one split, their sampler groups and pre-computed token ids.
#[derive(Debug)]
pub struct PairSet {
    /// The rows, in table order.
    pub rows: Vec<PairRow>,
    /// Groups for the sampler (rows of one `group_id` across languages form one group).
    pub index: Arc<GroupIndex>,
    query_ids: Vec<Vec<u32>>,
    positive_ids: Vec<Vec<u32>>,
    negative_ids: Vec<Option<Vec<u32>>>,
}

/// How texts become token ids: one tokenizer per role (their length limits differ) and the
/// role prompts.
pub struct Tokenizers<'a> {
    /// Truncates at `max_query_tokens`.
    pub query: &'a TextTokenizer,
    /// Truncates at `max_passage_tokens`.
    pub passage: &'a TextTokenizer,
    /// Puts the role prompt in front of a text.
    pub prompt: &'a dyn Fn(&str, Role) -> String,
}

impl PairSet {
    /// Loads the `split` rows of every source in `data`, restricted to `data.languages`.
    pub fn load(data: &DataSection, split: &str, tokenizers: &Tokenizers<'_>) -> Result<Self, TrainError> {
        let mut rows = Vec::new();
        for source in &data.sources {
            let table = read_source(&data.dir, source)?;
            let before = rows.len();
            rows.extend(table.into_iter().filter(|r| {
                r.split == split
                    && (data.languages.is_empty()
                        || (data.languages.contains(&r.query_lang) && data.languages.contains(&r.positive_lang)))
            }));
            tracing::info!(source = %source, split, rows = rows.len() - before, "training pairs");
        }
        if rows.is_empty() {
            return Err(TrainError::Data(format!(
                "no {split} pairs in {} (languages {:?})",
                data.sources.join(", "),
                data.languages
            )));
        }
        Self::from_rows(rows, tokenizers)
    }

    /// Groups and tokenises `rows`.
    pub fn from_rows(rows: Vec<PairRow>, tokenizers: &Tokenizers<'_>) -> Result<Self, TrainError> {
        let index = GroupIndex::from_rows(
            rows.iter()
                .map(|r| (r.group_id.as_str(), r.query_lang.as_str(), r.positive_lang.as_str(), r.source.as_str())),
        )?;
        let encode = |tok: &TextTokenizer, texts: Vec<String>| -> Result<Vec<Vec<u32>>, TrainError> {
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            Ok(tok.encode(&refs)?)
        };
        let prompt = tokenizers.prompt;
        let query_ids = encode(tokenizers.query, rows.iter().map(|r| prompt(&r.query, Role::Query)).collect())?;
        let positive_ids =
            encode(tokenizers.passage, rows.iter().map(|r| prompt(&r.positive, Role::Passage)).collect())?;
        let with_negative: Vec<usize> = (0..rows.len()).filter(|&i| rows[i].negative.is_some()).collect();
        let negatives = encode(
            tokenizers.passage,
            with_negative.iter().map(|&i| prompt(rows[i].negative.as_deref().unwrap_or(""), Role::Passage)).collect(),
        )?;
        let mut negative_ids = vec![None; rows.len()];
        for (i, ids) in with_negative.into_iter().zip(negatives) {
            negative_ids[i] = Some(ids);
        }
        Ok(Self { rows, index: Arc::new(index), query_ids, positive_ids, negative_ids })
    }

    /// The texts of a sampled pair: the query of its query-language row, the positive (and
    /// negative) of its passage-language row.
    pub fn pair(&self, pair: &PairRef) -> PairTokens<'_> {
        let q = self.index.query_row(pair.group, pair.query_lang).expect("sampled query language exists");
        let p = self.index.passage_row(pair.group, pair.passage_lang).expect("sampled passage language exists");
        PairTokens {
            query: &self.query_ids[q],
            positive: &self.positive_ids[p],
            negative: self.negative_ids[p].as_deref(),
        }
    }

    /// Whether every row has a hard negative.
    pub fn all_have_negatives(&self) -> bool {
        self.negative_ids.iter().all(Option::is_some)
    }

    /// Every distinct token sequence (for caching frozen layers).
    pub fn all_sequences(&self) -> impl Iterator<Item = &[u32]> {
        self.query_ids
            .iter()
            .chain(&self.positive_ids)
            .map(Vec::as_slice)
            .chain(self.negative_ids.iter().flatten().map(Vec::as_slice))
    }
}

/// Reads a pair table: a catalog name under `dir`, or a Parquet path.
fn read_source(dir: &Path, source: &str) -> Result<Vec<PairRow>, TrainError> {
    let path = PathBuf::from(source);
    if path.extension().is_some_and(|e| e == "parquet") {
        return Ok(polyret_ingest::read_pairs(&path)?);
    }
    let catalog = Catalog::load(&dir.join("parquet").join(polyret_ingest::CATALOG_FILE))?;
    Ok(catalog.read_pairs(source)?)
}
