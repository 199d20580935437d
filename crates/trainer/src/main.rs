//! `cargo run --release -p trainer` runs the main job; with `--config FILE --out DIR` any run.
//! See [`trainer::cli::TrainArgs`].

use clap::Parser;

polyret_alloc::jemalloc!();

#[derive(Parser)]
#[command(name = "trainer", version, about = "Fine-tune a multilingual encoder with hybrid batches")]
struct Cli {
    #[command(flatten)]
    args: trainer::cli::TrainArgs,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_target(false)
        .with_writer(std::io::stderr)
        .init();
    trainer::cli::run(Cli::parse().args)
}
