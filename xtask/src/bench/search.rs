//! `cargo xtask bench search`: exact search throughput (queries/s) of Polyret's `ExactIndex`
//! against numpy doing the same matrix product + sorted top-k (`scripts/bench_search.py`), on
//! the same random unit vectors, in the same run. Both report the best of `--repeats` timed
//! runs after one warm-up; the two top-k lists are compared to make sure both did the work.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, bail};
use polyret_evaluator::ExactIndex;

#[derive(clap::Args)]
pub struct Args {
    /// Documents in the corpus.
    #[arg(long, default_value_t = 15_000)]
    docs: usize,
    /// Queries searched per timed run.
    #[arg(long, default_value_t = 2_000)]
    queries: usize,
    /// Embedding dimension (multilingual-e5-small: 384).
    #[arg(long, default_value_t = 384)]
    dim: usize,
    /// Results per query.
    #[arg(long, default_value_t = 100)]
    k: usize,
    /// Timed runs per system (the best counts).
    #[arg(long, default_value_t = 5)]
    repeats: usize,
    /// Python interpreter with numpy.
    #[arg(long, env = "POLYRET_PYTHON", default_value = "python3")]
    python: String,
}

/// Deterministic unit vectors (SplitMix64 → approximately Gaussian coordinates, normalised),
/// shaped like sentence embeddings.
fn unit_vectors(n: usize, dim: usize, seed: u64) -> Vec<f32> {
    let mut state = seed;
    let mut next = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 40) as f32 / (1u64 << 24) as f32
    };
    let mut out = Vec::with_capacity(n * dim);
    for _ in 0..n {
        // Sum of four uniforms: close enough to Gaussian for a direction.
        let row: Vec<f32> = (0..dim).map(|_| next() + next() + next() + next() - 2.0).collect();
        let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
        out.extend(row.iter().map(|x| x / norm));
    }
    out
}

fn write_f32(path: &Path, values: &[f32]) -> anyhow::Result<()> {
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if args.k == 0 || args.k > args.docs || args.repeats == 0 || args.queries == 0 {
        bail!("need 0 < k <= docs, queries > 0 and repeats > 0");
    }
    let dir = tempfile::tempdir()?;
    let docs = unit_vectors(args.docs, args.dim, 1);
    let queries = unit_vectors(args.queries, args.dim, 2);
    write_f32(&dir.path().join("docs.f32"), &docs)?;
    write_f32(&dir.path().join("queries.f32"), &queries)?;

    let index = ExactIndex::new(docs, args.dim)?;
    let mut ours = index.search(&queries, args.k)?; // warm-up
    let mut best = f64::INFINITY;
    for _ in 0..args.repeats {
        let start = Instant::now();
        ours = index.search(&queries, args.k)?;
        best = best.min(start.elapsed().as_secs_f64());
    }
    let polyret = args.queries as f64 / best;
    tracing::info!("polyret: best of {} runs {:.3} s", args.repeats, best);

    let report = super::run_reference(
        &args.python,
        "bench_search.py",
        &[
            "--dir".into(),
            dir.path().into(),
            "--docs".into(),
            args.docs.to_string().into(),
            "--queries".into(),
            args.queries.to_string().into(),
            "--dim".into(),
            args.dim.to_string().into(),
            "--k".into(),
            args.k.to_string().into(),
            "--repeats".into(),
            args.repeats.to_string().into(),
        ],
    )?;
    let numpy = report["queries_per_s"].as_f64().context("no queries_per_s in the numpy output")?;
    tracing::info!("numpy {}: {}", report["numpy"], report["seconds"]);

    // Both must have found the same documents (top-1 may differ only on float near-ties).
    let theirs: Vec<i64> = std::fs::read(dir.path().join("numpy_top.i64"))?
        .chunks_exact(8)
        .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")))
        .collect();
    let agree = ours.iter().enumerate().filter(|(q, hits)| hits[0].doc as i64 == theirs[q * args.k]).count();
    let share = agree as f64 / args.queries as f64;
    if share < 0.99 {
        bail!("Polyret and numpy disagree on the top document of {} of {} queries", args.queries - agree, args.queries);
    }
    println!(
        "{} docs x {} dim, {} queries, top {}: same top-1 for {:.2}% of queries; best of {} runs each",
        args.docs,
        args.dim,
        args.queries,
        args.k,
        share * 100.0,
        args.repeats
    );
    println!("search queries/s polyret={polyret:.0} numpy={numpy:.0} ratio={:.2}", polyret / numpy);
    Ok(())
}
