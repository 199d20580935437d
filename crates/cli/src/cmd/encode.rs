//! `polyret encode`: embed the texts of a JSONL file into a Parquet table.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};
use polyret_encoder::{BackendKind, Role, SentenceEncoder};
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
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.input).with_context(|| format!("reading {}", args.input.display()))?;
    let mut texts = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let at = || format!("{}:{}", args.input.display(), i + 1);
        let value: serde_json::Value =
            serde_json::from_str(line).with_context(|| format!("{}: malformed JSON", at()))?;
        let Some(body) = value.get("text").and_then(|t| t.as_str()) else {
            bail!("{}: no string field \"text\"", at());
        };
        let role = match value.get("role").and_then(|r| r.as_str()).unwrap_or("passage") {
            "query" => "query",
            "passage" => "passage",
            other => bail!("{}: role {other:?} is neither \"query\" nor \"passage\"", at()),
        };
        texts.push(EmbeddedText { line: i as u64, role: role.into(), text: body.into() });
    }
    if texts.is_empty() {
        bail!("{}: no texts", args.input.display());
    }
    let encoder = SentenceEncoder::load(&args.model, &args.backend.device())?;
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
