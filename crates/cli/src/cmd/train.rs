//! `polyret train`: the trainer's command line (same flags as `cargo run -p trainer`).

pub use trainer::cli::TrainArgs as Args;

pub fn run(args: Args) -> anyhow::Result<()> {
    trainer::cli::run(args)
}
