//! `catalog.json`: the index of every table under `data/parquet/`, which other crates use to
//! find tables by name instead of hard-coding paths. Each entry records where the files are,
//! how many rows they have, their checksums, languages, provenance and notes about what the
//! reader dropped or decided. The catalog is rewritten atomically after every change.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{IngestError, Result};
use crate::io::{sha256_file, write_atomic};
use crate::tables::{self, EvalSet, PAIRS_FILE, PairRow, TableInfo};

/// File name of the catalog inside the Parquet root (`data/parquet/catalog.json`).
pub const CATALOG_FILE: &str = "catalog.json";

/// Whether a table holds training pairs or an evaluation set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TableKind {
    /// One `pairs.parquet`.
    Pairs,
    /// `queries.parquet`, `corpus.parquet`, `qrels.parquet`.
    Eval,
}

/// One input file of a table, with its checksum (recorded for user-supplied files, whose
/// provenance nothing else records).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceFile {
    /// The path as given.
    pub path: String,
    /// Hex SHA-256 of the file.
    pub sha256: String,
}

/// Where a table's data came from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    /// `OWNER/REPO` on GitHub for bundled benchmarks; absent for user files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo: Option<String>,
    /// The commit the files were pinned to (see `data/manifest.toml`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// Input files, listed for user data (the manifest lists those of bundled benchmarks).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<SourceFile>,
}

impl Source {
    /// A bundled benchmark pinned to `repo@commit`.
    pub fn upstream(repo: impl Into<String>, commit: impl Into<String>) -> Self {
        Source { repo: Some(repo.into()), commit: Some(commit.into()), files: Vec::new() }
    }

    /// User files, identified by their checksums.
    pub fn local(files: &[PathBuf]) -> Result<Self> {
        let files = files
            .iter()
            .map(|p| Ok(SourceFile { path: p.display().to_string(), sha256: sha256_file(p)? }))
            .collect::<Result<_>>()?;
        Ok(Source { repo: None, commit: None, files })
    }
}

/// The deterministic XQuAD article split, recorded so that readers of the catalog need not
/// recompute it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct XquadSplit {
    /// Article titles used for training pairs.
    pub train: Vec<String>,
    /// Held-out article titles (test pairs and the `xquad-r` evaluation set).
    pub test: Vec<String>,
}

/// One table of the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogEntry {
    /// Name other crates look it up by (`xquad-pairs`, `multi30k-test_2016`…).
    pub name: String,
    /// Pairs or evaluation set.
    pub kind: TableKind,
    /// Part (`pairs`, `queries`, `corpus`, `qrels`) → path relative to the catalog directory,
    /// with `/` separators.
    pub paths: BTreeMap<String, String>,
    /// Part → number of rows.
    pub rows: BTreeMap<String, u64>,
    /// Sorted canonical language codes present in the table.
    pub languages: Vec<String>,
    /// Part → hex SHA-256 of the Parquet file.
    pub sha256: BTreeMap<String, String>,
    /// Provenance.
    pub sources: Vec<Source>,
    /// What the reader dropped, counted or decided, in plain sentences.
    #[serde(default)]
    pub notes: Vec<String>,
    /// Fingerprint of the inputs and reader version the table was built from; `fetch-data`
    /// compares it to decide whether the table is up to date. Absent for user tables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stamp: Option<String>,
}

/// The data of a table about to be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableData {
    /// Training pairs.
    Pairs(Vec<PairRow>),
    /// An evaluation set.
    Eval(EvalSet),
}

/// A table produced by a reader, not yet on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// Catalog name; also the directory name under the Parquet root.
    pub name: String,
    /// Rows.
    pub data: TableData,
    /// Notes for the catalog entry.
    pub notes: Vec<String>,
}

/// What one reader produced: its tables and, for XQuAD, the article split.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ingested {
    /// Tables, in the order they are written.
    pub tables: Vec<Table>,
    /// Set by the XQuAD reader.
    pub xquad_split: Option<XquadSplit>,
}

impl Ingested {
    /// Total rows over every part of every table (the unit of the ingestion benchmark).
    pub fn total_rows(&self) -> u64 {
        self.tables
            .iter()
            .map(|t| match &t.data {
                TableData::Pairs(rows) => rows.len() as u64,
                TableData::Eval(set) => (set.queries.len() + set.corpus.len() + set.qrels.len()) as u64,
            })
            .sum()
    }
}

/// Checks that a table name can be a directory name: ASCII letters, digits, `.`, `_`, `-`,
/// not starting with `.`.
pub fn validate_table_name(name: &str) -> std::result::Result<(), String> {
    let ok = !name.is_empty()
        && !name.starts_with('.')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(format!("table name `{name}` must be ASCII letters, digits, `.`, `_` or `-` and not start with `.`"))
    }
}

impl Table {
    /// Writes the table's files under `root/<name>/` and returns its catalog entry.
    pub fn write(&self, root: &Path, sources: Vec<Source>, stamp: Option<String>) -> Result<CatalogEntry> {
        validate_table_name(&self.name).map_err(|m| IngestError::invalid(root.join(&self.name), None, m))?;
        let dir = root.join(&self.name);
        let (kind, info, languages) = match &self.data {
            TableData::Pairs(rows) => {
                (TableKind::Pairs, tables::write_pairs(&dir.join(PAIRS_FILE), rows)?, tables::pair_languages(rows))
            }
            TableData::Eval(set) => (TableKind::Eval, tables::write_eval_set(&dir, set)?, set.languages()),
        };
        Ok(entry_for(&self.name, kind, root, &info, languages, sources, self.notes.clone(), stamp))
    }
}

