//! Multi30K (Flickr30K captions) into
//! - `multi30k-pairs`: task2 train + val (five *independent* captions per image, en and de):
//!   one row per (image, language), query = caption 1, positive = caption 2. Task1 captions are
//!   translations of a single English caption, so a monolingual pair from task1 would pair a
//!   text with itself; task2's independent captions make a real paraphrase-like pair.
//! - `multi30k-test_2016`, `-test_2017`, `-test_2017_mscoco`, `-test_2018`: task1 test splits
//!   as parallel caption-retrieval sets (a caption retrieves the captions of the same image in
//!   the other languages), with the languages each split has at the pinned commit.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::catalog::{Ingested, Table, TableData};
use crate::error::{IngestError, Line, Result};
use crate::parallel::{ParallelSetBuilder, read_aligned};
use crate::tables::PairRow;

/// GitHub repository of Multi30K.
pub const MULTI30K_REPO: &str = "multi30k/dataset";

/// Task1 evaluation splits: table suffix, file stem, languages available upstream.
pub const EVAL_SPLITS: [(&str, &str, &[&str]); 4] = [
    ("test_2016", "test_2016_flickr", &["en", "de", "fr", "cs"]),
    ("test_2017", "test_2017_flickr", &["en", "de", "fr"]),
    ("test_2017_mscoco", "test_2017_mscoco", &["en", "de", "fr"]),
    ("test_2018", "test_2018_flickr", &["en", "de", "fr", "cs"]),
];

/// Task2 splits used for pairs: upstream name (= our split name).
const PAIR_SPLITS: [&str; 2] = ["train", "val"];
/// Task2 languages.
const PAIR_LANGS: [&str; 2] = ["en", "de"];

/// The image id of an `image_splits` line: the file name without `.jpg` (MSCOCO lines also
/// drop the `#caption-id` suffix that follows it).
pub fn image_id(line: &str) -> &str {
    line.find(".jpg").map_or(line, |i| &line[..i])
}

/// Checks that image ids are non-empty and unique, naming the file and line otherwise.
fn check_image_ids(path: &Path, lines: &[String]) -> Result<Vec<String>> {
    let mut seen = HashSet::with_capacity(lines.len());
    lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let id = image_id(l);
            if id.is_empty() {
                return Err(IngestError::EmptyText { path: path.into(), line: Line(Some(i + 1)), field: None });
            }
            if !seen.insert(id) {
                return Err(IngestError::DuplicateId {
                    path: path.into(),
                    line: Line(Some(i + 1)),
                    id: id.to_string(),
                });
            }
            Ok(id.to_string())
        })
        .collect()
}

/// Reads Multi30K from a raw root laid out as `OWNER/REPO/PATH`.
pub fn ingest(raw_root: &Path) -> Result<Ingested> {
    let data = raw_root.join(MULTI30K_REPO).join("data");
    let mut tables = vec![pairs(&data.join("task2"))?];
    for (suffix, stem, langs) in EVAL_SPLITS {
        tables.push(eval_split(raw_root, &data.join("task1"), suffix, stem, langs)?);
    }
    Ok(Ingested { tables, xquad_split: None })
}

fn pairs(task2: &Path) -> Result<Table> {
    let mut rows = Vec::new();
    let mut empty = 0usize;
    for split in PAIR_SPLITS {
        let images = task2.join("image_splits").join(format!("{split}_images.txt"));
        let mut files = vec![images.clone()];
        for lang in PAIR_LANGS {
            for n in [1, 2] {
                files.push(task2.join("raw").join(format!("{split}.{n}.{lang}.gz")));
            }
        }
        let columns = read_aligned(&files)?;
        let ids = check_image_ids(&images, &columns[0])?;
        for (i, id) in ids.iter().enumerate() {
            for (l, lang) in PAIR_LANGS.iter().enumerate() {
                let (query, positive) = (&columns[1 + 2 * l][i], &columns[2 + 2 * l][i]);
                if query.is_empty() || positive.is_empty() {
                    empty += 1;
                    continue;
                }
                rows.push(PairRow {
                    group_id: id.clone(),
                    query_lang: lang.to_string(),
                    query: query.clone(),
                    positive_lang: lang.to_string(),
                    positive: positive.clone(),
                    negative: None,
                    context: None,
                    split: split.to_string(),
                    source: "multi30k".to_string(),
                });
            }
        }
    }
    let mut notes = vec![
        "task2 train+val: one row per (image, language), query = caption 1, positive = caption 2 (independent captions; task1 captions are translations of each other)".to_string(),
        "group_id = Flickr30K image id; split = upstream split (train / val)".to_string(),
    ];
    if empty > 0 {
        notes.push(format!("{empty} (image, language) rows dropped for an empty caption"));
    }
    Ok(Table { name: "multi30k-pairs".into(), data: TableData::Pairs(rows), notes })
}

fn eval_split(raw_root: &Path, task1: &Path, suffix: &str, stem: &str, langs: &[&str]) -> Result<Table> {
    let images = task1.join("image_splits").join(format!("{stem}.txt"));
    let mut files: Vec<PathBuf> = vec![images.clone()];
    files.extend(langs.iter().map(|l| task1.join("raw").join(format!("{stem}.{l}.gz"))));
    let columns = read_aligned(&files)?;
    let ids = check_image_ids(&images, &columns[0])?;
    let mut builder = ParallelSetBuilder::relative_to(raw_root);
    for (lang, (file, captions)) in langs.iter().zip(files.iter().zip(&columns).skip(1)) {
        for (i, (id, caption)) in ids.iter().zip(captions).enumerate() {
            builder.add(file, Some(i + 1), None, id, lang, caption)?;
        }
    }
    let name = format!("multi30k-{suffix}");
    let (set, mut notes) = builder.finish(&name);
    notes.insert(
        0,
        format!(
            "task1 {stem} ({}): each caption is a query and a document (id `<image>.<lang>`); relevant = the captions of the same image in the other languages",
            langs.join("/")
        ),
    );
    Ok(Table { name, data: TableData::Eval(set), notes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_ids() {
        assert_eq!(image_id("1007129816.jpg"), "1007129816");
        assert_eq!(image_id("COCO_val2014_000000398076.jpg#657409"), "COCO_val2014_000000398076");
        assert_eq!(image_id("plain"), "plain");
    }
}
