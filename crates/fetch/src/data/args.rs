//! The command-line arguments of `fetch-data`, shared by `cargo xtask fetch-data` and
//! `polyret fetch-data` so the two accept exactly the same flags.

use std::path::{Path, PathBuf};

use super::{DataOptions, FetchReport, MIRROR_ENV, fetch_data};
use crate::FetchError;

/// Download (or copy from a mirror) the benchmark data, verify checksums and ingest it.
#[derive(clap::Args, Debug, Clone)]
pub struct DataArgs {
    /// Copy from a local mirror laid out as OWNER/REPO/PATH instead of downloading
    /// (e.g. ../shared/data).
    #[arg(long, value_name = "DIR", env = MIRROR_ENV)]
    pub mirror: Option<PathBuf>,
    /// Only these datasets (xquad, mlqa-r, multi30k, xflickrco, tatoeba) or the datasets of these
    /// tables.
    #[arg(long, value_name = "NAME", num_args = 1.., value_delimiter = ',')]
    pub only: Vec<String>,
    /// Data directory holding manifest.toml, raw/ and parquet/ (default: the workspace's data/
    /// for `cargo xtask`, ./data for `polyret`).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Manifest to use instead of DATA_DIR/manifest.toml.
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,
    /// Rebuild the selected tables even when they are up to date.
    #[arg(long)]
    pub force: bool,
}

impl DataArgs {
    /// Options for these arguments; `default_data_dir` applies when `--data-dir` is absent.
    pub fn options(&self, default_data_dir: &Path) -> DataOptions {
        let mut opts = DataOptions::new(self.data_dir.clone().unwrap_or_else(|| default_data_dir.to_path_buf()));
        // An empty POLYRET_DATA_MIRROR means "no mirror", as in `DataOptions::new`.
        opts.mirror = self.mirror.clone().filter(|p| !p.as_os_str().is_empty());
        opts.manifest = self.manifest.clone();
        opts.only = self.only.clone();
        opts.force = self.force;
        opts
    }

    /// Runs the fetch and prints its one-line summary on stdout.
    pub fn run(&self, default_data_dir: &Path) -> Result<FetchReport, FetchError> {
        let report = fetch_data(&self.options(default_data_dir))?;
        println!("{report}");
        Ok(report)
    }
}
