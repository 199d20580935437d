//! `catalog.json`: the index of every table under `data/parquet/`, which other crates use to
//! find tables by name instead of hard-coding paths. Each entry records where the files are,
//! how many rows they have, their checksums, languages, provenance and notes about what the
//! reader dropped or decided. The catalog is rewritten atomically after every change, under an
//! exclusive lock on its directory, so concurrent ingests into one data directory all land.

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
    /// (and the XQuAD split) and saves the catalog once, replacing tables of the same names
    /// whatever they were (what `fetch-data` does with bundled benchmarks). See
    /// [`Catalog::publish_with`].
    pub fn publish(&mut self, ingested: &Ingested, sources: &[Source], stamp: Option<&str>) -> Result<Vec<String>> {
        self.publish_with(ingested, sources, stamp, Replace::Any)
    }

    /// Writes every table of `ingested` under the catalog's root (concurrently), records them
    /// (and the XQuAD split) and saves the catalog once. A table whose write fails is not
    /// recorded, so the catalog never lists a table whose files are missing; the others are,
    /// and the first error is returned. Returns the names written.
    ///
    /// Exclusive and atomic: the lock on the catalog's directory is held from re-reading the
    /// catalog file (other processes may have published since it was loaded) through writing
    /// the tables to saving the catalog, so concurrent publishers neither lose each other's
    /// entries nor mix their files. `replace` says which existing tables may be replaced; the
    /// check runs before anything is written.
    pub fn publish_with(
        &mut self,
        ingested: &Ingested,
        sources: &[Source],
        stamp: Option<&str>,
        replace: Replace,
    ) -> Result<Vec<String>> {
        let root = self.root().to_path_buf();
        let _lock = polyret_files::DirLock::acquire(&root)?;
        *self = Self::load_or_new(&self.path)?;
        if replace == Replace::SameKindUserTable {
            for table in &ingested.tables {
                self.check_replaceable(table)?;
            }
        }
        let written =
            crate::io::par_map(&ingested.tables, |t| t.write(&root, sources.to_vec(), stamp.map(str::to_string)));
        let mut names = Vec::with_capacity(written.len());
        let mut first_error = None;
        for result in written {
            match result {
                Ok(entry) => {
                    tracing::debug!(table = %entry.name, rows = ?entry.rows, "wrote table");
                    names.push(entry.name.clone());
                    self.remove_stale_parts(&entry);
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

    /// Refuses to replace a table of another kind or a bundled benchmark with `table`.
    fn check_replaceable(&self, table: &Table) -> Result<()> {
        let Some(existing) = self.table(&table.name) else { return Ok(()) };
        let kind = match table.data {
            TableData::Pairs(_) => TableKind::Pairs,
            TableData::Eval(_) => TableKind::Eval,
        };
        if existing.kind == kind && existing.stamp.is_none() {
            return Ok(());
        }
        let describe = |kind: TableKind| match kind {
            TableKind::Pairs => "training pairs",
            TableKind::Eval => "an evaluation set",
        };
        let origin = if existing.stamp.is_some() { "bundled benchmark" } else { "user table" };
        Err(IngestError::WouldReplace {
            path: self.path.clone(),
            name: table.name.clone(),
            existing: format!("{} ({origin})", describe(existing.kind)),
            new: describe(kind).to_string(),
        })
    }

    /// Deletes files of the entry `new` replaces that `new` does not have (an evaluation set
    /// replaced by pairs leaves no stray `queries.parquet`). Best effort: the catalog no longer
    /// lists them either way.
    fn remove_stale_parts(&self, new: &CatalogEntry) {
        let Some(old) = self.table(&new.name) else { return };
        for (part, rel) in &old.paths {
            if !new.paths.contains_key(part) {
                let _ = std::fs::remove_file(self.root().join(rel));
            }
        }
    }
}

/// Which existing table of the same name a publish may replace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replace {
    /// Any (bundled benchmarks rebuilt by `fetch-data`, `polyret ingest --force`).
    Any,
    /// Only a user table of the same kind: replacing an evaluation set by pairs (or the
    /// reverse), or a bundled benchmark, is an [`IngestError::WouldReplace`].
    SameKindUserTable,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tables::{DocRow, QrelRow, QueryRow};

    fn pairs(name: &str, group: &str) -> Table {
        let row = PairRow {
            group_id: group.into(),
            query_lang: "en".into(),
            query: "q".into(),
            positive_lang: "de".into(),
            positive: "p".into(),
            negative: None,
            context: None,
            split: "train".into(),
            source: "test".into(),
        };
        Table { name: name.into(), data: TableData::Pairs(vec![row]), notes: Vec::new() }
    }

    fn eval_set(name: &str) -> Table {
        let doc = |id: &str, lang: &str| DocRow {
            docid: id.into(),
            lang: lang.into(),
            text: format!("text {id}"),
            group_id: "g".into(),
            subset: None,
        };
        let set = EvalSet {
            name: name.into(),
            queries: vec![QueryRow {
                qid: "q".into(),
                lang: "en".into(),
                text: "q".into(),
                group_id: "g".into(),
                subset: None,
            }],
            corpus: vec![doc("d1", "en"), doc("d2", "de")],
            qrels: vec![QrelRow { qid: "q".into(), docid: "d2".into(), rel: 1 }],
        };
        Table { name: name.into(), data: TableData::Eval(set), notes: Vec::new() }
    }

    fn one(table: Table) -> Ingested {
        Ingested { tables: vec![table], xquad_split: None }
    }

    /// Publishers that each loaded the catalog before the others saved: every table lands, and
    /// the catalog stays valid JSON (before the lock and unique temporaries, tables were lost
    /// and concurrent renames of one `catalog.json.tmp` left trailing garbage).
    #[test]
    fn concurrent_publishers_lose_no_table() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(CATALOG_FILE);
        std::thread::scope(|s| {
            for t in 0..12 {
                let path = &path;
                s.spawn(move || {
                    let mut catalog = Catalog::load_or_new(path).unwrap();
                    for round in 0..3 {
                        catalog.publish(&one(pairs(&format!("t{t}-{round}"), "g")), &[], None).unwrap();
                    }
                });
            }
        });
        let catalog = Catalog::load(&path).unwrap();
        assert_eq!(catalog.tables.len(), 36);
        assert!(catalog.tables.iter().all(|t| catalog.files_intact(t)));
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('.') || n.ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn a_user_table_replaces_another_kind_or_a_benchmark_only_when_forced() {
        let dir = tempfile::tempdir().unwrap();
        let mut catalog = Catalog::load_or_new(&dir.path().join(CATALOG_FILE)).unwrap();
        catalog.publish(&one(eval_set("xquad-r")), &[], Some("stamp")).unwrap();
        let user = Replace::SameKindUserTable;
        let err = catalog.publish_with(&one(pairs("xquad-r", "g")), &[], None, user).unwrap_err();
        assert!(matches!(err, IngestError::WouldReplace { .. }), "{err}");
        let message = err.to_string();
        assert!(message.contains("an evaluation set (bundled benchmark)") && message.contains("--force"), "{message}");
        assert_eq!(catalog.table("xquad-r").unwrap().kind, TableKind::Eval, "nothing changed");
        assert!(
            dir.path().join("xquad-r/queries.parquet").exists() && !dir.path().join("xquad-r/pairs.parquet").exists()
        );

        // A user table of the same kind is replaced freely; another kind is not.
        catalog.publish_with(&one(pairs("mine", "a")), &[], None, user).unwrap();
        catalog.publish_with(&one(pairs("mine", "b")), &[], None, user).unwrap();
        assert!(catalog.publish_with(&one(eval_set("mine")), &[], None, user).is_err());

        // Forced: replaced, and the old kind's files are gone.
        catalog.publish_with(&one(pairs("xquad-r", "g")), &[], None, Replace::Any).unwrap();
        assert_eq!(catalog.table("xquad-r").unwrap().kind, TableKind::Pairs);
        assert!(!dir.path().join("xquad-r/queries.parquet").exists());
        assert_eq!(catalog.read_pairs("xquad-r").unwrap().len(), 1);
    }
}
