//! `cargo xtask bench encode`: sentences/s of multilingual-e5-small on XQuAD passages, Polyret on
//! each CPU backend (f32) and in int8 and bf16, against the references a demanding user reaches
//! for: sentence-transformers in f32 and under PyTorch's bf16 autocast, ONNX Runtime in f32 and
//! after `quantize_dynamic` int8 (same texts, same machine, same run). One ratio line gives
//! Polyret's fastest against the fastest reference, then one per reduced precision against ONNX
//! Runtime int8 (the precisions differ in their cost in mAP: `docs/encoder.md`). Achieved GFLOP/s
//! and their share of the matmul peak measured in the same run are printed too. Model loading is
//! not timed on either side.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use polyret_encoder::kernels::{Int8Weights, MatRef, matmul_bf16};
use polyret_encoder::{BackendKind, Precision, Role, SentenceEncoder};
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
    /// Precisions to measure Polyret in (f32 on every backend, the others on the first).
    #[arg(long, value_delimiter = ',', default_value = "f32,int8,bf16")]
    precisions: Vec<Precision>,
    /// Skip the PyTorch bf16-autocast reference (minutes on CPUs without AVX512_BF16, where
    /// it is the slowest of all).
    #[arg(long)]
    quick: bool,
    /// Where the ONNX export and its int8 quantization are kept between runs.
    #[arg(long, default_value = "runs/bench-encode/onnx")]
    onnx_dir: PathBuf,
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

    let lengths: Vec<usize> = {
        let encoder = SentenceEncoder::load(&model_dir, &BackendKind::Flex.device())?;
        encoder.tokenize(&texts, Role::Passage)?.iter().map(Vec::len).collect()
    };
    let flop = encoding_flop(&model_dir, &lengths)?;

    // Polyret: every backend in f32, then Flex in each reduced precision.
    let mut runs: Vec<PolyretRun> = Vec::new();
    let mut plan: Vec<(BackendKind, Precision)> = args.backends.iter().map(|&b| (b, Precision::F32)).collect();
    plan.extend(args.precisions.iter().filter(|p| !p.is_f32()).map(|&p| (args.backends[0], p)));
    for (backend, precision) in plan {
        let encoder = SentenceEncoder::load(&model_dir, &backend.device())?.with_precision(precision);
        encoder.embed(&texts[..8.min(texts.len())], Role::Passage)?; // warm-up
        let start = Instant::now();
        let embeddings = encoder.embed(&texts, Role::Passage)?;
        let seconds = start.elapsed().as_secs_f64();
        let name = format!("polyret {backend} {precision}");
        println!("{name}: {:.1} sentences/s, {:.1} GFLOP/s", texts.len() as f64 / seconds, flop / seconds / 1e9);
        runs.push(PolyretRun { name, precision, rate: texts.len() as f64 / seconds, embeddings });
    }
    let exact = &runs[0].embeddings;
    let dim = exact.len() / texts.len();
    for run in &runs[1..] {
        let (min, mean) = cosines(&run.embeddings, exact, dim);
        println!("{}: cosine to polyret f32 min {min:.5} mean {mean:.5}", run.name);
    }
    let ours = dir.path().join("polyret.f32");
    let bytes: Vec<u8> = exact.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(&ours, bytes)?;
    let (f32_peak, bf16_peak, int8_peak) = matmul_peaks();
    println!(
        "matmul peak on this machine (2048×384 · 384×1536): f32 (Burn Flex) {f32_peak:.1} GFLOP/s, bf16 kernel \
         {bf16_peak:.1} GFLOP/s (mixed precision), int8 kernel {int8_peak:.1} GFLOP/s"
    );
    for run in &runs {
        let achieved = run.rate * flop / texts.len() as f64 / 1e9;
        let peak = match run.precision {
            Precision::F32 => f32_peak,
            Precision::Bf16 => bf16_peak,
            Precision::Int8 => int8_peak,
        };
        println!("{}: {achieved:.1} GFLOP/s = {:.0}% of the matching matmul peak", run.name, 100.0 * achieved / peak);
    }

    // References: sentence-transformers f32 and bf16 autocast, ONNX Runtime f32 and int8.
    let reference_args = |extra: &[&str]| -> Vec<OsString> {
        let mut argv: Vec<OsString> = vec![
            "--model".into(),
            model_dir.clone().into(),
            "--input".into(),
            input.clone().into(),
            "--check".into(),
            ours.clone().into(),
        ];
        argv.extend(extra.iter().map(OsString::from));
        argv
    };
    let mut references: Vec<(String, f64)> = Vec::new();
    let pytorch = super::run_reference(&args.python, "bench_encode_pytorch.py", &reference_args(&[]))?;
    let cosine = pytorch["min_cosine"].as_f64().context("no min_cosine in the reference output")?;
    let rate = pytorch["sentences_per_s"].as_f64().context("no sentences_per_s in the reference output")?;
    println!("pytorch (sentence-transformers f32, {} threads): {rate:.1} sentences/s", pytorch["threads"]);
    println!("embeddings agree: min cosine {cosine:.6} over {} texts", texts.len());
    if cosine < 0.9999 {
        bail!("Polyret's and PyTorch's embeddings differ (min cosine {cosine})");
    }
    references.push(("pytorch f32".into(), rate));
    if !args.quick {
        let bf16 =
            super::run_reference(&args.python, "bench_encode_pytorch.py", &reference_args(&["--autocast-bf16"]))?;
        let rate = bf16["sentences_per_s"].as_f64().context("no sentences_per_s in the reference output")?;
        println!("pytorch bf16 autocast: {rate:.1} sentences/s, min cosine to polyret f32 {:.5}", bf16["min_cosine"]);
        references.push(("pytorch bf16 autocast".into(), rate));
    }
    let onnx = super::run_reference(
        &args.python,
        "bench_encode_onnx.py",
        &reference_args(&["--work", &args.onnx_dir.to_string_lossy()]),
    )?;
    for variant in ["f32", "int8"] {
        let v = &onnx[variant];
        let rate = v["sentences_per_s"].as_f64().context("no sentences_per_s in the ONNX reference output")?;
        println!(
            "onnxruntime {variant}: {rate:.1} sentences/s, cosine to polyret f32 min {:.5} mean {:.5}",
            v["min_cosine"], v["mean_cosine"]
        );
        references.push((format!("onnxruntime {variant}"), rate));
    }
    let (best_name, best) = references.iter().cloned().fold((String::new(), 0.0), |a, b| if b.1 > a.1 { b } else { a });
    let fastest = runs.iter().fold(&runs[0], |a, b| if b.rate > a.rate { b } else { a });
    let (ours_name, ours_rate) = (&fastest.name, fastest.rate);
    println!(
        "encode sentences/s polyret={ours_rate:.1} ({ours_name}) best_reference={best:.1} ({best_name}) ratio={:.2}",
        ours_rate / best
    );
    if let Some((_, onnx_int8)) = references.iter().find(|r| r.0 == "onnxruntime int8") {
        for run in runs.iter().filter(|r| !r.precision.is_f32()) {
            println!(
                "encode sentences/s polyret={:.1} ({}) onnxruntime_int8={onnx_int8:.1} ratio={:.2}",
                run.rate,
                run.name,
                run.rate / onnx_int8
            );
        }
    }
    Ok(())
}

