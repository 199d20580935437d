//! The durable record of a finished run: what the report reads, kept under
//! `results/runs/<regime>/<run>/` and committed with the report, so that the report can be
//! regenerated (and the study resumed) from a clean clone. A run directory under `runs/` holds
//! gigabytes (model, checkpoints, caches) and lives only as long as its machine; its record is
//! ~3 MB: `summary.json`, `timing.json`, `metrics.jsonl` (the loss curve) and per evaluation
//! `results.json` and `per_query.tsv.gz` (the query-level values the randomization tests use).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use polyret_evaluator::EvalReport;
use polyret_evaluator::compare::LoadedResults;
use polyret_evaluator::report::{PER_QUERY_FILE, RESULTS_FILE, parse_per_query};

/// Files of the run directory kept as they are (`metrics.jsonl` only where the run logged).
const RUN_FILES: [&str; 3] = ["summary.json", "timing.json", "metrics.jsonl"];
/// The compressed per-query values in a record.
const PER_QUERY_GZ: &str = "per_query.tsv.gz";

/// Whether `record` holds a finished run.
pub fn is_recorded(record: &Path) -> bool {
    record.join("summary.json").is_file() && record.join("timing.json").is_file() && record.join("eval").is_dir()
}

/// Whether a run directory holds a finished run (its summary, evaluations and timing exist),
/// recorded or not.
pub fn is_finished(run: &Path) -> bool {
    run.join("summary.json").is_file() && run.join("eval").is_dir() && run.join("timing.json").is_file()
}

/// Writes the record of the finished run in `run` to `record`, replacing an older one. Built in a
/// temporary directory beside it and renamed into place, so a record is whole or absent.
pub fn write(run: &Path, record: &Path) -> anyhow::Result<()> {
    let parent = record.parent().context("a record directory has a parent")?;
    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let staging = tempfile::Builder::new()
        .prefix(".record-")
        .tempdir_in(parent)
        .with_context(|| format!("creating a temporary directory in {}", parent.display()))?;
    for name in RUN_FILES {
        let from = run.join(name);
        if from.is_file() {
            std::fs::copy(&from, staging.path().join(name)).with_context(|| format!("copying {}", from.display()))?;
        }
    }
    for (label, bench) in evaluations(&run.join("eval"))? {
        let from = run.join("eval").join(&label).join(&bench);
        let to = staging.path().join("eval").join(&label).join(&bench);
        std::fs::create_dir_all(&to).with_context(|| format!("creating {}", to.display()))?;
        std::fs::copy(from.join(RESULTS_FILE), to.join(RESULTS_FILE))
            .with_context(|| format!("copying {}", from.join(RESULTS_FILE).display()))?;
        let tsv = from.join(PER_QUERY_FILE);
        let text = std::fs::read(&tsv).with_context(|| format!("reading {}", tsv.display()))?;
        let mut gz = GzEncoder::new(Vec::new(), Compression::best());
        gz.write_all(&text)?;
        std::fs::write(to.join(PER_QUERY_GZ), gz.finish()?)
            .with_context(|| format!("writing {}", to.join(PER_QUERY_GZ).display()))?;
    }
    if record.exists() {
        std::fs::remove_dir_all(record).with_context(|| format!("removing the old record {}", record.display()))?;
    }
    let staged = staging.keep();
    std::fs::rename(&staged, record).with_context(|| format!("moving {} to {}", staged.display(), record.display()))?;
    Ok(())
}

/// The (model label, benchmark) pairs evaluated under `eval`, sorted.
pub fn evaluations(eval: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let names = |dir: &Path| -> anyhow::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                names.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        names.sort();
        Ok(names)
    };
    let mut pairs = Vec::new();
    for label in names(eval)? {
        for bench in names(&eval.join(&label))? {
            pairs.push((label.clone(), bench));
        }
    }
    Ok(pairs)
}

/// Reads one evaluation of a record (`eval/<label>/<benchmark>`).
pub fn read_evaluation(dir: &Path) -> anyhow::Result<LoadedResults> {
    let report = EvalReport::read(dir)?;
    let path: PathBuf = dir.join(PER_QUERY_GZ);
    let file = std::fs::File::open(&path).with_context(|| format!("opening {}", path.display()))?;
    let mut text = String::new();
    GzDecoder::new(file).read_to_string(&mut text).with_context(|| format!("decompressing {}", path.display()))?;
    let units = parse_per_query(&text, &path)?;
    Ok(LoadedResults { dir: dir.to_owned(), report, units })
}
