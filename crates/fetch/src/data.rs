//! Benchmark data: download (or copy from a mirror) every file of `data/manifest.toml` into
//! `data/raw/OWNER/REPO/PATH`, verify its sha256, then ingest each dataset into
//! `data/parquet/` and record it in `catalog.json`.
//!
//! Idempotent: each table in the catalog carries a *stamp* — a hash of the reader's format
//! version and of the pinned commit and checksum of every input file. A dataset whose tables
//! all carry the current stamp and whose Parquet files still match their recorded checksums is
//! up to date and is neither fetched nor ingested again; when every dataset is, a run does
//! nothing and says so. A dataset with any input that fails (checksum mismatch, missing from
//! the mirror, download error) is not ingested — no table is written for it — while the other
//! datasets proceed; the run then fails listing every error.

pub mod manifest;
mod transfer;

#[cfg(feature = "clap")]
mod args;

use std::collections::BTreeSet;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use polyret_ingest::{CATALOG_FILE, Catalog, Dataset, FORMAT_VERSION, Source};
use rayon::prelude::*;
use sha2::{Digest, Sha256};

#[cfg(feature = "clap")]
pub use args::DataArgs;
pub use manifest::{FileRef, Manifest, ManifestDataset, ManifestFile};
use transfer::{Acquired, Origin, acquire};

use crate::FetchError;

/// Upstream host of every manifest file.
pub const DEFAULT_URL_BASE: &str = "https://raw.githubusercontent.com";
/// Environment variable naming a local mirror (`OWNER/REPO/PATH` layout) to copy from instead
/// of downloading.
pub const MIRROR_ENV: &str = "POLYRET_DATA_MIRROR";
/// Parallel downloads (copies from a mirror run one at a time: they are disk-bound).
const DOWNLOAD_THREADS: usize = 4;

/// What to fetch and where.
#[derive(Debug, Clone)]
pub struct DataOptions {
    /// Holds `manifest.toml` (by default), `raw/` and `parquet/`.
    pub data_dir: PathBuf,
    /// Manifest to use instead of `DATA_DIR/manifest.toml`.
    pub manifest: Option<PathBuf>,
    /// Copy from this mirror instead of downloading.
    pub mirror: Option<PathBuf>,
    /// Dataset or table names to limit the work to; empty = every dataset.
    pub only: Vec<String>,
    /// Rebuild the selected tables even when they are up to date.
    pub force: bool,
    /// Neither download nor copy: ingest from the files already in `raw/` (a missing one is an
    /// error). What `polyret ingest xquad` does.
    pub offline: bool,
    /// Upstream host, `https://raw.githubusercontent.com` unless testing.
    pub url_base: String,
    /// Draw progress bars (on a terminal).
    pub progress: bool,
}

impl DataOptions {
    /// Defaults for `data_dir`: every dataset, downloads from GitHub unless the
    /// [`MIRROR_ENV`] environment variable names a mirror, progress bars on.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        DataOptions {
            data_dir: data_dir.into(),
            manifest: None,
            mirror: std::env::var_os(MIRROR_ENV).filter(|v| !v.is_empty()).map(PathBuf::from),
            only: Vec::new(),
            force: false,
            offline: false,
            url_base: DEFAULT_URL_BASE.to_string(),
            progress: true,
        }
    }

    /// `DATA_DIR/raw`: verified upstream files, laid out as `OWNER/REPO/PATH`.
    pub fn raw_dir(&self) -> PathBuf {
        self.data_dir.join("raw")
    }

    /// `DATA_DIR/parquet`: the tables.
    pub fn parquet_dir(&self) -> PathBuf {
        self.data_dir.join("parquet")
    }

    /// `DATA_DIR/parquet/catalog.json`.
    pub fn catalog_path(&self) -> PathBuf {
        self.parquet_dir().join(CATALOG_FILE)
    }

    /// The manifest in use.
    pub fn manifest_path(&self) -> PathBuf {
        self.manifest.clone().unwrap_or_else(|| self.data_dir.join("manifest.toml"))
    }
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct FetchReport {
    /// Datasets left alone because they were up to date.
    pub up_to_date: Vec<Dataset>,
    /// Datasets ingested in this run, with the tables written.
    pub ingested: Vec<(Dataset, Vec<String>)>,
    /// Input files that were already in `raw/` with the right checksum.
    pub files_present: usize,
    /// Input files copied from the mirror.
    pub files_copied: usize,
    /// Input files downloaded.
    pub files_downloaded: usize,
    /// The catalog after the run.
    pub catalog: Catalog,
}

