//! `polyret eval`: zero-shot evaluation of a model on a benchmark (see `docs/evaluation.md`).

use std::path::{Path, PathBuf};

use anyhow::Context;
use polyret_encoder::{BackendKind, Precision, SentenceEncoder};
use polyret_evaluator::{EvalOptions, Setting, TrecExport, default_cache_dir, evaluate};
use polyret_ingest::EvalSet;

#[derive(clap::Args)]
pub struct Args {
    /// Model directory (HF layout: config.json, tokenizer.json, weights).
    #[arg(long)]
    model: PathBuf,
    /// Benchmark: xquad-r (held-out articles), xquad-r-full, mlqa-r, multi30k (=
    /// multi30k-test_2016), multi30k-test_2017…, xflickrco, tatoeba, any evaluation table in the
    /// catalog, or a directory holding queries/corpus/qrels.parquet (or one of those files).
    #[arg(long)]
    benchmark: String,
    /// Output directory (results.json, per_query.tsv, run files, heatmap, summary.md).
    #[arg(long)]
    out: PathBuf,
    /// Burn backend for the encoder.
    #[arg(long, default_value_t = BackendKind::Flex)]
    backend: BackendKind,
    /// Number format of the linear layers: f32 (exact, the default), bf16 (bf16 products with f32
    /// sums; faster on CPUs with AVX512_BF16) or int8 (fastest on CPU). Their cost in mAP is
    /// measured in docs/encoder.md. The embedding cache keeps them apart.
    #[arg(long, default_value = "f32")]
    precision: Precision,
    /// Evaluate only these languages (comma-separated).
    #[arg(long, value_delimiter = ',', value_parser = super::language)]
    pub(super) langs: Vec<String>,
    /// Parquet root holding catalog.json.
    #[arg(long, default_value = "data/parquet")]
    data: PathBuf,
    /// Embedding cache [default: $POLYRET_CACHE/embeddings, else ~/.cache/polyret/embeddings].
    #[arg(long, conflicts_with = "no_cache")]
    cache: Option<PathBuf>,
    /// Embed everything afresh and cache nothing.
    #[arg(long)]
    no_cache: bool,
    /// Documents per exported ranking (trec_eval on the run files reproduces every measure
    /// cut at this depth or above it: map_at_100, ndcg_at_10, recall_at_100, mrr_at_10…).
    #[arg(long, default_value_t = 100, value_parser = super::at_least_one::<usize>)]
    run_depth: usize,
    /// Also extend each exported ranking to its lowest-ranked relevant document, so that
    /// trec_eval reproduces full-ranking map too (runs grow with the model's worst ranks).
    #[arg(long)]
    run_cover: bool,
    /// Which settings get run.trec + qrels.trec: none, multilingual or all (cell runs of large
    /// benchmarks are big).
    #[arg(long, default_value = "multilingual")]
    trec: TrecExport,
    /// Model name in the reports [default: the model directory's name].
    #[arg(long)]
    name: Option<String>,
}

/// Resolves a benchmark name or path to an evaluation set (shared with `polyret search`).
pub(crate) fn load_benchmark(benchmark: &str, data: &Path) -> anyhow::Result<EvalSet> {
    polyret_evaluator::load_benchmark(benchmark, data)
        .with_context(|| format!("loading benchmark {benchmark} (Parquet root --data {})", data.display()))
}

/// Loads a model on a backend, its linear layers in `precision` (shared with `polyret search`).
pub(crate) fn load_model(dir: &Path, backend: BackendKind, precision: Precision) -> anyhow::Result<SentenceEncoder> {
    let encoder =
        SentenceEncoder::load(dir, &backend.device()).with_context(|| format!("loading model {}", dir.display()))?;
    Ok(encoder.with_precision(precision))
}

/// The embedding cache directory the flags ask for.
pub(crate) fn cache_dir(cache: Option<PathBuf>, no_cache: bool) -> Option<PathBuf> {
    if no_cache { None } else { cache.or_else(default_cache_dir) }
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let set = load_benchmark(&args.benchmark, &args.data)?;
    let encoder = load_model(&args.model, args.backend, args.precision)?;
    let name = args.name.unwrap_or_else(|| {
        args.model
            .canonicalize()
            .unwrap_or(args.model.clone())
            .file_name()
            .map_or_else(|| args.model.display().to_string(), |n| n.to_string_lossy().into_owned())
    });
    let opts = EvalOptions {
        model_name: name,
        langs: (!args.langs.is_empty()).then_some(args.langs),
        run_depth: args.run_depth,
        run_cover: args.run_cover,
        trec: args.trec,
        cache_dir: cache_dir(args.cache, args.no_cache),
        ..Default::default()
    };
    tracing::info!(
        "evaluating {} on {} ({} queries, {} documents) with {}",
        opts.model_name,
        set.name,
        set.queries.len(),
        set.corpus.len(),
        args.backend
    );
    let mut evaluation = evaluate(&encoder, &set, &opts)?;
    evaluation.write(&args.out)?;
    let r = &evaluation.report;
    for s in Setting::ALL {
        if let Some(sc) = r.scores.get(&s) {
            println!(
                "{:<13} mAP {:.4}  nDCG@10 {:.4}  R@1 {:.4}  R@10 {:.4}  ({} rankings)",
                s.name(),
                sc.main_score,
                sc.scores.get(polyret_evaluator::Metric::NdcgAt10),
                sc.scores.get(polyret_evaluator::Metric::RecallAt1),
                sc.scores.get(polyret_evaluator::Metric::RecallAt10),
                sc.rankings
            );
        }
    }
    if let Some(d) = r.bias.as_ref().and_then(|b| b.max_rank_distance) {
        println!("max rank distance {d:.1}");
    }
    println!("results in {} ({:.1} s)", args.out.display(), r.evaluation_time.total_s);
    Ok(())
}
