//! User training pairs from a JSONL file: one object per line,
//! `{"query", "positive", "negative"?, "query_lang", "positive_lang", "group_id"?}`.
//! Unknown fields are ignored (users keep metadata next to the pairs); blank lines are skipped.
//! `group_id` (string or integer) defaults to the line number, i.e. every line is its own
//! group; lines that are translations of each other should share one.

use std::path::Path;

use serde::Deserialize;

use crate::catalog::{Table, TableData};
use crate::error::{IngestError, Line, Result};
use crate::io::{numbered_lines, read_text};
use crate::lang;
use crate::tables::PairRow;

/// An identifier that upstream JSON writes either as a string or as a number.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum JsonId {
    Text(String),
    Number(i64),
}

impl JsonId {
    pub(crate) fn into_string(self) -> String {
        match self {
            JsonId::Text(s) => s,
            JsonId::Number(n) => n.to_string(),
        }
    }
}

#[derive(Deserialize)]
struct Record {
    query: String,
    positive: String,
    #[serde(default)]
    negative: Option<String>,
    query_lang: String,
    positive_lang: String,
    #[serde(default)]
    group_id: Option<JsonId>,
}

/// Parses one JSONL line, reporting errors at its line in the file.
pub(crate) fn parse_line<'a, T: Deserialize<'a>>(path: &Path, line: usize, text: &'a str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| IngestError::json(path, line - 1, &e))
}

/// A canonical language code, or an error naming the file and line.
pub(crate) fn canonical_at(path: &Path, line: usize, code: &str) -> Result<&'static str> {
    lang::canonical(code).ok_or_else(|| IngestError::UnknownLanguage {
        path: path.into(),
        line: Line(Some(line)),
        code: code.to_string(),
    })
}

/// Reads a JSONL pairs file into a pairs table named `name` (split `train`, source
/// `jsonl:<file name>`).
pub fn read_jsonl_pairs(path: &Path, name: &str) -> Result<Table> {
    let text = read_text(path)?;
    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut rows = Vec::new();
    for (line, raw) in numbered_lines(&text).filter(|(_, l)| !l.trim().is_empty()) {
        let r: Record = parse_line(path, line, raw)?;
        let empty = |field: &str| IngestError::EmptyText {
            path: path.into(),
            line: Line(Some(line)),
            field: Some(field.into()),
        };
        if r.query.trim().is_empty() {
            return Err(empty("query"));
        }
        if r.positive.trim().is_empty() {
            return Err(empty("positive"));
        }
        let negative = r.negative.map(|n| n.trim().to_string());
        if negative.as_deref() == Some("") {
            return Err(empty("negative"));
        }
        let group_id = r.group_id.map_or_else(|| line.to_string(), JsonId::into_string);
        if group_id.trim().is_empty() {
            return Err(empty("group_id"));
        }
        rows.push(PairRow {
            group_id,
            query_lang: canonical_at(path, line, &r.query_lang)?.to_string(),
            query: r.query.trim().to_string(),
            positive_lang: canonical_at(path, line, &r.positive_lang)?.to_string(),
            positive: r.positive.trim().to_string(),
            negative,
            context: None,
            split: "train".to_string(),
            source: format!("jsonl:{file_name}"),
        });
    }
    if rows.is_empty() {
        return Err(IngestError::EmptyFile { path: path.into() });
    }
    Ok(Table {
        name: name.to_string(),
        data: TableData::Pairs(rows),
        notes: vec![format!("user pairs from {file_name}")],
    })
}
