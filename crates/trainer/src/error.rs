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
    #[error("step {step}: loss is {loss} (gradient norm {grad_norm}); the run stopped, the last good checkpoint is {}", checkpoint.display())]
    NonFinite {
        /// The step.
        step: u64,
        /// The loss value.
        loss: f64,
        /// The gradient norm.
        grad_norm: f64,
        /// Where the last good state is.
        checkpoint: PathBuf,
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
    /// Fetching data or the model failed.
    #[error(transparent)]
    Fetch(#[from] polyret_fetch::FetchError),
    /// Evaluation failed.
    #[error(transparent)]
    Eval(#[from] polyret_evaluator::EvalError),
}

impl TrainError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io { path: path.to_owned(), source }
    }
}
