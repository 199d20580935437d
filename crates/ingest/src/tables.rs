//! The two table shapes every other crate reads — training *pairs* and *evaluation sets*
//! (queries, corpus, qrels) — as typed rows, with Parquet writers and readers.
//!
//! Files are written atomically (a unique temporary, then rename), zstd-compressed, strings as Arrow
//! `Utf8`. Rows are validated on the way out *and* on the way in, so that a table that reached
//! the trainer or the evaluator obeys the rules they rely on (canonical language codes, unique
//! ids, qrels that point at existing queries and documents of the same subset).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs::File;
use std::mem::take;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Int32Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use polyret_files::HashingWriter;
use serde::{Deserialize, Serialize};

use crate::error::{IngestError, Result};
use crate::io::write_atomic;
use crate::lang;

/// File name of a pairs table inside its table directory.
pub const PAIRS_FILE: &str = "pairs.parquet";
/// File names of the three parts of an evaluation set inside its directory.
pub const QUERIES_FILE: &str = "queries.parquet";
/// See [`QUERIES_FILE`].
pub const CORPUS_FILE: &str = "corpus.parquet";
/// See [`QUERIES_FILE`].
pub const QRELS_FILE: &str = "qrels.parquet";

/// Split names a pairs row may carry.
pub const SPLITS: [&str; 3] = ["train", "val", "test"];

/// One training example: a query and its positive passage, possibly in different languages.
/// Parallel sources write one row per (group, language); a cross-lingual pair is then the
/// query of one row with the positive of another row of the same `group_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairRow {
    /// Parallel copies share it (XQuAD: question id; Multi30K: image id).
    pub group_id: String,
    /// Canonical language code of `query`.
    pub query_lang: String,
    /// The question or caption.
    pub query: String,
    /// Canonical language code of `positive`.
    pub positive_lang: String,
    /// The answer sentence or paired caption.
    pub positive: String,
    /// Optional hard negative, in `positive_lang`.
    pub negative: Option<String>,
    /// Optional surrounding text (XQuAD: the paragraph the positive was cut from).
    pub context: Option<String>,
    /// `train`, `val` or `test`.
    pub split: String,
    /// Where the row came from, e.g. `xquad`, `multi30k`, `jsonl:pairs.jsonl`.
    pub source: String,
}

/// A query of an evaluation set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryRow {
    /// Unique within the set; caption and bitext sets reuse it as the id of the same text in
    /// the corpus.
    pub qid: String,
    /// Canonical language code.
    pub lang: String,
    /// The query text.
    pub text: String,
    /// Parallel copies share it (XQuAD-R: question id; captions: image id).
    pub group_id: String,
    /// When set, the query ranks only documents of the same subset (Tatoeba: `xxx-eng`).
    pub subset: Option<String>,
}

/// A document of an evaluation corpus.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocRow {
    /// Unique within the set.
    pub docid: String,
    /// Canonical language code.
    pub lang: String,
    /// The document text.
    pub text: String,
    /// Informational grouping (XQuAD-R: `article.paragraph`; captions: image id).
    pub group_id: String,
    /// See [`QueryRow::subset`].
    pub subset: Option<String>,
}

/// A relevance judgement: `docid` answers `qid` with grade `rel` (1 in every bundled set).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QrelRow {
    /// A query id of the set.
    pub qid: String,
    /// A document id of the set.
    pub docid: String,
    /// Relevance grade, > 0.
    pub rel: i32,
}

/// An evaluation set: its name (the catalog table name) and its three tables.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EvalSet {
    /// Table name, e.g. `xquad-r`.
    pub name: String,
    /// The queries.
    pub queries: Vec<QueryRow>,
    /// The candidate pool.
    pub corpus: Vec<DocRow>,
    /// Relevance judgements.
    pub qrels: Vec<QrelRow>,
}

/// What was written for one Parquet file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartInfo {
    /// Where the file is.
    pub path: PathBuf,
    /// Number of rows.
    pub rows: u64,
    /// Hex SHA-256 of the file bytes.
    pub sha256: String,
}

/// What was written for a table: one part (`pairs`) or three (`queries`, `corpus`, `qrels`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableInfo {
    /// Part name → file.
    pub parts: BTreeMap<String, PartInfo>,
}

