//! `cargo run --release -p trainer` runs the main job; with `--config FILE --out DIR` any run.
//! See [`trainer::cli::TrainArgs`].

use clap::Parser;

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
