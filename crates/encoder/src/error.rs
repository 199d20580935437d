use std::path::{Path, PathBuf};

/// Everything that can go wrong loading, running or saving an encoder. Messages name the file.
#[derive(Debug, thiserror::Error)]
pub enum EncoderError {
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A config or settings file is malformed.
    #[error("{}: {message}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A checkpoint does not match the model (missing tensors, wrong shapes, bad encoding).
    #[error("{}: {message}", path.display())]
    Weights {
        /// The checkpoint.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The tokenizer file could not be loaded or used.
    #[error("{}: tokenizer: {message}", path.display())]
    Tokenizer {
        /// The `tokenizer.json`.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A caller passed something the encoder cannot use.
    #[error("{0}")]
    Input(String),
}

impl From<polyret_files::Error> for EncoderError {
    fn from(e: polyret_files::Error) -> Self {
        Self::Io { path: e.path, source: e.source }
    }
}

impl EncoderError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io { path: path.to_owned(), source }
    }
}