impl TableInfo {
    /// Sum of the rows of all parts.
    pub fn total_rows(&self) -> u64 {
        self.parts.values().map(|p| p.rows).sum()
    }
}

// ---------------------------------------------------------------------------------------
// Validation

fn check_lang(path: &Path, what: &str, i: usize, code: &str) -> Result<()> {
    if lang::is_canonical(code) {
        Ok(())
    } else {
        Err(IngestError::invalid(
            path,
            None,
            format!("row {}: {what} `{code}` is not a canonical language code", i + 1),
        ))
    }
}

fn check_nonempty(path: &Path, what: &str, i: usize, value: &str) -> Result<()> {
    if value.trim().is_empty() {
        Err(IngestError::invalid(path, None, format!("row {}: empty {what}", i + 1)))
    } else {
        Ok(())
    }
}

/// Checks the rules of a pairs table; `path` is only used in the error message.
pub fn validate_pairs(path: &Path, rows: &[PairRow]) -> Result<()> {
    for (i, r) in rows.iter().enumerate() {
        check_nonempty(path, "group_id", i, &r.group_id)?;
        check_nonempty(path, "query", i, &r.query)?;
        check_nonempty(path, "positive", i, &r.positive)?;
        check_nonempty(path, "source", i, &r.source)?;
        check_lang(path, "query_lang", i, &r.query_lang)?;
        check_lang(path, "positive_lang", i, &r.positive_lang)?;
        if !SPLITS.contains(&r.split.as_str()) {
            return Err(IngestError::invalid(
                path,
                None,
                format!("row {}: split `{}` is not one of {}", i + 1, r.split, SPLITS.join("/")),
            ));
        }
    }
    Ok(())
}

/// Two rows of a pairs table that give one group the same language on one side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepeatedLanguage {
    /// 0-based index of the earlier row.
    pub first: usize,
    /// 0-based index of the row that repeats it.
    pub second: usize,
    /// `query` or `positive`.
    pub side: &'static str,
    /// The language code.
    pub lang: String,
}

impl RepeatedLanguage {
    /// The rule in words, for `group` of the rows.
    pub fn message(&self, group: &str) -> String {
        format!(
            "group `{group}` has {} language `{}` twice; a group holds one row per language \
             (parallel copies share a group_id, other rows need their own)",
            self.side, self.lang
        )
    }
}