/// One measured Polyret configuration.
struct PolyretRun {
    /// `polyret <backend> <precision>`, as printed.
    name: String,
    precision: Precision,
    /// Sentences per second.
    rate: f64,
    /// The embeddings, for the cosine to f32.
    embeddings: Vec<f32>,
}

/// FLOPs to encode sequences of these lengths: two per multiply-add of every layer's linears,
/// plus attention's two products (`QKᵀ`, `PV`) over the real tokens.
fn encoding_flop(model_dir: &Path, lengths: &[usize]) -> anyhow::Result<f64> {
    let config: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(model_dir.join("config.json"))?)?;
    let get = |k: &str| config[k].as_f64().with_context(|| format!("{k} missing from config.json"));
    let (h, ff, layers) = (get("hidden_size")?, get("intermediate_size")?, get("num_hidden_layers")?);
    let per_token = 2.0 * layers * (4.0 * h * h + 2.0 * h * ff);
    Ok(lengths.iter().map(|&l| per_token * l as f64 + layers * 4.0 * h * (l * l) as f64).sum())
}

/// `(min, mean)` cosine between matching rows.
fn cosines(a: &[f32], b: &[f32], dim: usize) -> (f64, f64) {
    let cos: Vec<f64> = a
        .chunks_exact(dim)
        .zip(b.chunks_exact(dim))
        .map(|(x, y)| {
            let dot: f64 = x.iter().zip(y).map(|(p, q)| f64::from(*p) * f64::from(*q)).sum();
            let norm = |v: &[f32]| v.iter().map(|p| f64::from(*p).powi(2)).sum::<f64>().sqrt();
            dot / (norm(x) * norm(y))
        })
        .collect();
    (cos.iter().cloned().fold(1.0, f64::min), cos.iter().sum::<f64>() / cos.len() as f64)
}

/// GFLOP/s of the f32 matmul (Burn Flex), of the bf16 kernel and of the int8 kernel on the shape
/// of e5-small's FFN up-projection over 2 048 tokens: the "peak" the encode figures are a share
/// of (bf16 is what `training.precision = "bf16"` can gain at most per product).
fn matmul_peaks() -> (f64, f64, f64) {
    use burn::tensor::{Tensor, TensorData};
    let (m, k, n) = (2048, 384, 1536);
    let a: Vec<f32> = (0..m * k).map(|i| ((i * 7919 % 1000) as f32 / 500.0) - 1.0).collect();
    let b: Vec<f32> = (0..k * n).map(|i| ((i * 104_729 % 1000) as f32 / 500.0) - 1.0).collect();
    let best_of = |f: &mut dyn FnMut()| {
        f();
        (0..5)
            .map(|_| {
                let start = Instant::now();
                f();
                start.elapsed().as_secs_f64()
            })
            .fold(f64::INFINITY, f64::min)
    };
    let device = BackendKind::Flex.device();
    let ta = Tensor::<2>::from_data(TensorData::new(a.clone(), [m, k]), &device);
    let tb = Tensor::<2>::from_data(TensorData::new(b.clone(), [k, n]), &device);
    let f32_seconds = best_of(&mut || drop(ta.clone().matmul(tb.clone()).into_data()));
    let weights = Int8Weights::quantize(&b, k, n);
    let mut out = vec![0f32; m * n];
    let int8_seconds = best_of(&mut || weights.linear(&a, None, &mut out));
    let bf16_seconds = best_of(&mut || matmul_bf16(MatRef::row_major(&a, m, k), MatRef::row_major(&b, k, n), &mut out));
    let flop = 2.0 * (m * k * n) as f64;
    (flop / f32_seconds / 1e9, flop / bf16_seconds / 1e9, flop / int8_seconds / 1e9)
}
