//! Project automation. Run as `cargo xtask <command>` (alias in `.cargo/config.toml`).

mod bench;
mod fetch;
mod fetch_model;
mod reproduce;

use clap::{Parser, Subcommand};

polyret_alloc::jemalloc!();

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Polyret project automation")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Download the benchmark data (or copy it from a mirror), verify it, ingest it into Parquet.
    FetchData(fetch::DataArgs),
    /// Download a pretrained model and convert it into `models/NAME/` (HF layout).
    FetchModel(fetch_model::Args),
    /// Benchmarks that compare Polyret with a reference measured in the same run.
    Bench(bench::Args),
    /// Train and evaluate the hybrid-vs-standard batching study; writes `results/REPORT.md`.
    Reproduce(reproduce::Args),
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
    match Cli::parse().command {
        Command::FetchData(args) => fetch::run_data(args),
        Command::FetchModel(args) => fetch_model::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Reproduce(args) => reproduce::run(args),
    }
}