/// The first repeated language within a group (rows of one split and source with one
/// `group_id`): the sampler turns a group into pairs by language and would refuse the table
/// later, so ingestion refuses it now.
pub fn find_repeated_language(rows: &[PairRow]) -> Option<RepeatedLanguage> {
    let mut seen: HashMap<(&str, &str, &str, &'static str, &str), usize> = HashMap::with_capacity(rows.len() * 2);
    for (i, r) in rows.iter().enumerate() {
        for (side, lang) in [("query", &r.query_lang), ("positive", &r.positive_lang)] {
            let key = (r.split.as_str(), r.source.as_str(), r.group_id.as_str(), side, lang.as_str());
            if let Some(&first) = seen.get(&key) {
                return Some(RepeatedLanguage { first, second: i, side, lang: lang.clone() });
            }
            seen.insert(key, i);
        }
    }
    None
}

impl EvalSet {
    /// Checks the rules the evaluator relies on: non-empty texts, canonical languages, unique
    /// query and document ids, qrels with positive grades that point at an existing query and
    /// document of the same subset, never at the query's own id, and no repeated judgement.
    /// `path` is only used in error messages.
    pub fn validate(&self, path: &Path) -> Result<()> {
        let mut query_subset: HashMap<&str, Option<&str>> = HashMap::with_capacity(self.queries.len());
        for (i, q) in self.queries.iter().enumerate() {
            check_nonempty(path, "qid", i, &q.qid)?;
            check_nonempty(path, "query text", i, &q.text)?;
            check_lang(path, "lang", i, &q.lang)?;
            if query_subset.insert(&q.qid, q.subset.as_deref()).is_some() {
                return Err(IngestError::DuplicateId { path: path.into(), line: crate::Line(None), id: q.qid.clone() });
            }
        }
        let mut doc_subset: HashMap<&str, Option<&str>> = HashMap::with_capacity(self.corpus.len());
        for (i, d) in self.corpus.iter().enumerate() {
            check_nonempty(path, "docid", i, &d.docid)?;
            check_nonempty(path, "document text", i, &d.text)?;
            check_lang(path, "lang", i, &d.lang)?;
            if doc_subset.insert(&d.docid, d.subset.as_deref()).is_some() {
                return Err(IngestError::DuplicateId {
                    path: path.into(),
                    line: crate::Line(None),
                    id: d.docid.clone(),
                });
            }
        }
        let mut seen: HashSet<(&str, &str)> = HashSet::with_capacity(self.qrels.len());
        for (i, r) in self.qrels.iter().enumerate() {
            let bad = |m: String| Err(IngestError::invalid(path, None, format!("qrel {}: {m}", i + 1)));
            let Some(qs) = query_subset.get(r.qid.as_str()) else {
                return bad(format!("unknown qid `{}`", r.qid));
            };
            let Some(ds) = doc_subset.get(r.docid.as_str()) else {
                return bad(format!("unknown docid `{}`", r.docid));
            };
            if r.qid == r.docid {
                return bad(format!("`{}` judged relevant to itself", r.qid));
            }
            if qs != ds {
                return bad(format!("query `{}` and document `{}` are in different subsets", r.qid, r.docid));
            }
            if r.rel <= 0 {
                return bad(format!("non-positive grade {}", r.rel));
            }
            if !seen.insert((&r.qid, &r.docid)) {
                return bad(format!("(`{}`, `{}`) judged twice", r.qid, r.docid));
            }
        }
        Ok(())
    }

    /// The part of the set in `langs`: queries and documents that [`LanguageSelection`] keeps
    /// and the qrels between them.
    pub fn select_languages(&self, langs: &[String]) -> EvalSet {
        let selection = LanguageSelection::new(self, langs);
        let keep = |subset: &Option<String>, lang: &str| selection.keeps(subset.as_deref(), lang);
        let queries: Vec<QueryRow> = self.queries.iter().filter(|q| keep(&q.subset, &q.lang)).cloned().collect();
        let corpus: Vec<DocRow> = self.corpus.iter().filter(|d| keep(&d.subset, &d.lang)).cloned().collect();
        let qids: HashSet<&str> = queries.iter().map(|q| q.qid.as_str()).collect();
        let docids: HashSet<&str> = corpus.iter().map(|d| d.docid.as_str()).collect();
        let qrels = self
            .qrels
            .iter()
            .filter(|r| qids.contains(r.qid.as_str()) && docids.contains(r.docid.as_str()))
            .cloned()
            .collect();
        EvalSet { name: self.name.clone(), queries, corpus, qrels }
    }

    /// (subset, language) of every query, then every document.
    fn row_languages(&self) -> impl Iterator<Item = (Option<&str>, &str)> {
        let queries = self.queries.iter().map(|q| (q.subset.as_deref(), q.lang.as_str()));
        queries.chain(self.corpus.iter().map(|d| (d.subset.as_deref(), d.lang.as_str())))
    }

    /// Sorted, de-duplicated languages of queries and corpus.
    pub fn languages(&self) -> Vec<String> {
        let mut langs: Vec<String> =
            self.queries.iter().map(|q| &q.lang).chain(self.corpus.iter().map(|d| &d.lang)).cloned().collect();
        langs.sort();
        langs.dedup();
        langs
    }
}

/// What a language filter keeps of an [`EvalSet`]: the rows in its languages, and of a set with
/// subsets (Tatoeba's `xxx-eng`) only the subsets whose rows are all in them, so that `de,en`
/// selects `deu-eng` rather than the English side of every subset. The one statement of that
/// rule: [`EvalSet::select_languages`] and the evaluator (evaluation and search) both ask it.
#[derive(Debug, Clone)]
pub struct LanguageSelection<'a> {
    set: &'a EvalSet,
    langs: Vec<String>,
    /// Subsets with a row outside `langs`: dropped whole.
    partial: HashSet<&'a str>,
}

impl<'a> LanguageSelection<'a> {
    /// The selection of `langs` from `set`.
    pub fn new(set: &'a EvalSet, langs: &[String]) -> Self {
        let outside = |lang: &str| !langs.iter().any(|l| l == lang);
        let partial = set.row_languages().filter_map(|(subset, lang)| subset.filter(|_| outside(lang))).collect();
        Self { set, langs: langs.to_vec(), partial }
    }