impl FetchReport {
    /// Whether the run found everything up to date.
    pub fn nothing_to_do(&self) -> bool {
        self.ingested.is_empty()
    }
}

impl fmt::Display for FetchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = |ds: &mut dyn Iterator<Item = &Dataset>| ds.map(|d| d.name()).collect::<Vec<_>>().join(", ");
        if self.nothing_to_do() {
            return write!(
                f,
                "nothing to do: {} up to date in {}",
                names(&mut self.up_to_date.iter()),
                self.catalog.path().display()
            );
        }
        write!(
            f,
            "ingested {} ({} tables); files: {} downloaded, {} copied from the mirror, {} already present",
            names(&mut self.ingested.iter().map(|(d, _)| d)),
            self.ingested.iter().map(|(_, t)| t.len()).sum::<usize>(),
            self.files_downloaded,
            self.files_copied,
            self.files_present
        )?;
        if !self.up_to_date.is_empty() {
            write!(f, "; up to date: {}", names(&mut self.up_to_date.iter()))?;
        }
        write!(f, "; catalog: {}", self.catalog.path().display())
    }
}

/// The datasets `only` selects (dataset or table names), in [`Dataset::ALL`] order; all of
/// them when `only` is empty.
pub fn select_datasets(only: &[String]) -> Result<Vec<Dataset>, FetchError> {
    if only.is_empty() {
        return Ok(Dataset::ALL.to_vec());
    }
    let mut chosen = BTreeSet::new();
    for name in only {
        let d = Dataset::from_name(name).ok_or_else(|| FetchError::UnknownDataset {
            name: name.clone(),
            known: Dataset::ALL
                .iter()
                .map(|d| format!("{} ({})", d.name(), d.tables().join(", ")))
                .collect::<Vec<_>>()
                .join("; "),
        })?;
        chosen.insert(d);
    }
    Ok(chosen.into_iter().collect())
}

/// The stamp of `dataset`'s tables: SHA-256 over the reader format version and the repo,
/// commit, path and checksum of every input file. Changes when an input or the reader does.
pub fn stamp(dataset: Dataset, manifest: &Manifest) -> String {
    let mut h = Sha256::new();
    h.update(format!("polyret-ingest format {FORMAT_VERSION}\ndataset {}\n", dataset.name()));
    for f in manifest.files_of(dataset.manifest_entries()) {
        h.update(format!("{} {} {} {}\n", f.dataset.repo, f.dataset.commit, f.file.path, f.file.sha256));
    }
    hex::encode(h.finalize())
}

/// Whether every table of `dataset` is in the catalog with `stamp` and intact files.
fn up_to_date(catalog: &Catalog, dataset: Dataset, stamp: &str) -> bool {
    dataset
        .tables()
        .iter()
        .all(|name| catalog.table(name).is_some_and(|e| e.stamp.as_deref() == Some(stamp) && catalog.files_intact(e)))
}

fn bar(enabled: bool, len: Option<u64>, template: &str) -> ProgressBar {
    if !enabled {
        return ProgressBar::hidden();
    }
    let bar = match len {
        Some(n) => ProgressBar::new(n),
        None => ProgressBar::new_spinner(),
    };
    bar.set_style(ProgressStyle::with_template(template).expect("valid progress template").progress_chars("=> "));
    bar
}

