//! Dataset and model download with checksum verification, mirror support and ingestion.
//!
//! - [`data`]: benchmark data into `data/raw/` and Parquet tables under `data/parquet/`
//!   ([`ensure_data`], [`fetch_data`]), pinned and verified by `data/manifest.toml`.
//! - [`model`]: pretrained models into `models/NAME/` ([`ensure_model`], [`fetch_model`]).

pub mod data;
mod error;
pub mod model;

#[cfg(feature = "clap")]
pub use data::DataArgs;
pub use data::{DataOptions, FetchReport, ensure_data, fetch_data};
pub use error::FetchError;
#[cfg(feature = "clap")]
pub use model::ModelArgs;
pub use model::{DEFAULT_MODEL, ModelOptions, ensure_model, fetch_model, model_dir};