    /// Whether a row of `subset` in `lang` is kept.
    pub fn keeps(&self, subset: Option<&str>, lang: &str) -> bool {
        self.langs.iter().any(|l| l == lang) && subset.is_none_or(|s| !self.partial.contains(s))
    }

    /// Whether some subset of the corpus is kept (always, for a corpus without subsets): false
    /// for Tatoeba filtered to `de` alone, whose every subset also needs `en`.
    pub fn keeps_a_subset(&self) -> bool {
        let mut subsets = self.set.corpus.iter().filter_map(|d| d.subset.as_deref()).peekable();
        subsets.peek().is_none() || subsets.any(|s| !self.partial.contains(s))
    }

    /// Sorted languages of the kept rows: a filtered language whose every row sits in a dropped
    /// subset is not among them.
    pub fn languages(&self) -> Vec<String> {
        let kept: BTreeSet<&str> =
            self.set.row_languages().filter(|&(subset, lang)| self.keeps(subset, lang)).map(|(_, lang)| lang).collect();
        kept.into_iter().map(str::to_owned).collect()
    }
}

/// Sorted, de-duplicated languages of a pairs table (queries and positives).
pub fn pair_languages(rows: &[PairRow]) -> Vec<String> {
    let mut langs: Vec<String> = rows.iter().flat_map(|r| [&r.query_lang, &r.positive_lang]).cloned().collect();
    langs.sort();
    langs.dedup();
    langs
}

// ---------------------------------------------------------------------------------------
// Parquet writing

/// A column to write: its name and its values.
enum Column<'a> {
    Str(&'static str, Vec<&'a str>),
    OptStr(&'static str, Vec<Option<&'a str>>),
    Int32(&'static str, Vec<i32>),
    UInt64(&'static str, Vec<u64>),
    /// Row-major values, `dim` per row, as `list<float32>`.
    F32Lists(&'static str, &'a [f32], usize),
}

fn writer_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).expect("3 is a valid zstd level")))
        .build()
}

fn write_parquet(path: &Path, columns: Vec<Column<'_>>) -> Result<PartInfo> {
    let mut fields = Vec::with_capacity(columns.len());
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(columns.len());
    for c in columns {
        let (field, array): (Field, ArrayRef) = match c {
            Column::Str(n, v) => (Field::new(n, DataType::Utf8, false), Arc::new(StringArray::from(v))),
            Column::OptStr(n, v) => (Field::new(n, DataType::Utf8, true), Arc::new(StringArray::from(v))),
            Column::Int32(n, v) => (Field::new(n, DataType::Int32, false), Arc::new(Int32Array::from(v))),
            Column::UInt64(n, v) => {
                (Field::new(n, DataType::UInt64, false), Arc::new(arrow::array::UInt64Array::from(v)))
            }
            Column::F32Lists(n, values, dim) => {
                let item = Arc::new(Field::new("item", DataType::Float32, false));
                let offsets =
                    arrow::buffer::OffsetBuffer::from_lengths(std::iter::repeat_n(dim, values.len() / dim.max(1)));
                let list = arrow::array::ListArray::new(
                    item.clone(),
                    offsets,
                    Arc::new(arrow::array::Float32Array::from(values.to_vec())),
                    None,
                );
                (Field::new(n, DataType::List(item), false), Arc::new(list))
            }
        };
        fields.push(field);
        arrays.push(array);
    }
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
        .map_err(|source| IngestError::Arrow { path: path.into(), source })?;
    let rows = batch.num_rows() as u64;
    let sha256 = write_atomic(path, |out| {
        // Hashes the bytes on their way to the file, so the checksum costs no second read.
        let mut hashing = HashingWriter::new(out);
        let pq = |source| IngestError::Parquet { path: path.into(), source };
        let mut writer = ArrowWriter::try_new(&mut hashing, batch.schema(), Some(writer_properties())).map_err(pq)?;
        writer.write(&batch).map_err(pq)?;
        writer.close().map_err(pq)?;
        Ok(hex::encode(hashing.finalize()))
    })?;
    Ok(PartInfo { path: path.to_path_buf(), rows, sha256 })
}

