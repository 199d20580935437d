use std::path::{Path, PathBuf};

/// Errors of fetching data or models. Messages name the file or address involved.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// Reading or writing a local file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A file's sha256 is not the pinned one.
    #[error("{}: checksum mismatch: expected sha256 {expected}, got {actual}", path.display())]
    Checksum {
        /// The file.
        path: PathBuf,
        /// Pinned digest.
        expected: String,
        /// Digest of what we got.
        actual: String,
    },
    /// A download failed.
    #[error("{url}: {message}")]
    Download {
        /// The address.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// An archive (wheel) could not be read.
    #[error("{}: {message}", path.display())]
    Archive {
        /// The archive.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// An external tool (pip) failed.
    #[error("{tool} failed: {message}")]
    Tool {
        /// The command.
        tool: String,
        /// Its error output.
        message: String,
    },
    /// A model name that is neither known nor an HF hub id (`owner/name`).
    #[error("unknown model {name:?}: known models are {known}; or give an HF hub id like owner/name")]
    UnknownModel {
        /// The name asked for.
        name: String,
        /// The known names.
        known: String,
    },
    /// Converting the downloaded model failed.
    #[error(transparent)]
    Encoder(#[from] polyret_encoder::EncoderError),
    /// `data/manifest.toml` could not be read, parsed or has an invalid entry.
    #[error("{}: {message}", path.display())]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A file listed in the manifest is not in the mirror directory.
    #[error("{}: not in the mirror (expected at {})", file, path.display())]
    MissingInMirror {
        /// `OWNER/REPO/PATH` of the file.
        file: String,
        /// Where it was looked for.
        path: PathBuf,
    },
    /// A raw file needed for ingestion is missing and downloading was not allowed.
    #[error("{}: raw file missing; run `fetch-data` first", path.display())]
    MissingRaw {
        /// The file under `data/raw`.
        path: PathBuf,
    },
    /// `--only` named neither a dataset nor a table.
    #[error("unknown dataset or table {name:?}; known: {known}")]
    UnknownDataset {
        /// The name asked for.
        name: String,
        /// Datasets and tables that exist.
        known: String,
    },
    /// Reading a dataset into tables failed.
    #[error(transparent)]
    Ingest(#[from] polyret_ingest::IngestError),
    /// Several independent steps failed (one line each); the others completed.
    #[error("{} steps failed:\n  {}", .0.len(), .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n  "))]
    Several(Vec<FetchError>),
}

impl From<polyret_files::Error> for FetchError {
    fn from(e: polyret_files::Error) -> Self {
        Self::Io { path: e.path, source: e.source }
    }
}

impl FetchError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io { path: path.to_owned(), source }
    }
}
