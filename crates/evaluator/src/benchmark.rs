//! Finding a benchmark by name or directory, as `polyret eval --benchmark` does.

use std::path::Path;

use polyret_ingest::{CATALOG_FILE, Catalog, EvalSet};

use crate::error::{EvalError, Result};

/// The evaluation set `benchmark` names: an existing directory holding
/// `queries/corpus/qrels.parquet` (or one of those files; the set is named after the
/// directory), else an evaluation table of the catalog in the Parquet root `data` (`multi30k`
/// stands for `multi30k-test_2016`).
pub fn load_benchmark(benchmark: &str, data: &Path) -> Result<EvalSet> {
    let path = Path::new(benchmark);
    if path.exists() {
        let dir = if path.is_file() { path.parent().unwrap_or(Path::new(".")) } else { path };
        let mut set = polyret_ingest::read_eval_set(dir)?;
        if set.name.is_empty() {
            set.name = dir.file_name().map_or_else(|| benchmark.to_owned(), |n| n.to_string_lossy().into_owned());
        }
        return Ok(set);
    }
    let name = match benchmark {
        "multi30k" => "multi30k-test_2016",
        other => other,
    };
    let catalog_path = data.join(CATALOG_FILE);
    if !catalog_path.exists() {
        return Err(EvalError::data(
            benchmark,
            format!(
                "{} does not exist: fetch the data first (`polyret fetch-data`), or name the Parquet root \
                 that holds {CATALOG_FILE}",
                catalog_path.display()
            ),
        ));
    }
    Ok(Catalog::load(&catalog_path)?.read_eval_set(name)?)
}

#[cfg(test)]
mod tests {
    use polyret_ingest::{DocRow, QrelRow, QueryRow};

    use super::*;

    #[test]
    fn directories_files_and_missing_catalogs() {
        let dir = tempfile::tempdir().unwrap();
        let set_dir = dir.path().join("toy");
        let row = |id: &str, lang: &str| (id.to_owned(), lang.to_owned(), format!("text {id}"), "g".to_owned());
        let (qid, lang, text, group_id) = row("q1", "de");
        let (docid, dlang, dtext, dgroup) = row("d1", "en");
        let set = EvalSet {
            name: "toy".into(),
            queries: vec![QueryRow { qid: qid.clone(), lang, text, group_id, subset: None }],
            corpus: vec![DocRow { docid: docid.clone(), lang: dlang, text: dtext, group_id: dgroup, subset: None }],
            qrels: vec![QrelRow { qid, docid, rel: 1 }],
        };
        polyret_ingest::write_eval_set(&set_dir, &set).unwrap();
        let by_dir = load_benchmark(set_dir.to_str().unwrap(), dir.path()).unwrap();
        assert_eq!(by_dir, set);
        let by_file = load_benchmark(set_dir.join("qrels.parquet").to_str().unwrap(), dir.path()).unwrap();
        assert_eq!(by_file.name, "toy");
        let err = load_benchmark("xquad-r", dir.path()).unwrap_err().to_string();
        assert!(err.contains("catalog.json") && err.contains("fetch-data"), "{err}");
    }
}