/// One input line of `polyret encode`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmbeddedText {
    /// 0-based line number in the input.
    pub line: u64,
    /// `query` or `passage`.
    pub role: String,
    /// The text.
    pub text: String,
}

/// Writes an embeddings table (atomically): columns `line` (uint64), `role`, `text` and
/// `embedding` (`list<float32>`), one row per text in input order; `embeddings` is row-major,
/// `dim` values per text.
pub fn write_embeddings(path: &Path, texts: &[EmbeddedText], embeddings: &[f32], dim: usize) -> Result<PartInfo> {
    if embeddings.len() != texts.len() * dim {
        return Err(IngestError::invalid(
            path,
            None,
            format!("{} values for {} texts of dimension {dim}", embeddings.len(), texts.len()),
        ));
    }
    write_parquet(
        path,
        vec![
            Column::UInt64("line", texts.iter().map(|t| t.line).collect()),
            Column::Str("role", texts.iter().map(|t| t.role.as_str()).collect()),
            Column::Str("text", texts.iter().map(|t| t.text.as_str()).collect()),
            Column::F32Lists("embedding", embeddings, dim),
        ],
    )
}

/// Writes a pairs table to `path` (atomically) after validating it; a group that repeats a
/// language is refused too ([`find_repeated_language`]).
pub fn write_pairs(path: &Path, rows: &[PairRow]) -> Result<TableInfo> {
    validate_pairs(path, rows)?;
    if let Some(repeat) = find_repeated_language(rows) {
        let message = format!(
            "rows {} and {}: {}",
            repeat.first + 1,
            repeat.second + 1,
            repeat.message(&rows[repeat.second].group_id)
        );
        return Err(IngestError::invalid(path, None, message));
    }
    let part = write_parquet(
        path,
        vec![
            Column::Str("group_id", rows.iter().map(|r| r.group_id.as_str()).collect()),
            Column::Str("query_lang", rows.iter().map(|r| r.query_lang.as_str()).collect()),
            Column::Str("query", rows.iter().map(|r| r.query.as_str()).collect()),
            Column::Str("positive_lang", rows.iter().map(|r| r.positive_lang.as_str()).collect()),
            Column::Str("positive", rows.iter().map(|r| r.positive.as_str()).collect()),
            Column::OptStr("negative", rows.iter().map(|r| r.negative.as_deref()).collect()),
            Column::OptStr("context", rows.iter().map(|r| r.context.as_deref()).collect()),
            Column::Str("split", rows.iter().map(|r| r.split.as_str()).collect()),
            Column::Str("source", rows.iter().map(|r| r.source.as_str()).collect()),
        ],
    )?;
    Ok(TableInfo { parts: BTreeMap::from([("pairs".to_string(), part)]) })
}

/// Queries and corpus rows: the same five columns under a different id name.
trait TextRow {
    /// id, lang, text, group_id, subset.
    fn fields(&self) -> (&str, &str, &str, &str, Option<&str>);
}

impl TextRow for QueryRow {
    fn fields(&self) -> (&str, &str, &str, &str, Option<&str>) {
        (&self.qid, &self.lang, &self.text, &self.group_id, self.subset.as_deref())
    }
}

impl TextRow for DocRow {
    fn fields(&self) -> (&str, &str, &str, &str, Option<&str>) {
        (&self.docid, &self.lang, &self.text, &self.group_id, self.subset.as_deref())
    }
}

fn text_columns<'a, T: TextRow>(id: &'static str, rows: &'a [T]) -> Vec<Column<'a>> {
    let f: Vec<_> = rows.iter().map(TextRow::fields).collect();
    vec![
        Column::Str(id, f.iter().map(|r| r.0).collect()),
        Column::Str("lang", f.iter().map(|r| r.1).collect()),
        Column::Str("text", f.iter().map(|r| r.2).collect()),
        Column::Str("group_id", f.iter().map(|r| r.3).collect()),
        Column::OptStr("subset", f.iter().map(|r| r.4).collect()),
    ]
}

