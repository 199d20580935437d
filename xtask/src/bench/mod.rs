//! `cargo xtask bench <what>`: each benchmark measures Polyret and its reference in the same run
//! and ends with one line `<what> <unit> polyret=A <reference>=B ratio=R`.

mod encode;
mod ingest;
mod search;
mod train;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    what: What,
}

#[derive(clap::Subcommand)]
enum What {
    /// XQuAD + Multi30K ingestion throughput vs a pyarrow script.
    Ingest(ingest::Args),
    /// e5-small encoding sentences/s vs HF transformers (PyTorch CPU).
    Encode(encode::Args),
    /// e5-small fine-tuning pairs/s vs a sentence-transformers-style PyTorch step.
    Train(train::Args),
    /// Exact search queries/s vs numpy matrix product + top-k.
    Search(search::Args),
}

/// Runs `scripts/<script>` with `python` and parses the JSON object on its last line of output
/// (every reference script ends that way). Its stderr passes through, so progress stays visible.
pub(crate) fn run_reference(
    python: &str,
    script: &str,
    args: &[std::ffi::OsString],
) -> anyhow::Result<serde_json::Value> {
    use anyhow::Context;
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts").join(script);
    let out = std::process::Command::new(python)
        .arg(&path)
        .args(args)
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("running {python} {}", path.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        anyhow::bail!("{} failed ({}):\n{stdout}", path.display(), out.status);
    }
    serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .with_context(|| format!("parsing the last line of {}: {stdout}", path.display()))
}

pub fn run(args: Args) -> anyhow::Result<()> {
    match args.what {
        What::Ingest(a) => ingest::run(a),
        What::Encode(a) => encode::run(a),
        What::Train(a) => train::run(a),
        What::Search(a) => search::run(a),
    }
}
