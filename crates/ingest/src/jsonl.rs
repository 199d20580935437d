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

/// An identifier that upstream JSON writes either as a string or as a whole number.
#[derive(Debug, Clone)]
pub(crate) enum JsonId {
    Text(String),
    Number(i64),
}

impl<'de> Deserialize<'de> for JsonId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = JsonId;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an id: a string or a whole number")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<JsonId, E> {
                Ok(JsonId::Text(v.to_owned()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> std::result::Result<JsonId, E> {
                Ok(JsonId::Number(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> std::result::Result<JsonId, E> {
                Ok(i64::try_from(v).map_or_else(|_| JsonId::Text(v.to_string()), JsonId::Number))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
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
#[serde(expecting = "a JSON object with query, positive, query_lang and positive_lang")]
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
    if text.trim_start().starts_with('[') {
        return Err(IngestError::invalid(
            path,
            Some(1),
            "this is a JSON array; `ingest jsonl` reads JSON Lines, one object per line \
             (convert it with `jq -c '.[]' FILE > FILE.jsonl`)",
        ));
    }
    let mut rows = Vec::new();
    let mut lines = Vec::new();
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
        lines.push(line);
    }
    if rows.is_empty() {
        return Err(IngestError::EmptyFile { path: path.into() });
    }
    if let Some(repeat) = crate::tables::find_repeated_language(&rows) {
        let message =
            format!("{} (first on line {})", repeat.message(&rows[repeat.second].group_id), lines[repeat.first]);
        return Err(IngestError::invalid(path, Some(lines[repeat.second]), message));
    }
    Ok(Table {
        name: name.to_string(),
        data: TableData::Pairs(rows),
        notes: vec![format!("user pairs from {file_name}")],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(body: &str) -> Result<Table> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pairs.jsonl");
        std::fs::write(&path, body).unwrap();
        read_jsonl_pairs(&path, "pairs")
    }

    const LINE: &str = r#"{"query": "q", "positive": "p", "query_lang": "en", "positive_lang": "de""#;

    #[test]
    fn a_json_array_is_named_as_such_with_the_fix() {
        for body in [format!("[{LINE}}}]\n"), format!("[\n  {LINE}}}\n]\n")] {
            let err = read(&body).unwrap_err().to_string();
            assert!(err.contains("pairs.jsonl:1") && err.contains("JSON array") && err.contains("jq"), "{err}");
        }
        let err = read("\"just a string\"\n").unwrap_err().to_string();
        assert!(err.contains("expected a JSON object with query"), "{err}");
    }

    #[test]
    fn a_fractional_group_id_says_what_an_id_may_be() {
        let err = read(&format!("{LINE}, \"group_id\": 1.5}}\n")).unwrap_err().to_string();
        assert!(
            err.contains("pairs.jsonl:1") && err.contains("1.5") && err.contains("a string or a whole number"),
            "{err}"
        );
        let table = read(&format!("{LINE}, \"group_id\": 7}}\n{LINE}, \"group_id\": \"x\"}}\n")).unwrap();
        let TableData::Pairs(rows) = table.data else { panic!("pairs") };
        assert_eq!(rows.iter().map(|r| r.group_id.as_str()).collect::<Vec<_>>(), ["7", "x"]);
    }

    /// Refused here, with both lines, rather than later by the sampler.
    #[test]
    fn a_group_repeating_a_language_is_refused_at_ingest() {
        let german = r#"{"query": "q2", "positive": "p2", "query_lang": "de", "positive_lang": "fr", "group_id": "g"}"#;
        let body = format!("{LINE}, \"group_id\": \"g\"}}\n{german}\n\n{LINE}, \"group_id\": \"g\"}}\n");
        let err = read(&body).unwrap_err().to_string();
        assert!(err.contains("pairs.jsonl:4") && err.contains("first on line 1"), "{err}");
        assert!(err.contains("`g`") && err.contains("query language `en` twice"), "{err}");
        // The same languages in another group are fine.
        read(&format!("{LINE}, \"group_id\": \"g\"}}\n{LINE}, \"group_id\": \"h\"}}\n")).unwrap();
    }
}