/// Fetches and ingests every selected dataset that is not up to date (see the module docs).
pub fn fetch_data(opts: &DataOptions) -> Result<FetchReport, FetchError> {
    let manifest = Manifest::load(&opts.manifest_path())?;
    let datasets = select_datasets(&opts.only)?;
    let mut catalog = Catalog::load_or_new(&opts.catalog_path())?;
    let mut report = FetchReport {
        up_to_date: Vec::new(),
        ingested: Vec::new(),
        files_present: 0,
        files_copied: 0,
        files_downloaded: 0,
        catalog: Catalog::default(),
    };

    let mut todo = Vec::new();
    for d in datasets {
        for entry in d.manifest_entries() {
            if manifest.entry(entry).is_none() {
                return Err(FetchError::Manifest {
                    path: opts.manifest_path(),
                    message: format!("no entry `{entry}`, which dataset {d} reads"),
                });
            }
        }
        let s = stamp(d, &manifest);
        if !opts.force && up_to_date(&catalog, d, &s) {
            tracing::debug!(dataset = %d, "up to date");
            report.up_to_date.push(d);
        } else {
            todo.push((d, s));
        }
    }
    if todo.is_empty() {
        report.catalog = catalog;
        return Ok(report);
    }

    // Every input of every dataset to do, once.
    let entries: Vec<&str> = todo
        .iter()
        .flat_map(|(d, _)| d.manifest_entries().iter().copied())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let files: Vec<FileRef<'_>> = manifest.files_of(&entries).collect();
    let origin = match (&opts.mirror, opts.offline) {
        (_, true) => Origin::Offline,
        (Some(m), false) => Origin::Mirror(m),
        (None, false) => Origin::Web { agent: Origin::agent(), base: &opts.url_base },
    };
    let raw = opts.raw_dir();
    let total: u64 = files.iter().map(|f| f.file.size).sum();
    let progress = bar(opts.progress, Some(total), "{msg:>12} [{bar:40}] {bytes}/{total_bytes} {eta}");
    progress.set_message("fetch");
    let threads = if matches!(origin, Origin::Web { .. }) { DOWNLOAD_THREADS } else { 1 };
    let outcomes = run_parallel(&files, threads, |f| acquire(*f, &raw, &origin, &progress));
    progress.finish_and_clear();

    let mut errors = Vec::new();
    let mut failed_entries = BTreeSet::new();
    for (f, outcome) in files.iter().zip(outcomes) {
        match outcome {
            Ok(Acquired::Present) => report.files_present += 1,
            Ok(Acquired::Copied) => report.files_copied += 1,
            Ok(Acquired::Downloaded) => report.files_downloaded += 1,
            Err(e) => {
                tracing::error!("{e}");
                failed_entries.insert(f.dataset.name.as_str());
                errors.push(e);
            }
        }
    }

    for (d, s) in todo {
        if d.manifest_entries().iter().any(|e| failed_entries.contains(e)) {
            tracing::error!(dataset = %d, "not ingested: an input file is unavailable");
            continue;
        }
        let spinner = bar(opts.progress, None, "{spinner} {msg}");
        spinner.set_message(format!("ingest {d}"));
        spinner.enable_steady_tick(Duration::from_millis(120));
        let sources: Vec<Source> = d
            .manifest_entries()
            .iter()
            .filter_map(|e| manifest.entry(e))
            .map(|m| Source::upstream(&m.repo, &m.commit))
            .collect();
        let result = d.ingest(&raw).and_then(|ingested| catalog.publish(&ingested, &sources, Some(&s)));
        spinner.finish_and_clear();
        match result {
            Ok(tables) => {
                tracing::info!(dataset = %d, tables = tables.len(), "ingested");
                report.ingested.push((d, tables));
            }
            Err(e) => {
                tracing::error!("{e}");
                errors.push(e.into());
            }
        }
    }
    report.catalog = catalog;
    match errors.len() {
        0 => Ok(report),
        1 => Err(errors.remove(0)),
        _ => Err(FetchError::Several(errors)),
    }
}

/// Makes sure the selected datasets are fetched and ingested — doing only what is missing —
/// and returns the catalog. What the trainer and the evaluator call before reading tables.
pub fn ensure_data(opts: &DataOptions) -> Result<Catalog, FetchError> {
    let report = fetch_data(opts)?;
    if !report.nothing_to_do() {
        tracing::info!("{report}");
    }
    Ok(report.catalog)
}

