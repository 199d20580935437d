//! `polyret search`: type a query, see the top passages of a benchmark's corpus with their
//! languages — a quick look at what a model retrieves and how language-biased it is.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::PathBuf;

use polyret_encoder::BackendKind;
use polyret_evaluator::CorpusSearch;

use super::eval::{cache_dir, load_benchmark, load_model};

#[derive(clap::Args)]
pub struct Args {
    /// Model directory.
    #[arg(long)]
    model: PathBuf,
    /// Benchmark whose corpus is searched (names as for `polyret eval`).
    #[arg(long)]
    benchmark: String,
    /// Search this query and exit instead of prompting.
    #[arg(long)]
    query: Option<String>,
    /// Passages to show.
    #[arg(short, long, default_value_t = 10, value_parser = super::at_least_one::<usize>)]
    k: usize,
    /// Search only these corpus languages (comma-separated); as in `eval`, a set with subsets
    /// keeps the subsets wholly in them (`tatoeba --langs de,en` is `deu-eng`).
    #[arg(long, value_delimiter = ',', value_parser = super::language)]
    langs: Vec<String>,
    /// Burn backend for the encoder.
    #[arg(long, default_value_t = BackendKind::Flex)]
    backend: BackendKind,
    /// Number format of the linear layers: f32 (exact, the default), bf16 or int8 (faster on CPU).
    #[arg(long, default_value = "f32")]
    precision: polyret_encoder::Precision,
    /// Parquet root holding catalog.json.
    #[arg(long, default_value = "data/parquet")]
    data: PathBuf,
    /// Embedding cache [default: $POLYRET_CACHE/embeddings, else ~/.cache/polyret/embeddings].
    #[arg(long, conflicts_with = "no_cache")]
    cache: Option<PathBuf>,
    /// Cache nothing.
    #[arg(long)]
    no_cache: bool,
}

/// Shortens a passage to one line of at most `n` characters.
fn clip(text: &str, n: usize) -> String {
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= n {
        one_line
    } else {
        one_line.chars().take(n - 1).chain(std::iter::once('…')).collect()
    }
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let set = load_benchmark(&args.benchmark, &args.data)?;
    let encoder = load_model(&args.model, args.backend, args.precision)?;
    let langs = (!args.langs.is_empty()).then_some(args.langs.as_slice());
    let cache = cache_dir(args.cache, args.no_cache);
    let index = CorpusSearch::build(&encoder, &set, langs, cache.as_deref())?;
    let show = |query: &str| -> anyhow::Result<()> {
        let hits = index.search(&encoder, query, args.k)?;
        let mut by_lang: BTreeMap<&str, usize> = BTreeMap::new();
        for (rank, (hit, doc)) in hits.iter().enumerate() {
            *by_lang.entry(doc.lang.as_str()).or_default() += 1;
            println!("{:>3}. {:.4} [{}] {}  {}", rank + 1, hit.score, doc.lang, doc.docid, clip(&doc.text, 100));
        }
        let langs: Vec<String> = by_lang.iter().map(|(l, n)| format!("{l} {n}")).collect();
        println!("languages in the top {}: {}", hits.len(), langs.join(", "));
        Ok(())
    };
    if let Some(q) = &args.query {
        return show(q);
    }
    println!("{} passages of {}; type a query (empty line or Ctrl-D to quit)", index.len(), set.name);
    let stdin = std::io::stdin();
    loop {
        print!("> ");
        std::io::stdout().flush()?;
        let mut line = String::new();
        if stdin.lock().read_line(&mut line)? == 0 || line.trim().is_empty() {
            return Ok(());
        }
        show(line.trim())?;
    }
}
