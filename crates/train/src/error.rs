use std::path::{Path, PathBuf};

/// Why a training run stopped. Messages name the file or the step.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The TOML config is invalid.
    #[error("{}: {message}", path.display())]
    Config {
        /// The config file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Training data is missing or unusable.
    #[error("training data: {0}")]
    Data(String),
    /// The loss or the gradients became NaN or infinite.
    #[error(
        "step {step}: loss is {loss} (gradient norm {grad_norm}); the run stopped. {}",
        match (checkpoint, checkpoint_step) {
            (Some(path), Some(at)) => format!("The last good checkpoint is {} (step {at}).", path.display()),
            _ => "No checkpoint was written yet.".to_string(),
        }
    )]
    NonFinite {
        /// The step, counted from 1 as in `metrics.jsonl`.
        step: u64,
        /// The loss value.
        loss: f64,
        /// The gradient norm.
        grad_norm: f64,
        /// The last good checkpoint, if one was written (or resumed from).
        checkpoint: Option<PathBuf>,
        /// The step that checkpoint holds.
        checkpoint_step: Option<u64>,
    },
    /// The run directory cannot be used as asked (another process trains in it, or a finished
    /// run was made with another config).
    #[error("{}: {message}", path.display())]
    RunDir {
        /// The run directory.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A checkpoint is missing, incomplete or from another run.
    #[error("{}: {message}", path.display())]
    Checkpoint {
        /// The checkpoint directory.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Loading data tables failed.
    #[error(transparent)]
    Ingest(#[from] polyret_ingest::IngestError),
    /// The sampler rejected the data or config.
    #[error(transparent)]
    Sampler(#[from] polyret_sampler::SamplerError),
    /// The encoder failed (weights, tokenizer, saving).
    #[error(transparent)]
    Encoder(#[from] polyret_encoder::EncoderError),
}

impl From<polyret_files::Error> for TrainError {
    fn from(e: polyret_files::Error) -> Self {
        Self::Io { path: e.path, source: e.source }
    }
}

impl TrainError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io { path: path.to_owned(), source }
    }
}