/// `f` over `items` on a pool of `threads` threads (downloads wait on the network, not on the
/// CPU), results in input order.
fn run_parallel<T: Sync, R: Send>(items: &[T], threads: usize, f: impl Fn(&T) -> R + Sync + Send) -> Vec<R> {
    if threads <= 1 || items.len() <= 1 {
        return items.iter().map(f).collect();
    }
    match rayon::ThreadPoolBuilder::new().num_threads(threads).build() {
        Ok(pool) => pool.install(|| items.par_iter().map(f).collect()),
        // No thread to be had: one file at a time.
        Err(_) => items.iter().map(f).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selects_by_dataset_or_table_name() {
        let only = |names: &[&str]| select_datasets(&names.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(only(&[]).unwrap(), Dataset::ALL.to_vec());
        assert_eq!(only(&["xquad-r", "tatoeba", "xquad"]).unwrap(), vec![Dataset::Xquad, Dataset::Tatoeba]);
        assert_eq!(only(&["multi30k-test_2016"]).unwrap(), vec![Dataset::Multi30k]);
        assert_eq!(only(&["tatoeba", "mlqa-r"]).unwrap(), vec![Dataset::MlqaR, Dataset::Tatoeba]);
        let e = only(&["squad"]).unwrap_err().to_string();
        assert!(e.contains("\"squad\"") && e.contains("xflickrco"), "{e}");
    }

    #[test]
    fn stamp_follows_the_inputs_of_its_dataset_only() {
        let manifest = |sha: &str| {
            let text = format!(
                "[[dataset]]\nname = \"xflickrco\"\nrepo = \"e-bug/iglue\"\ncommit = \"{c}\"\nlicense = \"MIT\"\nfiles = [{{ path = \"a\", size = 1, sha256 = \"{sha}\" }}]\n\n[[dataset]]\nname = \"tatoeba\"\nrepo = \"facebookresearch/LASER\"\ncommit = \"{c}\"\nlicense = \"x\"\nfiles = [{{ path = \"b\", size = 1, sha256 = \"{z}\" }}]\n",
                c = "1".repeat(40),
                z = "0".repeat(64),
            );
            Manifest::parse(std::path::Path::new("m.toml"), &text).unwrap()
        };
        let (a, b) = (manifest(&"a".repeat(64)), manifest(&"b".repeat(64)));
        assert_eq!(stamp(Dataset::XflickrCo, &a), stamp(Dataset::XflickrCo, &a));
        assert_ne!(stamp(Dataset::XflickrCo, &a), stamp(Dataset::XflickrCo, &b));
        assert_eq!(stamp(Dataset::Tatoeba, &a), stamp(Dataset::Tatoeba, &b));
        assert_ne!(stamp(Dataset::Tatoeba, &a), stamp(Dataset::XflickrCo, &a));
    }

    #[test]
    fn one_repository_at_two_commits_feeds_two_datasets() {
        let entry = |name: &str, commit: &str, path: &str, sha: &str| {
            format!(
                "[[dataset]]\nname = \"{name}\"\nrepo = \"google-research-datasets/lareqa\"\ncommit = \"{}\"\nlicense = \"x\"\nfiles = [{{ path = \"{path}\", size = 1, sha256 = \"{}\" }}]\n",
                commit.repeat(40),
                sha.repeat(64)
            )
        };
        let manifest = |mlqa_sha: &str| {
            let text =
                entry("xquad-r", "1", "xquad-r/en.json", "a") + &entry("mlqa-r", "2", "mlqa-r/en.json", mlqa_sha);
            Manifest::parse(std::path::Path::new("m.toml"), &text).unwrap()
        };
        let (a, b) = (manifest("b"), manifest("c"));
        assert_eq!(stamp(Dataset::Xquad, &a), stamp(Dataset::Xquad, &b));
        assert_ne!(stamp(Dataset::MlqaR, &a), stamp(Dataset::MlqaR, &b));
        let urls: Vec<String> = a.files_of(Dataset::MlqaR.manifest_entries()).map(|f| f.url("https://h")).collect();
        assert_eq!(urls, [format!("https://h/google-research-datasets/lareqa/{}/mlqa-r/en.json", "2".repeat(40))]);
    }
}
