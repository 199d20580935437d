//! Training pairs: loaded from ingested tables (or given as rows), grouped for the sampler,
//! tokenised once.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use polyret_encoder::{Role, SentenceConfig, SentenceEncoder, TextTokenizer};
use polyret_ingest::{Catalog, PairRow};
use polyret_sampler::{GroupIndex, PairRef, SamplerError};

use crate::TrainError;
use crate::config::{DataSection, ModelSection, TrainConfig};

/// What a run trains on: the training pairs and, optionally, held-out pairs for the
/// validation loss.
#[derive(Debug)]
pub struct TrainData {
    /// Pairs the sampler draws training batches from.
    pub train: PairSet,
    /// Pairs of the fixed validation batches (`data.validation_pairs` of them).
    pub validation: Option<PairSet>,
}

impl TrainData {
    /// Loads `config.data`: the `data.split` rows of every source and, when
    /// `data.validation_pairs` > 0, the `data.validation_split` rows (none, with a warning, if
    /// the sources have no such rows).
    pub fn load(config: &TrainConfig, tokenizers: &Tokenizers) -> Result<Self, TrainError> {
        let train = PairSet::load(&config.data, &config.data.split, tokenizers)?;
        let validation = if config.data.validation_pairs == 0 {
            None
        } else {
            match PairSet::load(&config.data, &config.data.validation_split, tokenizers) {
                Ok(set) => Some(set),
                Err(TrainError::Data(message)) => {
                    tracing::warn!("no validation pairs: {message}");
                    None
                }
                Err(e) => return Err(e),
            }
        };
        Ok(Self { train, validation })
    }
}

/// Groups pair rows for the sampler: the rows of one `group_id` across languages form one
/// group. A [`SamplerError::DuplicateLanguage`] names rows by their position in `rows`.
pub fn group_index(rows: &[PairRow]) -> Result<GroupIndex, SamplerError> {
    GroupIndex::from_rows(
        rows.iter().map(|r| (r.group_id.as_str(), r.query_lang.as_str(), r.positive_lang.as_str(), r.source.as_str())),
    )
}

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
/// model's role prompts.
pub struct Tokenizers {
    query: TextTokenizer,
    passage: TextTokenizer,
    sentence: SentenceConfig,
}

impl Tokenizers {
    /// The tokenizer of `base`, truncating queries at `model.max_query_tokens` and passages at
    /// `model.max_passage_tokens` (both capped by the model's position table).
    pub fn new(base: &SentenceEncoder, model: &ModelSection) -> Result<Self, TrainError> {
        let bert = base.model().config();
        let path = base.tokenizer().path();
        let limit = |tokens: usize| tokens.min(bert.max_input_tokens());
        Ok(Self {
            query: TextTokenizer::from_file(path, limit(model.max_query_tokens), bert.pad_token_id)?,
            passage: TextTokenizer::from_file(path, limit(model.max_passage_tokens), bert.pad_token_id)?,
            sentence: base.sentence_config().clone(),
        })
    }

    /// Queries truncate at this many tokens.
    pub fn max_query_tokens(&self) -> usize {
        self.query.max_len()
    }

    /// Passages truncate at this many tokens.
    pub fn max_passage_tokens(&self) -> usize {
        self.passage.max_len()
    }

    /// `text` with the role's prompt in front (as [`SentenceEncoder::prompt`] does).
    fn prompt(&self, text: &str, role: Role) -> String {
        let prefix = match role {
            Role::Query => &self.sentence.query_prefix,
            Role::Passage => &self.sentence.passage_prefix,
        };
        format!("{prefix}{text}")
    }
}

impl PairSet {
    /// Loads the `split` rows of every source in `data`, restricted to `data.languages`.
    pub fn load(data: &DataSection, split: &str, tokenizers: &Tokenizers) -> Result<Self, TrainError> {
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

    /// Groups and tokenises `rows` (yours, or read with `polyret_ingest::read_pairs`).
    pub fn from_rows(rows: Vec<PairRow>, tokenizers: &Tokenizers) -> Result<Self, TrainError> {
        let index = group_index(&rows)?;
        let encode = |tok: &TextTokenizer, texts: Vec<String>| -> Result<Vec<Vec<u32>>, TrainError> {
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            Ok(tok.encode(&refs)?)
        };
        let prompt = |text: &str, role| tokenizers.prompt(text, role);
        let query_ids = encode(&tokenizers.query, rows.iter().map(|r| prompt(&r.query, Role::Query)).collect())?;
        let positive_ids =
            encode(&tokenizers.passage, rows.iter().map(|r| prompt(&r.positive, Role::Passage)).collect())?;
        let with_negative: Vec<usize> = (0..rows.len()).filter(|&i| rows[i].negative.is_some()).collect();
        let negatives = encode(
            &tokenizers.passage,
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