/// Writes `dir/{queries,corpus,qrels}.parquet` (each atomically) after validating the set.
pub fn write_eval_set(dir: &Path, set: &EvalSet) -> Result<TableInfo> {
    set.validate(dir)?;
    let queries = write_parquet(&dir.join(QUERIES_FILE), text_columns("qid", &set.queries))?;
    let corpus = write_parquet(&dir.join(CORPUS_FILE), text_columns("docid", &set.corpus))?;
    let r = &set.qrels;
    let qrels = write_parquet(
        &dir.join(QRELS_FILE),
        vec![
            Column::Str("qid", r.iter().map(|r| r.qid.as_str()).collect()),
            Column::Str("docid", r.iter().map(|r| r.docid.as_str()).collect()),
            Column::Int32("rel", r.iter().map(|r| r.rel).collect()),
        ],
    )?;
    Ok(TableInfo {
        parts: BTreeMap::from([
            ("queries".to_string(), queries),
            ("corpus".to_string(), corpus),
            ("qrels".to_string(), qrels),
        ]),
    })
}

// ---------------------------------------------------------------------------------------
// Parquet reading

/// A whole Parquet file in memory, with typed column access that names the file on error.
struct ParquetTable {
    path: PathBuf,
    batch: RecordBatch,
}

impl ParquetTable {
    fn read(path: &Path) -> Result<Self> {
        let file = File::open(path).map_err(|e| IngestError::io(path, e))?;
        let pq = |source| IngestError::Parquet { path: path.into(), source };
        let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(pq)?;
        let schema = builder.schema().clone();
        let reader = builder.build().map_err(pq)?;
        let batches = reader
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|source| IngestError::Arrow { path: path.into(), source })?;
        let batch = arrow::compute::concat_batches(&schema, &batches)
            .map_err(|source| IngestError::Arrow { path: path.into(), source })?;
        Ok(ParquetTable { path: path.to_path_buf(), batch })
    }

    fn column(&self, name: &str) -> Result<&ArrayRef> {
        self.batch
            .column_by_name(name)
            .ok_or_else(|| IngestError::Schema { path: self.path.clone(), message: format!("missing column `{name}`") })
    }

    /// A string column; `LargeUtf8` and `Utf8View` (what other writers may produce) are
    /// accepted and converted.
    fn strings(&self, name: &str) -> Result<StringArray> {
        let col = self.column(name)?;
        let utf8 = match col.data_type() {
            DataType::Utf8 => col.clone(),
            DataType::LargeUtf8 | DataType::Utf8View => arrow::compute::cast(col, &DataType::Utf8)
                .map_err(|source| IngestError::Arrow { path: self.path.clone(), source })?,
            other => {
                return Err(IngestError::Schema {
                    path: self.path.clone(),
                    message: format!("column `{name}` has type {other}, expected utf8"),
                });
            }
        };
        Ok(utf8.as_any().downcast_ref::<StringArray>().expect("cast to Utf8 yields a StringArray").clone())
    }

    /// A string column that must have no nulls.
    fn required(&self, name: &str) -> Result<Vec<String>> {
        let a = self.strings(name)?;
        if a.null_count() > 0 {
            return Err(IngestError::Schema { path: self.path.clone(), message: format!("column `{name}` has nulls") });
        }
        Ok(a.iter().map(|v| v.unwrap_or_default().to_string()).collect())
    }

    fn optional(&self, name: &str) -> Result<Vec<Option<String>>> {
        Ok(self.strings(name)?.iter().map(|v| v.map(str::to_string)).collect())
    }

    fn int32(&self, name: &str) -> Result<Vec<i32>> {
        let col = self.column(name)?;
        let a = col.as_any().downcast_ref::<Int32Array>().ok_or_else(|| IngestError::Schema {
            path: self.path.clone(),
            message: format!("column `{name}` has type {}, expected int32", col.data_type()),
        })?;
        if a.null_count() > 0 {
            return Err(IngestError::Schema { path: self.path.clone(), message: format!("column `{name}` has nulls") });
        }
        Ok(a.values().to_vec())
    }
}

