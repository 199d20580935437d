//! `polyret encode`: embed the texts of a JSONL file into a Parquet table.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use polyret_encoder::{BackendKind, Precision, Role, SentenceEncoder};
use polyret_ingest::EmbeddedText;

/// Embed texts: input lines `{"text": …, "role": "query"|"passage"}` (role defaults to
/// passage); output one row per line, in order, with an `embedding` list<float32> column.
#[derive(clap::Args)]
pub struct Args {
    /// Model directory (HF + sentence-transformers layout, e.g. `models/multilingual-e5-small`).
    #[arg(long)]
    model: PathBuf,
    /// JSONL input.
    #[arg(long)]
    input: PathBuf,
    /// Parquet output (written atomically).
    #[arg(long)]
    out: PathBuf,
    /// Burn backend: flex, ndarray or wgpu.
    #[arg(long, default_value = "flex")]
    backend: BackendKind,
    /// Number format of the linear layers: f32 (exact, the default), bf16 (bf16 products with f32
    /// sums; faster on CPUs with AVX512_BF16) or int8 (fastest on CPU). Their cost in retrieval
    /// quality is measured in docs/encoder.md.
    #[arg(long, default_value = "f32")]
    precision: Precision,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    refuse_overwriting(&args.input, &args.out)?;
    let texts = read_texts(&args.input)?;
    let encoder = SentenceEncoder::load(&args.model, &args.backend.device())?.with_precision(args.precision);
    let dim = encoder.dim();
    let started = Instant::now();
    let mut embeddings = vec![0f32; texts.len() * dim];
    for (role, name) in [(Role::Query, "query"), (Role::Passage, "passage")] {
        let rows: Vec<usize> = (0..texts.len()).filter(|&i| texts[i].role == name).collect();
        let batch: Vec<&str> = rows.iter().map(|&i| texts[i].text.as_str()).collect();
        if batch.is_empty() {
            continue;
        }
        let vectors = encoder.embed(&batch, role)?;
        for (j, &i) in rows.iter().enumerate() {
            embeddings[i * dim..(i + 1) * dim].copy_from_slice(&vectors[j * dim..(j + 1) * dim]);
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    polyret_ingest::write_embeddings(&args.out, &texts, &embeddings, dim)?;
    eprintln!(
        "{} texts in {seconds:.1} s ({:.1}/s) on {} → {}",
        texts.len(),
        texts.len() as f64 / seconds,
        args.backend,
        args.out.display()
    );
    Ok(())
}

/// An output that is the input (by canonical path, so `./f` and `d/../f` count) would be
/// replaced before anyone noticed.
fn refuse_overwriting(input: &Path, out: &Path) -> anyhow::Result<()> {
    let canonical = |p: &Path| p.canonicalize().with_context(|| format!("reading {}", p.display()));
    if out.exists() && canonical(out)? == canonical(input)? {
        bail!("--out {} is the input file; choose another output", out.display());
    }
    Ok(())
}

/// The input lines (blank ones skipped; a byte-order mark and `.gz` handled as `ingest` does),
/// checked before any model is loaded: errors name the file and line.
fn read_texts(input: &Path) -> anyhow::Result<Vec<EmbeddedText>> {
    let text = polyret_ingest::read_text(input)?;
    let mut texts = Vec::new();
    for (line, raw) in polyret_ingest::numbered_lines(&text).filter(|(_, l)| !l.trim().is_empty()) {
        let at = || format!("{}:{line}", input.display());
        let value: serde_json::Value =
            serde_json::from_str(raw).with_context(|| format!("{}: malformed JSON", at()))?;
        let Some(body) = value.get("text").and_then(|t| t.as_str()) else {
            bail!("{}: no string field \"text\"", at());
        };
        if body.trim().is_empty() {
            bail!("{}: \"text\" is empty", at());
        }
        let role = match value.get("role").and_then(|r| r.as_str()).unwrap_or("passage") {
            "query" => "query",
            "passage" => "passage",
            other => bail!("{}: role {other:?} is neither \"query\" nor \"passage\"", at()),
        };
        texts.push(EmbeddedText { line: line as u64 - 1, role: role.into(), text: body.into() });
    }
    if texts.is_empty() {
        bail!("{}: no texts", input.display());
    }
    Ok(texts)
}
