//! Tatoeba test sets from LASER (`tatoeba.XXX-eng.{XXX,eng}`, line-aligned, up to 1000 pairs
//! per language) into one bitext-retrieval set `tatoeba` with one subset per `XXX-eng` pair:
//! a sentence retrieves its translation among the sentences of its own subset only. The
//! English side of each pair is its own set of documents (ids carry the subset), since the
//! English sentences differ from pair to pair.

use std::path::{Path, PathBuf};

use crate::catalog::{Ingested, Table, TableData};
use crate::error::{IngestError, Line, Result};
use crate::lang;
use crate::parallel::{ParallelSetBuilder, read_aligned};

/// GitHub repository of LASER.
pub const LASER_REPO: &str = "facebookresearch/LASER";
/// Directory of the test sets inside the repository.
pub const TATOEBA_DIR: &str = "data/tatoeba/v1";

/// The `XXX` codes of every `tatoeba.XXX-eng.XXX` file in `dir`, sorted.
fn pair_codes(dir: &Path) -> Result<Vec<String>> {
    let mut codes = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| IngestError::io(dir, e))? {
        let name = entry.map_err(|e| IngestError::io(dir, e))?.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix("tatoeba.") else { continue };
        if let Some((pair, side)) = rest.split_once('.')
            && let Some(code) = pair.strip_suffix("-eng")
            && code == side
        {
            codes.push(code.to_string());
        }
    }
    codes.sort();
    if codes.is_empty() {
        return Err(IngestError::invalid(dir, None, "no tatoeba.XXX-eng.XXX files"));
    }
    Ok(codes)
}

/// Reads the Tatoeba test sets from a raw root laid out as `OWNER/REPO/PATH`.
pub fn ingest(raw_root: &Path) -> Result<Ingested> {
    let dir = raw_root.join(LASER_REPO).join(TATOEBA_DIR);
    let codes = pair_codes(&dir)?;
    let mut builder = ParallelSetBuilder::relative_to(raw_root);
    for code in &codes {
        let subset = format!("{code}-eng");
        let other: PathBuf = dir.join(format!("tatoeba.{subset}.{code}"));
        let english: PathBuf = dir.join(format!("tatoeba.{subset}.eng"));
        let lang = lang::canonical(code).ok_or_else(|| IngestError::UnknownLanguage {
            path: other.clone(),
            line: Line(None),
            code: code.clone(),
        })?;
        let sides = read_aligned(&[other.clone(), english.clone()])?;
        for (path, lang, lines) in [(&other, lang, &sides[0]), (&english, "en", &sides[1])] {
            for (i, text) in lines.iter().enumerate() {
                builder.add(path, Some(i + 1), Some(&subset), &format!("{subset}.{}", i + 1), lang, text)?;
            }
        }
    }
    let (set, mut notes) = builder.finish("tatoeba");
    notes.insert(
        0,
        format!(
            "{} subsets `XXX-eng` (upstream file codes); ids `<subset>.<line>.<lang>`; a query ranks only its own subset; relevant = the other side of its line",
            codes.len()
        ),
    );
    Ok(Ingested {
        tables: vec![Table { name: "tatoeba".into(), data: TableData::Eval(set), notes }],
        xquad_split: None,
    })
}