/// Reads an embeddings table written by [`write_embeddings`]: the texts and the row-major
/// vectors with their dimension.
pub fn read_embeddings(path: &Path) -> Result<(Vec<EmbeddedText>, Vec<f32>, usize)> {
    let t = ParquetTable::read(path)?;
    let schema_error = |message: String| IngestError::Schema { path: path.into(), message };
    let lines = t.column("line")?;
    let lines = lines
        .as_any()
        .downcast_ref::<arrow::array::UInt64Array>()
        .ok_or_else(|| schema_error(format!("column `line` has type {}, expected uint64", lines.data_type())))?;
    let mut role = t.required("role")?;
    let mut text = t.required("text")?;
    let embedding = t.column("embedding")?;
    let lists = embedding.as_any().downcast_ref::<arrow::array::ListArray>().ok_or_else(|| {
        schema_error(format!("column `embedding` has type {}, expected list<float32>", embedding.data_type()))
    })?;
    let values = lists
        .values()
        .as_any()
        .downcast_ref::<arrow::array::Float32Array>()
        .ok_or_else(|| schema_error("column `embedding` does not hold float32 values".into()))?;
    let rows = t.batch.num_rows();
    let dim = if rows == 0 { 0 } else { lists.value_length(0) as usize };
    if (0..rows).any(|i| lists.value_length(i) as usize != dim) {
        return Err(schema_error("embeddings of different lengths".into()));
    }
    let texts = (0..rows)
        .map(|i| EmbeddedText { line: lines.value(i), role: take(&mut role[i]), text: take(&mut text[i]) })
        .collect();
    let offset = lists.value_offsets()[0] as usize;
    Ok((texts, values.values()[offset..offset + rows * dim].to_vec(), dim))
}

/// Reads and validates a pairs table.
pub fn read_pairs(path: &Path) -> Result<Vec<PairRow>> {
    let t = ParquetTable::read(path)?;
    let mut group_id = t.required("group_id")?;
    let mut query_lang = t.required("query_lang")?;
    let mut query = t.required("query")?;
    let mut positive_lang = t.required("positive_lang")?;
    let mut positive = t.required("positive")?;
    let mut negative = t.optional("negative")?;
    let mut context = t.optional("context")?;
    let mut split = t.required("split")?;
    let mut source = t.required("source")?;
    let rows: Vec<PairRow> = (0..t.batch.num_rows())
        .map(|i| PairRow {
            group_id: take(&mut group_id[i]),
            query_lang: take(&mut query_lang[i]),
            query: take(&mut query[i]),
            positive_lang: take(&mut positive_lang[i]),
            positive: take(&mut positive[i]),
            negative: negative[i].take(),
            context: context[i].take(),
            split: take(&mut split[i]),
            source: take(&mut source[i]),
        })
        .collect();
    validate_pairs(path, &rows)?;
    Ok(rows)
}

/// The five columns shared by queries and corpus (id, lang, text, group_id, subset), as rows
/// of either type.
fn read_texts<T>(
    path: &Path,
    id: &str,
    make: impl Fn(String, String, String, String, Option<String>) -> T,
) -> Result<Vec<T>> {
    let t = ParquetTable::read(path)?;
    let mut ids = t.required(id)?;
    let mut lang = t.required("lang")?;
    let mut text = t.required("text")?;
    let mut group = t.required("group_id")?;
    let mut subset = t.optional("subset")?;
    Ok((0..t.batch.num_rows())
        .map(|i| make(take(&mut ids[i]), take(&mut lang[i]), take(&mut text[i]), take(&mut group[i]), subset[i].take()))
        .collect())
}

/// Reads and validates the evaluation set in `dir` (`queries`, `corpus`, `qrels` parquet
/// files); the set's name is the directory name.
pub fn read_eval_set(dir: &Path) -> Result<EvalSet> {
    let queries = read_texts(&dir.join(QUERIES_FILE), "qid", |qid, lang, text, group_id, subset| QueryRow {
        qid,
        lang,
        text,
        group_id,
        subset,
    })?;
    let corpus = read_texts(&dir.join(CORPUS_FILE), "docid", |docid, lang, text, group_id, subset| DocRow {
        docid,
        lang,
        text,
        group_id,
        subset,
    })?;
    let path = dir.join(QRELS_FILE);
    let t = ParquetTable::read(&path)?;
    let mut qid = t.required("qid")?;
    let mut docid = t.required("docid")?;
    let rel = t.int32("rel")?;
    let qrels = (0..t.batch.num_rows())
        .map(|i| QrelRow { qid: take(&mut qid[i]), docid: take(&mut docid[i]), rel: rel[i] })
        .collect();
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let set = EvalSet { name, queries, corpus, qrels };
    set.validate(dir)?;
    Ok(set)
}

#[cfg(test)]
mod embedding_tests {
    use super::*;

