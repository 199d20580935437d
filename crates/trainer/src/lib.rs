//! # trainer
//!
//! The `trainer` program around the training library `polyret-train`: `cargo run -p trainer`
//! with no arguments runs the main job (`configs/main.toml`); with `--config FILE --out DIR`,
//! any run. This crate resolves the model and the data (downloading what is missing), trains
//! with [`polyret_train::Trainer`], evaluates the fine-tuned model (and the base model) zero-shot
//! and writes the run's `summary.json` ([`train`]); [`cli`] is the command line it shares with
//! `polyret train`. Training itself — the config, the loss, the step, the loop, checkpoints —
//! is `polyret-train`'s.

pub mod cli;
mod embedder;
mod report;
mod run;

pub use polyret_train::{TrainConfig, TrainError};
pub use report::results_table;
pub use run::{BenchmarkSpec, RunOptions, RunSummary, ensure_tables, peak_rss_mib, resolve_model_dir, train};
