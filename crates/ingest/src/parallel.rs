//! Parallel evaluation sets: every text is both a query and a corpus document with the same id
//! (`<group>.<lang>`), and its relevant documents are the *other* texts of its group — the
//! same caption in other languages, or the other side of a bitext line. Multi30K, xFlickr&CO,
//! Tatoeba and user folders of line-aligned `LANG.txt` files are all built this way.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::catalog::{Table, TableData};
use crate::error::{IngestError, Line, Result};
use crate::io::read_lines;
use crate::lang;
use crate::tables::{DocRow, EvalSet, QrelRow, QueryRow};

/// Collects the texts of a parallel set and turns them into an [`EvalSet`].
#[derive(Debug, Default)]
pub struct ParallelSetBuilder {
    texts: Vec<DocRow>,
    /// Group id → index into `groups`.
    group_index: HashMap<String, usize>,
    /// Per group, in order of first appearance: indices into `texts`.
    groups: Vec<Vec<usize>>,
    empty_dropped: Vec<String>,
    /// Prefix stripped from file names in notes, so the catalog does not depend on where the
    /// raw files were.
    root: Option<PathBuf>,
}

impl ParallelSetBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty builder whose notes show file names relative to `root`.
    pub fn relative_to(root: &Path) -> Self {
        ParallelSetBuilder { root: Some(root.to_path_buf()), ..Self::default() }
    }

    /// Adds one text. `lang` must be canonical. Its id is `<group>.<lang>` (unique because a
    /// language code has no `.`); a second text of the same group and language is a
    /// [`IngestError::DuplicateId`] naming `path` and `line`, and so is a group whose texts
    /// claim different subsets. An empty text is not added but counted (see
    /// [`ParallelSetBuilder::finish`]): upstream sets have a few and an empty query or
    /// document is meaningless.
    pub fn add(
        &mut self,
        path: &Path,
        line: Option<usize>,
        subset: Option<&str>,
        group: &str,
        lang: &str,
        text: &str,
    ) -> Result<()> {
        debug_assert!(lang::is_canonical(lang), "{lang}");
        let g = match self.group_index.get(group) {
            Some(&g) => g,
            None => {
                self.group_index.insert(group.to_string(), self.groups.len());
                self.groups.push(Vec::new());
                self.groups.len() - 1
            }
        };
        let id = format!("{group}.{lang}");
        let members = &self.groups[g];
        if members.iter().any(|&i| self.texts[i].lang == lang) {
            return Err(IngestError::DuplicateId { path: path.to_path_buf(), line: Line(line), id });
        }
        if let Some(&first) = members.first()
            && self.texts[first].subset.as_deref() != subset
        {
            return Err(IngestError::invalid(
                path,
                line,
                format!("group `{group}` is in subset {:?} and {subset:?}", self.texts[first].subset),
            ));
        }
        let text = text.trim();
        if text.is_empty() {
            let shown = self.root.as_deref().and_then(|r| path.strip_prefix(r).ok()).unwrap_or(path);
            let at = line.map_or_else(|| shown.display().to_string(), |l| format!("{}:{l}", shown.display()));
            self.empty_dropped.push(format!("{id} ({at})"));
            return Ok(());
        }
        self.groups[g].push(self.texts.len());
        self.texts.push(DocRow {
            docid: id,
            lang: lang.to_string(),
            text: text.to_string(),
            group_id: group.to_string(),
            subset: subset.map(str::to_string),
        });
        Ok(())
    }

    /// Builds the set named `name`, plus notes on what was dropped: empty texts, and texts
    /// left without any parallel copy (kept as corpus documents, not used as queries since
    /// they would have nothing relevant).
    pub fn finish(self, name: &str) -> (EvalSet, Vec<String>) {
        let mut queries = Vec::with_capacity(self.texts.len());
        let mut qrels = Vec::new();
        let mut lonely = 0usize;
        for members in &self.groups {
            if members.len() < 2 {
                lonely += members.len();
                continue;
            }
            for &i in members {
                let t = &self.texts[i];
                queries.push(QueryRow {
                    qid: t.docid.clone(),
                    lang: t.lang.clone(),
                    text: t.text.clone(),
                    group_id: t.group_id.clone(),
                    subset: t.subset.clone(),
                });
                qrels.extend(members.iter().filter(|&&j| j != i).map(|&j| QrelRow {
                    qid: t.docid.clone(),
                    docid: self.texts[j].docid.clone(),
                    rel: 1,
                }));
            }
        }
        let mut notes = Vec::new();
        if !self.empty_dropped.is_empty() {
            notes.push(format!("{} empty texts dropped: {}", self.empty_dropped.len(), self.empty_dropped.join(", ")));
        }
        if lonely > 0 {
            notes.push(format!("{lonely} texts have no parallel copy: kept as documents, not used as queries"));
        }
        (EvalSet { name: name.to_string(), queries, corpus: self.texts, qrels }, notes)
    }
}

