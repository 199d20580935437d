//! `polyret compare`: evaluation results side by side, with paired randomization tests.

use std::path::PathBuf;

use polyret_evaluator::Metric;
use polyret_evaluator::compare::{LoadedResults, compare};

#[derive(clap::Args)]
pub struct Args {
    /// Results directories written by `polyret eval` (the first is the baseline).
    #[arg(required = true, num_args = 1..)]
    results: Vec<PathBuf>,
    /// Measures to compare (comma-separated keys, e.g. map,ndcg_at_10,recall_at_10).
    #[arg(long, value_delimiter = ',', default_value = "map,ndcg_at_10,recall_at_10", value_parser = parse_metric)]
    metrics: Vec<Metric>,
    /// Random sign flips per test.
    #[arg(long, default_value_t = 10_000, value_parser = super::at_least_one::<usize>)]
    permutations: usize,
    /// Seed of the sign flips.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

fn parse_metric(s: &str) -> Result<Metric, String> {
    Metric::from_key(s).ok_or_else(|| {
        let keys: Vec<&str> = Metric::ALL.iter().map(|m| m.key()).collect();
        format!("unknown metric {s:?} (one of {})", keys.join(", "))
    })
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let results = args.results.iter().map(|d| LoadedResults::read(d)).collect::<Result<Vec<_>, _>>()?;
    let table = compare(&results, &args.metrics, args.permutations, args.seed)?;
    println!("{table}");
    Ok(())
}
