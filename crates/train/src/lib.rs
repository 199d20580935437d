//! Contrastive fine-tuning of multilingual sentence encoders with hybrid batches.
//!
//! A [`Trainer`] holds a [`TrainConfig`], the model being trained, its optimisers and the
//! sampler's position, over pairs that are already loaded ([`TrainData`], [`PairSet`]).
//! [`Trainer::step`] trains on one batch; [`Trainer::fit`] is the training loop of a run
//! directory ([`RunDir`]: metrics, checkpoints, the final model). Where things are:
//!
//! - a batch is composed by the sampler, [`polyret_sampler::Sampler::next_batch`], and turned
//!   into token ids by [`PairSet::pair`];
//! - the loss is [`info_nce`]: InfoNCE over cosine similarities with in-batch negatives;
//! - the optimisation step is [`Trainer::step`]: embed the batch (through GradCache with
//!   `training.chunk_size`, over the frozen-layer cache with `training.cache_frozen`), the loss,
//!   backward, clip, AdamW for dense parameters and lazy Adam for the word-embedding rows the
//!   batch touches; the learning rate follows [`learning_rate`];
//! - the training loop is [`Trainer::fit`].
//!
//! Downloading models and datasets, the evaluation afterwards and the command line are the
//! `trainer` binary's (`cargo run -p trainer`); this crate reads only what it is given.
//!
//! ```no_run
//! use std::path::Path;
//! use polyret_encoder::SentenceEncoder;
//! use polyret_train::{PairSet, RunDir, Start, Tokenizers, TrainConfig, TrainData, Trainer};
//!
//! let config = TrainConfig::load(Path::new("configs/smoke.toml"), &["training.steps=20".into()])?;
//! let base = SentenceEncoder::load("models/multilingual-e5-small", &config.model.backend.device())?;
//! let tokenizers = Tokenizers::new(&base, &config.model)?;
//! let rows = polyret_ingest::read_pairs(Path::new("my-pairs.parquet"))?;
//! let data = TrainData { train: PairSet::from_rows(rows, &tokenizers)?, validation: None };
//! let mut trainer = Trainer::new(config.clone(), &base, data, Start::default())?;
//!
//! // Your own loop…
//! for _ in 0..10 {
//!     let report = trainer.step();
//!     println!("step {} loss {:.4}", report.step, report.stats.loss);
//! }
//! // …or the run-directory loop, which continues to `training.steps`.
//! let run = RunDir::claim(Path::new("runs/mine"), &config, true)?;
//! let fit = trainer.fit(&run, None)?;
//! assert_eq!(fit.steps, 20);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod cache;
mod checkpoint;
mod config;
mod data;
mod error;
mod loss;
mod optim;
mod run_dir;
mod step;
mod trainer;

pub use cache::LayerCache;
pub use checkpoint::InvocationStats;
pub use config::{
    DataSection, Decay, EvalSection, LossSection, ModelSection, OptimizerSection, TrainConfig, TrainingSection,
};
pub use data::{PairSet, PairTokens, Tokenizers, TrainData, group_index};
pub use error::TrainError;
pub use loss::info_nce;
pub use optim::learning_rate;
pub use run_dir::RunDir;
pub use step::StepStats;
pub use trainer::{Fit, Start, StepReport, Trained, Trainer};