/// Reads line-aligned files (optionally gzip) that must all have as many lines as the first;
/// returns their trimmed lines in the same order.
pub(crate) fn read_aligned(files: &[PathBuf]) -> Result<Vec<Vec<String>>> {
    let all = crate::io::par_map(files, |p| read_lines(p));
    let all = all.into_iter().collect::<Result<Vec<_>>>()?;
    if let Some(first) = all.first() {
        for (lines, path) in all.iter().zip(files).skip(1) {
            if lines.len() != first.len() {
                return Err(IngestError::Ragged {
                    path: path.clone(),
                    reference: files[0].clone(),
                    expected: first.len(),
                    actual: lines.len(),
                });
            }
        }
    }
    Ok(all)
}

/// The `LANG.txt` files of a parallel folder with their canonical language codes, sorted by
/// file name. Other files are ignored. Fewer than two language files, two files for the same
/// language or an unknown code are errors naming the file.
pub fn language_files(dir: &Path) -> Result<Vec<(PathBuf, &'static str)>> {
    let mut files: Vec<(PathBuf, &'static str)> = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| IngestError::io(dir, e))?;
    for entry in entries {
        let path = entry.map_err(|e| IngestError::io(dir, e))?.path();
        if path.extension().is_none_or(|e| e != "txt") || !path.is_file() {
            continue;
        }
        let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let code = lang::canonical(&stem).ok_or_else(|| IngestError::UnknownLanguage {
            path: path.clone(),
            line: Line(None),
            code: stem.clone(),
        })?;
        files.push((path, code));
    }
    files.sort();
    let mut seen = HashMap::new();
    for (path, code) in &files {
        if let Some(other) = seen.insert(*code, path) {
            return Err(IngestError::DuplicateId {
                path: path.clone(),
                line: Line(None),
                id: format!("language `{code}` (also {})", other.display()),
            });
        }
    }
    if files.len() < 2 {
        return Err(IngestError::invalid(
            dir,
            None,
            format!("a parallel set needs at least two LANG.txt files, found {}", files.len()),
        ));
    }
    Ok(files)
}

/// Reads a folder of line-aligned `LANG.txt` files (one per language, line *i* the same
/// sentence in every file; the file stem is any code [`lang::canonical`] accepts, see
/// [`language_files`]) into a parallel evaluation set named `name`, group id = line number.
///
/// User data gets strict checks: besides those of [`language_files`], an empty file, an empty
/// line or files of different lengths are errors naming the file (and line).
pub fn read_parallel_dir(dir: &Path, name: &str) -> Result<Table> {
    let files = language_files(dir)?;
    let paths: Vec<PathBuf> = files.iter().map(|(p, _)| p.clone()).collect();
    let texts = read_aligned(&paths)?;
    let mut builder = ParallelSetBuilder::new();
    for ((path, code), lines) in files.iter().zip(&texts) {
        for (i, text) in lines.iter().enumerate() {
            if text.is_empty() {
                return Err(IngestError::EmptyText { path: path.clone(), line: Line(Some(i + 1)), field: None });
            }
            builder.add(path, Some(i + 1), None, &(i + 1).to_string(), code, text)?;
        }
    }
    let (set, notes) = builder.finish(name);
    Ok(Table { name: name.to_string(), data: TableData::Eval(set), notes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_links_each_text_to_the_others_of_its_group() {
        let p = Path::new("f");
        let mut b = ParallelSetBuilder::new();
        for (g, l, t) in [
            ("1", "en", "a dog"),
            ("1", "de", "ein Hund"),
            ("1", "fr", "un chien"),
            ("2", "en", "a cat"),
            ("3", "en", "  "),
        ] {
            b.add(p, None, None, g, l, t).unwrap();
        }
        let (set, notes) = b.finish("x");
        assert_eq!(set.corpus.len(), 4);
        assert_eq!(set.queries.len(), 3, "the lonely cat is not a query");
        assert_eq!(set.qrels.len(), 6);
        assert!(set.qrels.iter().all(|r| r.qid != r.docid));
        assert!(set.qrels.iter().any(|r| r.qid == "1.de" && r.docid == "1.fr"));
        assert_eq!(notes.len(), 2, "{notes:?}");
        set.validate(p).unwrap();
    }

    #[test]
    fn builder_rejects_duplicate_ids() {
        let mut b = ParallelSetBuilder::new();
        b.add(Path::new("f"), Some(1), None, "1", "en", "a").unwrap();
        let e = b.add(Path::new("f"), Some(2), None, "1", "en", "b").unwrap_err();
        assert_eq!(e.to_string(), "f:2: duplicate id `1.en`");
    }
}
