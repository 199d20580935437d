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

/// The main job's config, relative to the working directory like every default path of the
/// programs (`data/`, `runs/main`, xtask's `configs/reproduce.toml`).
const MAIN_CONFIG: &str = "configs/main.toml";

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
            let config = main_config(Path::new(""), &args.overrides)?;
            // The main job picks up where it left off; a finished run is only reported.
            let resume = RunDir::holds_run(&out);
            eprintln!("main job: {} (config {MAIN_CONFIG}{})", out.display(), if resume { ", resuming" } else { "" });
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

/// The main job's config under `root` (the repository; `""`: the working directory).
fn main_config(root: &Path, overrides: &[String]) -> anyhow::Result<TrainConfig> {
    let path = root.join(MAIN_CONFIG);
    if !path.is_file() {
        let cwd = std::env::current_dir().unwrap_or_default();
        let dir = if root.as_os_str().is_empty() { cwd } else { cwd.join(root) };
        anyhow::bail!(
            "the main job's config {MAIN_CONFIG} is not in {}: run the trainer from the Polyret \
             repository root, or give a run with --config FILE --out DIR",
            dir.display()
        );
    }
    Ok(TrainConfig::load(&path, overrides)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The main job's config is found from the repository root, overrides included; elsewhere
    /// the error names the file.
    #[test]
    fn the_main_config_is_configs_main_toml_of_the_repository() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let overrides = ["seed=3".to_string(), "sampler.strategy=\"x-y\"".to_string()];
        let config = main_config(&root, &overrides).unwrap();
        let file = root.join("configs/main.toml");
        assert_eq!(config, TrainConfig::load(&file, &overrides).unwrap());
        assert_eq!(config.seed, 3);
        let err = main_config(&root, &["seed=-1".into()]).unwrap_err();
        assert!(err.to_string().starts_with(&format!("{}: ", file.display())), "{err}");

        let elsewhere = tempfile::tempdir().unwrap();
        let err = main_config(elsewhere.path(), &[]).unwrap_err().to_string();
        assert!(err.contains("configs/main.toml is not in ") && err.contains("--config FILE --out DIR"), "{err}");
    }
}
