//! `polyret encode`: one row per input line, in order, with the model's embeddings; bad input
//! named by file and line before any model is loaded.

use std::path::{Path, PathBuf};
use std::process::Command;

fn polyret() -> Command {
    Command::new(env!("CARGO_BIN_EXE_polyret"))
}

fn e5_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/multilingual-e5-small");
    if dir.join("model.safetensors").exists() {
        return Some(dir);
    }
    assert!(std::env::var_os("CI").is_none(), "{} is missing: run `cargo xtask fetch-model` first", dir.display());
    eprintln!("skipping: {} not found", dir.display());
    None
}

#[test]
fn encodes_every_line_in_order_like_the_library() {
    let Some(model) = e5_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("texts.jsonl");
    let texts = [
        ("Wie viele Punkte gab die Verteidigung ab?", "query"),
        ("Die Verteidigung gab 308 Punkte ab.", "passage"),
        ("防守放弃了多少分？", "query"),
    ];
    let body: String =
        texts.iter().map(|(t, r)| serde_json::json!({"text": t, "role": r}).to_string() + "\n").collect();
    std::fs::write(&input, body).unwrap();
    let out = dir.path().join("emb.parquet");
    let status = polyret()
        .args([
            "encode",
            "--model",
            model.to_str().unwrap(),
            "--input",
            input.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .status()
        .unwrap();
    assert!(status.success());
    let (rows, values, dim) = polyret_ingest::read_embeddings(&out).unwrap();
    assert_eq!(rows.iter().map(|r| r.text.as_str()).collect::<Vec<_>>(), texts.map(|t| t.0));
    assert_eq!(rows.iter().map(|r| r.role.as_str()).collect::<Vec<_>>(), texts.map(|t| t.1));
    let encoder = polyret_encoder::SentenceEncoder::load(&model, &polyret_encoder::BackendKind::Flex.device()).unwrap();
    let expected = encoder.embed(&[texts[0].0, texts[2].0], polyret_encoder::Role::Query).unwrap();
    assert_eq!(dim, encoder.dim());
    let close = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-5);
    assert!(close(&values[..dim], &expected[..dim]));
    assert!(close(&values[2 * dim..], &expected[dim..]));
}

#[test]
fn malformed_input_is_named_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("bad.jsonl");
    std::fs::write(&input, "{\"text\": \"fine\"}\n{\"text\": \"no role\", \"role\": \"document\"}\n").unwrap();
    let output = polyret()
        .args(["encode", "--model", "/nonexistent", "--input", input.to_str().unwrap(), "--out", "/tmp/never.parquet"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("bad.jsonl:2") && stderr.contains("document"), "{stderr}");
    assert!(!Path::new("/tmp/never.parquet").exists());
}

fn encode_err(input_body: &[u8], out_is_input: bool) -> (String, PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("texts.jsonl");
    std::fs::write(&input, input_body).unwrap();
    // The same file by another spelling: only canonical paths compare equal.
    let out = if out_is_input { dir.path().join("sub/../texts.jsonl") } else { dir.path().join("out.parquet") };
    std::fs::create_dir_all(dir.path().join("sub")).unwrap();
    let output = polyret()
        .args(["encode", "--model", "/nonexistent", "--input", input.to_str().unwrap(), "--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!output.status.success());
    (String::from_utf8_lossy(&output.stderr).into_owned(), input, dir)
}

/// Case 4: `--out` naming the input is refused before anything is read or written (before, the
/// input was replaced by the embeddings table).
#[test]
fn an_output_that_is_the_input_is_refused() {
    let body = b"{\"text\": \"keep me\"}\n";
    let (stderr, input, _dir) = encode_err(body, true);
    assert!(stderr.contains("is the input file"), "{stderr}");
    assert_eq!(std::fs::read(&input).unwrap(), body);
}

/// Case 9: an empty text is an error naming its line (before, it was embedded silently), and a
/// UTF-8 byte-order mark is accepted as `ingest` accepts it (before, line 1 was "malformed").
#[test]
fn empty_texts_are_refused_and_a_byte_order_mark_is_accepted() {
    let (stderr, _, _dir) = encode_err(b"{\"text\": \"fine\"}\n{\"text\": \"  \"}\n", false);
    assert!(stderr.contains("texts.jsonl:2") && stderr.contains("empty"), "{stderr}");
    let (stderr, _, _dir) = encode_err("\u{feff}{\"text\": \"fine\"}\r\n".as_bytes(), false);
    assert!(!stderr.contains("malformed") && stderr.contains("/nonexistent"), "it got to loading the model: {stderr}");
}
