//! `polyret`: the command-line interface. Each subcommand is a thin layer over one crate;
//! the work itself lives in the libraries.

mod cmd;

use clap::{Parser, Subcommand};

polyret_alloc::jemalloc!();

/// Multilingual dense retrieval: ingest data, sample hybrid batches, fine-tune and evaluate.
#[derive(Parser)]
#[command(name = "polyret", version, about, propagate_version = true)]
struct Cli {
    /// More log output (-v debug, -vv trace); `RUST_LOG` overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Download (or copy from a mirror) the benchmark data, verify checksums and ingest it.
    FetchData(cmd::fetch::DataArgs),
    /// Download a pretrained model and convert it to HF layout under `models/`.
    FetchModel(cmd::fetch_model::Args),
    /// Convert a dataset into Parquet tables (XQuAD, Multi30K, JSONL pairs, parallel text files…).
    Ingest(cmd::ingest::Args),
    /// Write the batches a sampling strategy would produce, one JSON line per batch.
    Sample(cmd::sample::Args),
    /// Fine-tune an encoder with a TOML config (same as `cargo run -p trainer`).
    Train(cmd::train::Args),
    /// Embed texts from a JSONL file into a Parquet table.
    Encode(cmd::encode::Args),
    /// Zero-shot evaluation of a model on a benchmark: settings matrix, metrics, bias.
    Eval(cmd::eval::Args),
    /// Compare evaluation results side by side, with paired randomization tests.
    Compare(cmd::compare::Args),
    /// Type queries, see the top passages with their languages.
    Search(cmd::search::Args),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_tracing(cli.verbose);
    match cli.command {
        Command::FetchData(args) => cmd::fetch::run_data(args),
        Command::FetchModel(args) => cmd::fetch_model::run(args),
        Command::Ingest(args) => cmd::ingest::run(args),
        Command::Sample(args) => cmd::sample::run(args),
        Command::Train(args) => cmd::train::run(args),
        Command::Encode(args) => cmd::encode::run(args),
        Command::Eval(args) => cmd::eval::run(args),
        Command::Compare(args) => cmd::compare::run(args),
        Command::Search(args) => cmd::search::run(args),
    }
}

fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt().with_env_filter(filter).with_target(false).with_writer(std::io::stderr).init();
}
