//! `cargo xtask bench encode`: sentences/s of multilingual-e5-small on XQuAD passages, Polyret on
//! each CPU backend vs HF transformers through sentence-transformers (PyTorch CPU), same texts,
//! same machine, same run. Model loading is not timed on either side.

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};
use polyret_encoder::{BackendKind, Role, SentenceEncoder};
use polyret_fetch::{DataOptions, ModelOptions};

#[derive(clap::Args)]
pub struct Args {
    /// How many XQuAD-R passages (answer-candidate sentences, all 11 languages, evenly spaced).
    #[arg(long, default_value_t = 1000)]
    texts: usize,
    /// Model to benchmark.
    #[arg(long, default_value = polyret_fetch::DEFAULT_MODEL)]
    model: String,
    /// CPU backends to measure (the first is the one reported in the last line).
    #[arg(long, value_delimiter = ',', default_value = "flex,ndarray")]
    backends: Vec<BackendKind>,
    /// Python with torch and sentence-transformers for the reference.
    #[arg(long, env = "POLYRET_PYTHON", default_value = "python3")]
    python: String,
    /// Data directory (fetched from `POLYRET_DATA_MIRROR` or upstream if missing).
    #[arg(long, default_value = "data")]
    data: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let model_dir = polyret_fetch::ensure_model(&ModelOptions::new(&args.model))?;
    let mut data = DataOptions::new(&args.data);
    data.only = vec!["xquad-r-full".into()];
    let catalog = polyret_fetch::ensure_data(&data)?;
    let corpus = catalog.read_eval_set("xquad-r-full")?.corpus;
    if corpus.len() < args.texts || args.texts == 0 {
        bail!("asked for {} texts, XQuAD-R has {}", args.texts, corpus.len());
    }
    let step = corpus.len() / args.texts;
    let texts: Vec<&str> = corpus.iter().step_by(step).take(args.texts).map(|d| d.text.as_str()).collect();
    let dir = tempfile::tempdir()?;
    let input = dir.path().join("texts.jsonl");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&input)?);
    for text in &texts {
        writeln!(file, "{}", serde_json::json!({"text": text, "role": "passage"}))?;
    }
    file.flush()?;

    let mut rates = Vec::new();
    let mut reference_embeddings = None;
    for backend in &args.backends {
        let encoder = SentenceEncoder::load(&model_dir, &backend.device())?;
        encoder.embed(&texts[..8.min(texts.len())], Role::Passage)?; // warm-up
        let start = Instant::now();
        let embeddings = encoder.embed(&texts, Role::Passage)?;
        let rate = texts.len() as f64 / start.elapsed().as_secs_f64();
        println!("polyret {backend}: {rate:.1} sentences/s");
        rates.push(rate);
        reference_embeddings.get_or_insert(embeddings);
    }
    let ours = dir.path().join("polyret.f32");
    let bytes: Vec<u8> = reference_embeddings.iter().flatten().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(&ours, bytes)?;

    let report = super::run_reference(
        &args.python,
        "bench_encode_pytorch.py",
        &[
            "--model".into(),
            model_dir.clone().into(),
            "--input".into(),
            input.clone().into(),
            OsString::from("--check"),
            ours.into(),
        ],
    )?;
    let pytorch = report["sentences_per_s"].as_f64().context("no sentences_per_s in the reference output")?;
    let cosine = report["min_cosine"].as_f64().context("no min_cosine in the reference output")?;
    println!("pytorch (sentence-transformers, {} threads): {pytorch:.1} sentences/s", report["threads"]);
    println!("embeddings agree: min cosine {cosine:.6} over {} texts", texts.len());
    if cosine < 0.9999 {
        bail!("Polyret's and PyTorch's embeddings differ (min cosine {cosine})");
    }
    println!("encode sentences/s polyret={:.1} pytorch={pytorch:.1} ratio={:.2}", rates[0], rates[0] / pytorch);
    Ok(())
}
