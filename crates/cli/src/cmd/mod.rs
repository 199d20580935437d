//! One module per subcommand: clap arguments and a `run` that calls into the libraries.

pub mod compare;
pub mod encode;
pub mod eval;
pub mod fetch;
pub mod fetch_model;
pub mod ingest;
pub mod sample;
pub mod search;
pub mod train;
