//! # trainer
//!
//! Contrastive fine-tuning of multilingual sentence encoders with hybrid batches.
//!
//! A run reads a [`TrainConfig`] (TOML), draws batches with `polyret-sampler`, optimises
//! InfoNCE with in-batch negatives ([`loss::info_nce`]) using AdamW for dense parameters and lazy
//! Adam for the word-embedding rows a batch touches ([`optim`]), optionally through GradCache
//! (`training.chunk_size`) and over cached frozen layers ([`cache`]), checkpoints atomically
//! ([`checkpoint`]) and saves an HF + sentence-transformers model. `cargo run -p trainer` with no
//! arguments runs the main job ([`main_job`]).

pub mod cache;
pub mod checkpoint;
pub mod cli;
pub mod config;
pub mod data;
pub mod embedder;
mod error;
pub mod loss;
pub mod optim;
pub mod report;
pub mod run;
pub mod step;

pub use config::TrainConfig;
pub use error::TrainError;
pub use run::{RunOptions, RunSummary, train};
