//! Project automation. Run as `cargo xtask <command>` (alias in `.cargo/config.toml`).

mod bench;
mod fetch;
mod fetch_model;
mod reproduce;

use clap::{Parser, Subcommand};

/// jemalloc, configured for a training loop that frees and re-allocates tensor buffers of the
/// same few sizes at every step. By default jemalloc (and glibc, and mimalloc) hand such pages back
/// to the kernel, or re-zero them with `madvise(MADV_DONTNEED)` for every `calloc`, and the next
/// step page-faults them in again: 15-25% of a training step's CPU time in `clear_page` and TLB
/// shoot-downs, measured with perf and strace. The configuration keeps freed pages
/// (`dirty_decay_ms:-1`, `muzzy_decay_ms:-1`), serves large buffers from the normal arenas
/// (`oversize_threshold:0`; the dedicated huge arena purges at once) and zeroes reused memory with
/// `memset` rather than by purging (`thp:always`, which also backs tensors with transparent huge
/// pages).
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's configuration, read at start-up (see [`GLOBAL`]).
#[unsafe(export_name = "_rjem_malloc_conf")]
pub static MALLOC_CONF: &[u8] = b"dirty_decay_ms:-1,muzzy_decay_ms:-1,oversize_threshold:0,thp:always\0";

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
