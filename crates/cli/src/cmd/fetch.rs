//! `polyret fetch-data`: same flags as `cargo xtask fetch-data` (`polyret_fetch::DataArgs`),
//! with the data directory defaulting to `./data`.

use std::path::Path;

pub use polyret_fetch::DataArgs;

/// Fetches and ingests what is missing; prints one summary line.
pub fn run_data(args: DataArgs) -> anyhow::Result<()> {
    args.run(Path::new("data"))?;
    Ok(())
}