#[allow(clippy::too_many_arguments)]
fn entry_for(
    name: &str,
    kind: TableKind,
    root: &Path,
    info: &TableInfo,
    languages: Vec<String>,
    sources: Vec<Source>,
    notes: Vec<String>,
    stamp: Option<String>,
) -> CatalogEntry {
    let rel = |p: &Path| {
        let r = p.strip_prefix(root).unwrap_or(p);
        r.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/")
    };
    CatalogEntry {
        name: name.to_string(),
        kind,
        paths: info.parts.iter().map(|(k, p)| (k.clone(), rel(&p.path))).collect(),
        rows: info.parts.iter().map(|(k, p)| (k.clone(), p.rows)).collect(),
        languages,
        sha256: info.parts.iter().map(|(k, p)| (k.clone(), p.sha256.clone())).collect(),
        sources,
        notes,
        stamp,
    }
}

/// The catalog: every table under one Parquet root directory.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Catalog {
    /// Entries, sorted by name.
    pub tables: Vec<CatalogEntry>,
    /// The XQuAD article split, once XQuAD has been ingested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xquad_split: Option<XquadSplit>,
    /// Where the catalog file is; table paths are relative to its directory.
    #[serde(skip)]
    path: PathBuf,
}

impl Catalog {
    /// Loads `path` (a `catalog.json`).
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| IngestError::io(path, e))?;
        let mut catalog: Catalog = serde_json::from_str(&text).map_err(|e| IngestError::json(path, 0, &e))?;
        catalog.path = path.to_path_buf();
        Ok(catalog)
    }

    /// Loads `path`, or starts an empty catalog there when the file does not exist yet.
    pub fn load_or_new(path: &Path) -> Result<Self> {
        if path.exists() { Self::load(path) } else { Ok(Catalog { path: path.to_path_buf(), ..Default::default() }) }
    }

    /// The catalog file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The Parquet root: the directory of the catalog file.
    pub fn root(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }

    /// The entry named `name`.
    pub fn table(&self, name: &str) -> Option<&CatalogEntry> {
        self.tables.iter().find(|t| t.name == name)
    }

    /// Absolute (root-joined) path of one part of a table.
    pub fn part_path(&self, entry: &CatalogEntry, part: &str) -> Option<PathBuf> {
        entry.paths.get(part).map(|p| self.root().join(p))
    }

    fn require(&self, name: &str, kind: TableKind) -> Result<&CatalogEntry> {
        let entry = self.table(name).ok_or_else(|| IngestError::UnknownTable {
            path: self.path.clone(),
            name: name.to_string(),
            known: self.tables.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", "),
        })?;
        if entry.kind != kind {
            return Err(IngestError::invalid(
                &self.path,
                None,
                format!("table `{name}` is {:?}, not {kind:?}", entry.kind),
            ));
        }
        Ok(entry)
    }

    /// Reads the pairs table `name`.
    pub fn read_pairs(&self, name: &str) -> Result<Vec<PairRow>> {
        let entry = self.require(name, TableKind::Pairs)?;
        let path = self.part_path(entry, "pairs").unwrap_or_else(|| self.root().join(name).join(PAIRS_FILE));
        tables::read_pairs(&path)
    }

    /// Reads the evaluation set `name`.
    pub fn read_eval_set(&self, name: &str) -> Result<EvalSet> {
        self.require(name, TableKind::Eval)?;
        let mut set = tables::read_eval_set(&self.root().join(name))?;
        set.name = name.to_string();
        Ok(set)
    }

    /// Whether every file of `entry` exists with the recorded checksum.
    pub fn files_intact(&self, entry: &CatalogEntry) -> bool {
        entry.paths.iter().all(|(part, rel)| {
            let path = self.root().join(rel);
            matches!((sha256_file(&path), entry.sha256.get(part)), (Ok(actual), Some(expected)) if &actual == expected)
        })
    }

    /// Adds `entry`, replacing any entry with the same name; keeps entries sorted by name.
    pub fn upsert(&mut self, entry: CatalogEntry) {
        match self.tables.binary_search_by(|t| t.name.as_str().cmp(&entry.name)) {
            Ok(i) => self.tables[i] = entry,
            Err(i) => self.tables.insert(i, entry),
        }
    }

    /// Writes the catalog file atomically.
    pub fn save(&self) -> Result<()> {
        let json = serde_json::to_string_pretty(self).expect("catalog serialization cannot fail");
        write_atomic(&self.path, |w| {
            use std::io::Write;
            w.write_all(json.as_bytes()).and_then(|()| w.write_all(b"\n")).map_err(|e| IngestError::io(&self.path, e))
        })
    }

    /// Writes every table of `ingested` under the catalog's root (concurrently), records them
    /// (and the XQuAD split) and saves the catalog once. A table whose write fails is not
    /// recorded, so the catalog never lists a table whose files are missing; the others are,
    /// and the first error is returned. Returns the names written.
    pub fn publish(&mut self, ingested: &Ingested, sources: &[Source], stamp: Option<&str>) -> Result<Vec<String>> {
        let root = self.root().to_path_buf();
        let written =
            crate::io::par_map(&ingested.tables, |t| t.write(&root, sources.to_vec(), stamp.map(str::to_string)));
        let mut names = Vec::with_capacity(written.len());
        let mut first_error = None;
        for result in written {
            match result {
                Ok(entry) => {
                    tracing::debug!(table = %entry.name, rows = ?entry.rows, "wrote table");
                    names.push(entry.name.clone());
                    self.upsert(entry);
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        if first_error.is_none()
            && let Some(split) = &ingested.xquad_split
        {
            self.xquad_split = Some(split.clone());
        }
        self.save()?;
        match first_error {
            None => Ok(names),
            Some(e) => Err(e),
        }
    }
}
