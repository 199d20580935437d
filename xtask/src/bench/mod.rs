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

pub fn run(args: Args) -> anyhow::Result<()> {
    match args.what {
        What::Ingest(a) => ingest::run(a),
        What::Encode(a) => encode::run(a),
        What::Train(a) => train::run(a),
        What::Search(a) => search::run(a),
    }
}
