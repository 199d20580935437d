//! `cargo xtask fetch-data`: the data half of fetching (models are in `fetch_model`). The flags
//! are `polyret_fetch::DataArgs`, shared with `polyret fetch-data`.

use std::path::PathBuf;

pub use polyret_fetch::DataArgs;

/// The workspace's `data/` directory, whatever directory `cargo xtask` is run from.
pub fn workspace_data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives inside the workspace").join("data")
}

/// Fetches and ingests what is missing; prints one summary line ("nothing to do: …" when all
/// tables are up to date).
pub fn run_data(args: DataArgs) -> anyhow::Result<()> {
    args.run(&workspace_data_dir())?;
    Ok(())
}
