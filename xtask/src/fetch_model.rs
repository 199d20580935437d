//! `cargo xtask fetch-model [NAME]`: same flags in both binaries (`polyret_fetch::ModelArgs`).

pub use polyret_fetch::ModelArgs as Args;

pub fn run(args: Args) -> anyhow::Result<()> {
    args.run()?;
    Ok(())
}
