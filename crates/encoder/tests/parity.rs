//! Parity with HF transformers (float32) on the fixtures in `tests/fixtures` (regenerate them
//! with `scripts/make_parity_fixtures.py`), on every backend compiled in.

use std::path::{Path, PathBuf};

use burn::tensor::{Device, Tensor};
use polyret_encoder::{
    BackendKind, BertConfig, BertModel, Mode, ModelInput, Role, SentenceEncoder, TokenBatch, WeightMap, cls, mean_pool,
    read_safetensors,
};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn host<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_into_vec::<f32>().unwrap()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

fn flat(rows: &serde_json::Value) -> Vec<u32> {
    rows.as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r.as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32))
        .collect()
}

/// Loads a tiny HF checkpoint, runs the fixture inputs and compares every output HF saved.
fn check_tiny(name: &str, device: &Device) {
    let dir = fixtures().join(name);
    let config = BertConfig::from_file(&dir.join("config.json")).unwrap();
    let weights_path = dir.join("model.safetensors");
    let weights = WeightMap::new(&weights_path, read_safetensors(&weights_path).unwrap());
    let (model, report) = BertModel::from_weights(&config, weights, device).unwrap();
    assert!(report.unused.is_empty(), "unused: {:?}", report.unused);

    let inputs: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("inputs.json")).unwrap()).unwrap();
    let rows = inputs["input_ids"].as_array().unwrap().len();
    let input_ids = flat(&inputs["input_ids"]);
    let batch = TokenBatch {
        seq_len: input_ids.len() / rows,
        input_ids,
        attention_mask: flat(&inputs["attention_mask"]).into_iter().map(|v| v as u8).collect(),
        token_type_ids: Some(flat(&inputs["token_type_ids"])),
        batch: rows,
    };
    let input = ModelInput::new(&batch, &config, device);
    let hidden = model.forward(&input, Mode::Eval);
    let expected = read_safetensors(&dir.join("expected.safetensors")).unwrap();
    let outputs = [
        ("cls", host(cls(hidden.clone(), &input))),
        ("mean", host(mean_pool(hidden.clone(), &input))),
        ("pooler_output", host(model.pooler_output(hidden.clone(), &input).expect("tiny checkpoints have a pooler"))),
    ];
    for (key, actual) in outputs {
        let diff = max_abs_diff(&actual, &expected[key].data);
        assert!(diff <= 1e-4, "{name} {key} on {device:?}: max abs diff {diff}");
    }
    // Polyret computes on real tokens only; HF's hidden states at padding positions are
    // meaningless (never pooled), so the comparison covers the real tokens.
    let padded = host(input.unpack(hidden));
    let width = config.hidden_size;
    let mask = &batch.attention_mask;
    let mut diff = 0f32;
    for (slot, &m) in mask.iter().enumerate() {
        if m == 1 {
            let a = &padded[slot * width..(slot + 1) * width];
            let b = &expected["last_hidden_state"].data[slot * width..(slot + 1) * width];
            diff = diff.max(max_abs_diff(a, b));
        }
    }
    assert!(diff <= 1e-4, "{name} last_hidden_state on {device:?}: max abs diff {diff}");
}

fn backends() -> Vec<BackendKind> {
    BackendKind::available()
}

#[test]
fn tiny_bert_matches_transformers_on_every_backend() {
    for backend in backends() {
        check_tiny("tiny-bert", &backend.device());
    }
}

#[test]
fn tiny_xlmr_matches_transformers_on_every_backend() {
    for backend in backends() {
        check_tiny("tiny-xlmr", &backend.device());
    }
}

#[test]
fn save_then_load_round_trips_weights_exactly() {
    let dir = fixtures().join("tiny-xlmr");
    let device = BackendKind::Flex.device();
    let config = BertConfig::from_file(&dir.join("config.json")).unwrap();
    let path = dir.join("model.safetensors");
    let original = read_safetensors(&path).unwrap();
    let (model, _) = BertModel::from_weights(&config, WeightMap::new(&path, original.clone()), &device).unwrap();
    let exported = model.to_weights();
    assert_eq!(exported.keys().collect::<Vec<_>>(), original.keys().collect::<Vec<_>>());
    for (name, tensor) in &original {
        assert_eq!(&exported[name], tensor, "{name}");
    }
}

/// The converted multilingual-e5-small (`cargo xtask fetch-model`). Absent → the test is skipped
/// locally with a message, but fails under CI (`CI` set), where fetch-model always runs first.
fn e5_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("POLYRET_E5_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/multilingual-e5-small"));
    if dir.join("model.safetensors").exists() {
        return Some(dir);
    }
    assert!(std::env::var_os("CI").is_none(), "{} is missing: run `cargo xtask fetch-model` first", dir.display());
    eprintln!("skipping: {} not found (run `cargo xtask fetch-model`)", dir.display());
    None
}

#[test]
fn e5_small_token_ids_and_embeddings_match_transformers() {
    let Some(dir) = e5_dir() else { return };
    let cases: Vec<serde_json::Value> = std::fs::read_to_string(fixtures().join("e5-small/cases.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(cases.len(), 57);
    let expected = &read_safetensors(&fixtures().join("e5-small/expected.safetensors")).unwrap()["embeddings"];
    let cpu = BackendKind::available().into_iter().filter(|b| matches!(b, BackendKind::Flex | BackendKind::NdArray));
    for backend in cpu {
        let encoder = SentenceEncoder::load(&dir, &backend.device()).unwrap();
        let mut ids = Vec::new();
        for case in &cases {
            let role = if case["role"] == "query" { Role::Query } else { Role::Passage };
            let got = encoder.tokenize(&[case["text"].as_str().unwrap()], role).unwrap().remove(0);
            let want: Vec<u32> =
                case["input_ids"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect();
            assert_eq!(got, want, "token ids of {:?}", case["text"]);
            ids.push(got);
        }
        let embeddings = encoder.embed_tokens(&ids);
        let dim = encoder.dim();
        for (i, case) in cases.iter().enumerate() {
            let a = &embeddings[i * dim..(i + 1) * dim];
            let b = &expected.data[i * dim..(i + 1) * dim];
            let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
            let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
            let cosine = dot / (norm(a) * norm(b));
            assert!(cosine >= 0.9999, "{backend}: cosine {cosine} for {:?}", case["text"]);
        }
    }
}