    #[test]
    fn embeddings_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("emb.parquet");
        let texts: Vec<EmbeddedText> = (0..3)
            .map(|i| EmbeddedText {
                line: i,
                role: if i == 0 { "query" } else { "passage" }.into(),
                text: format!("t{i}"),
            })
            .collect();
        let values: Vec<f32> = (0..6).map(|v| v as f32 * 0.5).collect();
        write_embeddings(&path, &texts, &values, 2).unwrap();
        assert_eq!(read_embeddings(&path).unwrap(), (texts.clone(), values.clone(), 2));
        let err = write_embeddings(&path, &texts, &values[..5], 2).unwrap_err().to_string();
        assert!(err.contains("emb.parquet") && err.contains("5 values"), "{err}");
    }
}

#[cfg(test)]
mod select_tests {
    use super::*;

    fn row(id: &str, lang: &str, subset: Option<&str>) -> (QueryRow, DocRow) {
        let subset = subset.map(String::from);
        (
            QueryRow {
                qid: id.into(),
                lang: lang.into(),
                text: id.into(),
                group_id: id.into(),
                subset: subset.clone(),
            },
            DocRow { docid: id.into(), lang: lang.into(), text: id.into(), group_id: id.into(), subset },
        )
    }

    /// Tatoeba-like: `deu-eng` and `jpn-eng`, each sentence a query and a document.
    fn pair_subsets() -> EvalSet {
        let rows = [
            row("d1", "de", Some("deu-eng")),
            row("e1", "en", Some("deu-eng")),
            row("j1", "ja", Some("jpn-eng")),
            row("e2", "en", Some("jpn-eng")),
        ];
        EvalSet {
            name: "t".into(),
            queries: rows.iter().map(|r| r.0.clone()).collect(),
            corpus: rows.iter().map(|r| r.1.clone()).collect(),
            qrels: vec![
                QrelRow { qid: "d1".into(), docid: "e1".into(), rel: 1 },
                QrelRow { qid: "j1".into(), docid: "e2".into(), rel: 1 },
            ],
        }
    }

    #[test]
    fn selecting_languages_keeps_whole_subsets_only() {
        let set = pair_subsets();
        let picked = set.select_languages(&["de".into(), "en".into()]);
        let ids: Vec<&str> = picked.corpus.iter().map(|d| d.docid.as_str()).collect();
        assert_eq!(ids, ["d1", "e1"], "the English side of jpn-eng is not selected");
        assert_eq!(picked.qrels.len(), 1);
        picked.validate(Path::new("t")).unwrap();
        assert!(set.select_languages(&["de".into()]).corpus.is_empty(), "deu-eng needs en too");
    }

    #[test]
    fn a_selection_names_the_languages_it_keeps() {
        let set = pair_subsets();
        let langs = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let all = LanguageSelection::new(&set, &langs(&["ja", "de", "en"]));
        assert_eq!(all.languages(), ["de", "en", "ja"]);
        assert!(all.keeps(Some("jpn-eng"), "en") && all.keeps_a_subset());
        let de_en = LanguageSelection::new(&set, &langs(&["de", "en"]));
        assert!(!de_en.keeps(Some("jpn-eng"), "en") && de_en.keeps(Some("deu-eng"), "en"));
        assert_eq!(de_en.languages(), ["de", "en"]);
        // Each subset needs `en` too: nothing is selected.
        let de_ja = LanguageSelection::new(&set, &langs(&["ja", "de"]));
        assert!(!de_ja.keeps_a_subset() && de_ja.languages().is_empty());
        let ja_en = LanguageSelection::new(&set, &langs(&["en", "ja", "fr"]));
        assert_eq!(ja_en.languages(), ["en", "ja"]);
        let en = LanguageSelection::new(&set, &langs(&["en"]));
        assert!(!en.keeps_a_subset() && en.languages().is_empty());
        // Without subsets every row in the languages is kept.
        let mut plain = set.clone();
        plain.queries.iter_mut().for_each(|q| q.subset = None);
        plain.corpus.iter_mut().for_each(|d| d.subset = None);
        let en = LanguageSelection::new(&plain, &langs(&["en"]));
        assert!(en.keeps_a_subset() && en.keeps(None, "en") && !en.keeps(None, "de"));
        assert_eq!(en.languages(), ["en"]);
    }
}
