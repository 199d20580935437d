//! The model directories Polyret writes — `cargo xtask fetch-model`'s and a training run's —
//! tokenize in transformers exactly as in Polyret, in transformers 5 and in the last 4.x.
//!
//! Needs the converted multilingual-e5-small (`cargo xtask fetch-model`) and Python
//! interpreters with `transformers` (no torch) listed in `POLYRET_HF_PYTHONS`, separated by `:`
//! (`.ci/run` makes one venv per transformers major version). Without them the test is skipped
//! with a message, and fails under CI (`CI` set).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use polyret_encoder::TextTokenizer;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn required<T>(what: Option<T>, missing: &str) -> Option<T> {
    if what.is_none() {
        assert!(std::env::var_os("CI").is_none(), "{missing}");
        eprintln!("skipping: {missing}");
    }
    what
}

/// Texts that tokenizers disagree on: the fixture texts in every script, with and without the
/// E5 prompts, and the empty, space-only, trailing-space and doubled-space texts.
fn texts() -> Vec<String> {
    let fixture = repo().join("crates/encoder/tests/fixtures/e5-small/cases.jsonl");
    let mut texts: Vec<String> = ["", " ", "  ", "query: ", "passage: ", "a ", "ends with a space ", "two  spaces"]
        .into_iter()
        .chain(["  leading", "tab\tand\nnewline", "query:  Wie viele Punkte? ", "\u{feff}bom "])
        .map(String::from)
        .collect();
    for line in std::fs::read_to_string(&fixture).unwrap().lines() {
        let case: serde_json::Value = serde_json::from_str(line).unwrap();
        let text = case["text"].as_str().unwrap();
        let prompt = if case["role"] == "query" { "query: " } else { "passage: " };
        texts.extend([text.to_string(), format!("{prompt}{text}"), format!("{text} ")]);
    }
    texts
}

/// A one-step training run on the e5 model (top layer only, to stay cheap), written as a user's.
fn train_briefly(e5: &Path, dir: &Path) -> PathBuf {
    let data = common::pairs(dir);
    let config = dir.join("config.toml");
    let text = format!(
        "seed = 3\n[model]\nname = \"{}\"\nmax_query_tokens = 16\nmax_passage_tokens = 16\n\
         [data]\nsources = [\"{}\"]\nvalidation_pairs = 0\n[sampler]\nstrategy = \"hybrid\"\nalpha = 0.5\n\
         batch_size = 4\n[training]\nsteps = 1\nfreeze_embeddings = true\nfreeze_layers = 11\n\
         cache_frozen = false\ncheckpoint_every = 1\n",
        e5.display(),
        data.display()
    );
    std::fs::write(&config, text).unwrap();
    let run = dir.join("run");
    let output = Command::new(env!("CARGO_BIN_EXE_trainer"))
        .args(["--config".as_ref(), config.as_os_str(), "--out".as_ref(), run.as_os_str()])
        .output()
        .unwrap();
    assert!(output.status.success(), "trainer failed:\n{}", String::from_utf8_lossy(&output.stderr));
    run.join("model")
}

#[test]
fn exported_models_tokenize_in_transformers_as_in_polyret() {
    let e5 = repo().join("models/multilingual-e5-small");
    let Some(e5) = required(
        e5.join("model.safetensors").exists().then_some(e5),
        "models/multilingual-e5-small is missing: run `cargo xtask fetch-model` first",
    ) else {
        return;
    };
    let pythons = std::env::var("POLYRET_HF_PYTHONS").ok().filter(|p| !p.is_empty());
    let Some(pythons) = required(pythons, "POLYRET_HF_PYTHONS is not set (Pythons with transformers, `:`-separated)")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let trained = train_briefly(&e5, dir.path());
    let texts = texts();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    for model in [&e5, &trained] {
        let tokenizer = TextTokenizer::from_file(&model.join("tokenizer.json"), 512, 1).unwrap();
        let ids = tokenizer.encode(&refs).unwrap();
        let expected = dir.path().join("expected.jsonl");
        let lines: Vec<String> = texts
            .iter()
            .zip(&ids)
            .map(|(text, ids)| serde_json::json!({"text": text, "input_ids": ids}).to_string())
            .collect();
        std::fs::write(&expected, lines.join("\n")).unwrap();
        for python in pythons.split(':') {
            let output = Command::new(python)
                .arg(repo().join("scripts/check_hf_tokenizer.py"))
                .arg("--expected")
                .arg(&expected)
                .arg("--model")
                .arg(model)
                .output()
                .unwrap_or_else(|e| panic!("{python}: {e}"));
            let report = String::from_utf8_lossy(&output.stdout);
            eprintln!("{report}");
            assert!(
                output.status.success(),
                "{python} tokenizes {} differently from Polyret:\n{report}{}",
                model.display(),
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
}
