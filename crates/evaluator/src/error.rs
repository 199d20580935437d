use std::path::{Path, PathBuf};

/// Everything that can go wrong in an evaluation. Messages name the file (and line) or the
/// evaluation set, so that a bad input can be found without a debugger.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A file Polyret reads back (run, qrels, results, per-query table, embedding cache) is
    /// malformed or empty.
    #[error("{}{}: {message}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    Format {
        /// The file.
        path: PathBuf,
        /// 1-based line, where the problem is on one line.
        line: Option<usize>,
        /// What is wrong.
        message: String,
    },
    /// An evaluation set breaks a rule the evaluator relies on (duplicate ids, qrels naming
    /// unknown queries or documents, ids a TREC file cannot hold…).
    #[error("evaluation set {set}: {message}")]
    Data {
        /// The set's name.
        set: String,
        /// What is wrong.
        message: String,
    },
    /// A ranking cannot be evaluated: empty run, unknown query, non-finite score.
    #[error("{0}")]
    Run(String),
    /// The embedder failed or returned something unusable (wrong size, NaN).
    #[error("embedder: {0}")]
    Embed(String),
    /// The evaluation set is invalid or cannot be read.
    #[error(transparent)]
    Ingest(#[from] polyret_ingest::IngestError),
    /// Results cannot be compared (different benchmarks, different query sets).
    #[error("{0}")]
    Compare(String),
    /// Drawing the heatmap failed.
    #[error("{}: heatmap: {message}", path.display())]
    Plot {
        /// The PNG being written.
        path: PathBuf,
        /// What failed.
        message: String,
    },
}

impl From<polyret_files::Error> for EvalError {
    fn from(e: polyret_files::Error) -> Self {
        Self::Io { path: e.path, source: e.source }
    }
}

impl EvalError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io { path: path.to_owned(), source }
    }

    pub(crate) fn format(path: &Path, line: Option<usize>, message: impl Into<String>) -> Self {
        Self::Format { path: path.to_owned(), line, message: message.into() }
    }

    pub(crate) fn data(set: &str, message: impl Into<String>) -> Self {
        Self::Data { set: set.to_owned(), message: message.into() }
    }
}

/// Result with [`EvalError`].
pub type Result<T, E = EvalError> = std::result::Result<T, E>;
