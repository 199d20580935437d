//! `cargo run --release -p trainer` runs the main job; with `--config FILE --out DIR` any run.
//! See [`trainer::cli::TrainArgs`].

use clap::Parser;

/// jemalloc, told never to return freed pages to the kernel: tensor buffers of the same sizes are
/// freed and allocated again at every step, and the system allocator (or mimalloc's default
/// purging) hands them back and page-faults them in again — up to a quarter of a training step's
/// CPU time in `clear_page`, measured with perf.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's configuration, read at start-up: keep dirty and muzzy pages.
#[unsafe(export_name = "_rjem_malloc_conf")]
pub static MALLOC_CONF: &[u8] = b"dirty_decay_ms:-1,muzzy_decay_ms:-1\0";

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
