//! `cargo xtask bench ingest`: XQuAD + Multi30K ingestion throughput (output rows per second:
//! raw files read, converted and written as zstd Parquet) of `polyret-ingest` against
//! `scripts/bench_ingest.py`, which does the same conversion with pyarrow, in the same run.
//! Each side runs once to warm up and then `--repeats` timed times; the best run counts. The
//! two outputs are then read back and compared row by row, so both must have done the same work.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use polyret_fetch::DataOptions;
use polyret_ingest::{CATALOG_FILE, Catalog, Dataset, PAIRS_FILE, TableData, read_eval_set, read_pairs};

use crate::fetch::workspace_data_dir;

/// The datasets benchmarked.
const DATASETS: [Dataset; 2] = [Dataset::Xquad, Dataset::Multi30k];

#[derive(clap::Args)]
pub struct Args {
    /// Timed runs per system (the best counts), after one warm-up run.
    #[arg(long, default_value_t = 5)]
    repeats: usize,
    /// Python interpreter with pyarrow.
    #[arg(long, env = "POLYRET_PYTHON", default_value = "python3")]
    python: String,
    /// Mirror to copy the raw files from if they are not in DATA_DIR/raw yet (as fetch-data).
    #[arg(long, value_name = "DIR", env = polyret_fetch::data::MIRROR_ENV)]
    mirror: Option<PathBuf>,
    /// Data directory (default: the workspace's data/).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

/// One full conversion by Polyret into `out` — the code path of `fetch-data`: read, convert,
/// write the tables and the catalog; returns the rows written and, per table, its name and
/// whether it holds pairs.
fn polyret_once(raw: &Path, out: &Path) -> anyhow::Result<(u64, Vec<(String, bool)>)> {
    let mut rows = 0;
    let mut tables = Vec::new();
    let mut catalog = Catalog::load_or_new(&out.join(CATALOG_FILE))?;
    for d in DATASETS {
        let ingested = d.ingest(raw)?;
        rows += ingested.total_rows();
        catalog.publish(&ingested, &[], None)?;
        tables.extend(ingested.tables.iter().map(|t| (t.name.clone(), matches!(t.data, TableData::Pairs(_)))));
    }
    Ok((rows, tables))
}

/// Reads every table of both outputs and fails on the first difference.
fn compare_outputs(tables: &[(String, bool)], ours: &Path, theirs: &Path) -> anyhow::Result<()> {
    for (name, is_pairs) in tables {
        let (a, b) = (ours.join(name), theirs.join(name));
        let difference = if *is_pairs {
            first_difference(&read_pairs(&a.join(PAIRS_FILE))?, &read_pairs(&b.join(PAIRS_FILE))?)
        } else {
            let (x, y) = (read_eval_set(&a)?, read_eval_set(&b)?);
            first_difference(&x.queries, &y.queries)
                .or_else(|| first_difference(&x.corpus, &y.corpus))
                .or_else(|| first_difference(&x.qrels, &y.qrels))
        };
        if let Some(diff) = difference {
            bail!("table {name}: Polyret and the pyarrow script differ: {diff}");
        }
    }
    Ok(())
}

fn first_difference<T: PartialEq + std::fmt::Debug>(a: &[T], b: &[T]) -> Option<String> {
    if let Some(i) = a.iter().zip(b).position(|(x, y)| x != y) {
        return Some(format!("row {i}: {:?} vs {:?}", a[i], b[i]));
    }
    (a.len() != b.len()).then(|| format!("{} vs {} rows", a.len(), b.len()))
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if args.repeats == 0 {
        bail!("--repeats must be at least 1");
    }
    let mut opts = DataOptions::new(args.data_dir.clone().unwrap_or_else(workspace_data_dir));
    if args.mirror.is_some() {
        opts.mirror = args.mirror.clone();
    }
    opts.only = DATASETS.iter().map(|d| d.name().to_string()).collect();
    // Makes sure the raw files are in place (and verified); tables there are not touched.
    polyret_fetch::ensure_data(&opts)?;
    let raw = opts.raw_dir();
    let dir = tempfile::tempdir()?;
    let (ours, theirs) = (dir.path().join("polyret"), dir.path().join("pyarrow"));

    let (rows, tables) = polyret_once(&raw, &ours)?; // warm-up
    let mut best = f64::INFINITY;
    for _ in 0..args.repeats {
        let start = Instant::now();
        polyret_once(&raw, &ours)?;
        best = best.min(start.elapsed().as_secs_f64());
    }
    tracing::info!("polyret: {rows} rows, best of {} runs {best:.3} s", args.repeats);

    let report = super::run_reference(
        &args.python,
        "bench_ingest.py",
        &[
            "--raw".into(),
            raw.clone().into(),
            "--out".into(),
            theirs.clone().into(),
            "--repeats".into(),
            args.repeats.to_string().into(),
        ],
    )?;
    let their_rows = report["rows"].as_u64().context("no rows in the pyarrow output")?;
    let their_best = report["seconds"]
        .as_array()
        .context("no seconds in the pyarrow output")?
        .iter()
        .filter_map(|s| s.as_f64())
        .fold(f64::INFINITY, f64::min);
    tracing::info!("pyarrow: {their_rows} rows, best of {} runs {their_best:.3} s", args.repeats);
    if their_rows != rows {
        bail!("Polyret wrote {rows} rows, the pyarrow script {their_rows}");
    }
    compare_outputs(&tables, &ours, &theirs)?;

    let polyret = rows as f64 / best;
    let pyarrow = rows as f64 / their_best;
    println!(
        "XQuAD + Multi30K: {rows} rows in {} tables, identical on both sides; best of {} runs each: polyret {best:.3} s, pyarrow {their_best:.3} s",
        tables.len(),
        args.repeats
    );
    println!("ingest rows/s polyret={polyret:.0} pyarrow={pyarrow:.0} ratio={:.2}", polyret / pyarrow);
    Ok(())
}
