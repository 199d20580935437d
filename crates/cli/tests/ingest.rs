//! `polyret ingest` of user data: replacing a table of another kind needs `--force`.

use std::path::Path;
use std::process::Command;

fn ingest(data: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_polyret"))
        .args(["ingest", "--data-dir", data.to_str().unwrap()])
        .args(args)
        .output()
        .unwrap()
}

/// Case 4: pairs under an evaluation set's name (before, the set's catalog entry was silently
/// replaced).
#[test]
fn replacing_a_table_of_another_kind_needs_force() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let set = dir.path().join("set");
    std::fs::create_dir_all(&set).unwrap();
    std::fs::write(set.join("en.txt"), "one\ntwo\n").unwrap();
    std::fs::write(set.join("de.txt"), "eins\nzwei\n").unwrap();
    let pairs = dir.path().join("pairs.jsonl");
    std::fs::write(&pairs, r#"{"query": "q", "positive": "p", "query_lang": "en", "positive_lang": "de"}"#).unwrap();

    assert!(ingest(&data, &["parallel", set.to_str().unwrap(), "--name", "bench"]).status.success());
    let refused = ingest(&data, &["jsonl", pairs.to_str().unwrap(), "--name", "bench"]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success() && stderr.contains("--force") && stderr.contains("evaluation set"), "{stderr}");
    let catalog = polyret_ingest::Catalog::load(&data.join("parquet/catalog.json")).unwrap();
    assert_eq!(catalog.table("bench").unwrap().kind, polyret_ingest::TableKind::Eval);
    // A user table of the same kind is simply replaced; another kind with --force.
    assert!(ingest(&data, &["parallel", set.to_str().unwrap(), "--name", "bench"]).status.success());
    assert!(ingest(&data, &["jsonl", pairs.to_str().unwrap(), "--name", "bench", "--force"]).status.success());
    let catalog = polyret_ingest::Catalog::load(&data.join("parquet/catalog.json")).unwrap();
    assert_eq!(catalog.read_pairs("bench").unwrap().len(), 1);
}
