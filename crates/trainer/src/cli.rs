//! The command line shared by the `trainer` binary and `polyret train`.

use std::path::{Path, PathBuf};

use anyhow::Context;

use polyret_train::{RunDir, TrainConfig};

use crate::RunOptions;
use crate::report::results_table;

/// Fine-tune a multilingual encoder with hybrid batches. Without `--config`, runs the main job:
/// fetch data and model if missing, fine-tune e5-small with Hybrid(0.5) batches on the XQuAD
/// train split (`configs/main.toml`), evaluate zero-shot, print the results table. Run again,
/// the main job continues where it stopped; once finished, it only prints its results.
#[derive(clap::Args, Debug)]
pub struct TrainArgs {
    /// TOML config (see `configs/`).
    #[arg(long, requires = "out")]
    pub config: Option<PathBuf>,
    /// Run directory (config, metrics, checkpoints, final model, evaluations).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Continue the run in `--out` from its last checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// Override a config field, e.g. `--set sampler.alpha=0.25` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
    /// Stop after this many steps of this invocation (the run stays resumable).
    #[arg(long)]
    pub stop_after: Option<u64>,
}

/// The main job's config, used when `configs/main.toml` is not in the working directory.
const MAIN_CONFIG: &str = include_str!("../../../configs/main.toml");

/// Runs what `args` asks for and prints a summary (and the results table, if any).
pub fn run(args: TrainArgs) -> anyhow::Result<()> {
    let (config, out, resume) = match &args.config {
        Some(path) => {
            let out = args.out.clone().expect("clap requires --out with --config");
            let config = if args.resume && out.join("config.toml").exists() && args.overrides.is_empty() {
                TrainConfig::load(&out.join("config.toml"), &[])?
            } else {
                TrainConfig::load(path, &args.overrides)?
            };
            (config, out, args.resume)
        }
        None => {
            let out = args.out.clone().unwrap_or_else(|| PathBuf::from("runs/main"));
            let config = main_config(&args.overrides)?;
            // The main job picks up where it left off; a finished run is only reported.
            let resume = RunDir::holds_run(&out);
            eprintln!(
                "main job: {} (config configs/main.toml{})",
                out.display(),
                if resume { ", resuming" } else { "" }
            );
            (config, out, resume)
        }
    };
    let options = RunOptions { config, run_dir: out.clone(), resume, stop_after: args.stop_after };
    let summary = crate::train(&options).with_context(|| format!("training run {}", out.display()))?;
    if summary.already_finished {
        println!("{} had already finished; nothing was changed. Its summary:", out.display());
    }
    println!(
        "steps {} · loss {:.4} → {:.4} · {:.2} pairs/s{}{}",
        summary.steps,
        summary.loss_start_end.0,
        summary.loss_start_end.1,
        summary.pairs_per_second,
        summary.peak_rss_mib.map(|m| format!(" · peak memory {m:.0} MiB")).unwrap_or_default(),
        summary.model_dir.as_ref().map(|d| format!(" · model {}", d.display())).unwrap_or_default()
    );
    if !summary.evaluations.is_empty() {
        println!("{}", results_table(&summary.evaluations));
        println!("Per-benchmark reports: {}", out.join("eval").display());
    }
    Ok(())
}

/// `configs/main.toml` of the working directory, else the copy built into the binary.
fn main_config(overrides: &[String]) -> anyhow::Result<TrainConfig> {
    let path = Path::new("configs/main.toml");
    if path.exists() {
        return Ok(TrainConfig::load(path, overrides)?);
    }
    Ok(TrainConfig::parse(MAIN_CONFIG, path, overrides)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The built-in copy is the main job's config, overrides included.
    #[test]
    fn the_built_in_main_config_is_configs_main_toml() {
        let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/main.toml");
        let overrides = ["seed=3".to_string(), "sampler.strategy=\"x-y\"".to_string()];
        let built_in = TrainConfig::parse(MAIN_CONFIG, Path::new("configs/main.toml"), &overrides).unwrap();
        assert_eq!(built_in, TrainConfig::load(&file, &overrides).unwrap());
        let err = TrainConfig::parse(MAIN_CONFIG, Path::new("configs/main.toml"), &["seed=-1".into()]).unwrap_err();
        assert!(err.to_string().starts_with("configs/main.toml: "), "{err}");
    }
}
