//! xFlickr&CO (IGLUE): 2000 images (1000 Flickr30K test, 1000 COCO val2014) with one caption
//! per image in 8 languages, mostly written independently. Read as one parallel
//! caption-retrieval set `xflickrco`, group = image id.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::catalog::{Ingested, Table, TableData};
use crate::error::{IngestError, Result};
use crate::io::{numbered_lines, par_map, read_text};
use crate::jsonl::{JsonId, parse_line};
use crate::parallel::ParallelSetBuilder;

/// GitHub repository of IGLUE.
pub const IGLUE_REPO: &str = "e-bug/iglue";
/// Languages of xFlickr&CO (file codes are canonical).
pub const XFLICKRCO_LANGS: [&str; 8] = ["de", "en", "es", "id", "ja", "ru", "tr", "zh"];

/// `test.jsonl` of one language in a raw root laid out as `OWNER/REPO/PATH`.
pub fn annotation_path(raw_root: &Path, lang: &str) -> PathBuf {
    raw_root.join(IGLUE_REPO).join("datasets/xFlickrCO/annotations").join(lang).join("test.jsonl")
}

#[derive(Deserialize)]
struct Record {
    sentences: Vec<String>,
    /// A string for Flickr images, a number for some COCO images.
    id: JsonId,
}

/// Reads xFlickr&CO from a raw root laid out as `OWNER/REPO/PATH`.
pub fn ingest(raw_root: &Path) -> Result<Ingested> {
    let files: Vec<PathBuf> = XFLICKRCO_LANGS.iter().map(|l| annotation_path(raw_root, l)).collect();
    let texts = par_map(&files, |p| read_text(p)).into_iter().collect::<Result<Vec<_>>>()?;
    let mut builder = ParallelSetBuilder::relative_to(raw_root);
    for ((lang, path), text) in XFLICKRCO_LANGS.iter().zip(&files).zip(&texts) {
        for (line, raw) in numbered_lines(text).filter(|(_, l)| !l.trim().is_empty()) {
            let r: Record = parse_line(path, line, raw)?;
            let [caption] = r.sentences.as_slice() else {
                return Err(IngestError::invalid(
                    path,
                    Some(line),
                    format!("expected exactly one caption in `sentences`, found {}", r.sentences.len()),
                ));
            };
            builder.add(path, Some(line), None, &r.id.into_string(), lang, caption)?;
        }
    }
    let (set, mut notes) = builder.finish("xflickrco");
    notes.insert(
        0,
        "each caption is a query and a document (id `<image>.<lang>`); relevant = the captions of the same image in the other 7 languages".to_string(),
    );
    Ok(Ingested {
        tables: vec![Table { name: "xflickrco".into(), data: TableData::Eval(set), notes }],
        xquad_split: None,
    })
}
