//! Many `polyret` processes writing into one data directory at once — ingesting user tables
//! into one catalog, and evaluating with one shared embedding cache — end with every table
//! readable and every result equal to the same commands run one after another. With
//! `POLYRET_PYTHON` set, pyarrow checks the tables too (`scripts/check_tables.py`).
//!
//! The model is the tiny BERT fixture with a word-level tokenizer (the trainer's test helper);
//! texts are made of its words.

#[path = "../../trainer/tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

const SETS: usize = 3;
const EVALS_PER_SET: usize = 2;

fn polyret(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_polyret"));
    cmd.args(args).env("RUST_LOG", "warn").stdout(std::process::Stdio::null()).stderr(std::process::Stdio::piped());
    cmd
}

fn arg(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Inputs: per set a JSONL pairs file and a folder of parallel files, in the tiny model's words.
fn inputs(dir: &Path) -> Vec<(PathBuf, PathBuf)> {
    (0..SETS)
        .map(|s| {
            let folder = dir.join(format!("parallel-{s}"));
            std::fs::create_dir_all(&folder).unwrap();
            let mut jsonl = String::new();
            for lang in ["en", "de", "fr"] {
                let lines: Vec<String> = (0..12)
                    .map(|i| format!("{lang}{} {lang}{} {lang}{}", i + s, (i * 7 + s) % 200, (i * 13) % 200))
                    .collect();
                std::fs::write(folder.join(format!("{lang}.txt")), lines.join("\n") + "\n").unwrap();
                for (i, line) in lines.iter().enumerate() {
                    let positive = format!("{lang}{} {lang}{}", (i + 50) % 200, (i * 3 + s) % 200);
                    let record = serde_json::json!({"query": line, "positive": positive, "query_lang": lang,
                        "positive_lang": lang, "group_id": format!("g{i}")});
                    jsonl.push_str(&format!("{record}\n"));
                }
            }
            let file = dir.join(format!("pairs-{s}.jsonl"));
            std::fs::write(&file, jsonl).unwrap();
            (file, folder)
        })
        .collect()
}

fn ingest_commands(data: &Path, inputs: &[(PathBuf, PathBuf)]) -> Vec<Command> {
    let mut commands = Vec::new();
    for (s, (file, folder)) in inputs.iter().enumerate() {
        let (pairs, set) = (format!("pairs-{s}"), format!("set-{s}"));
        commands.push(polyret(&["ingest", "--data-dir", arg(data), "jsonl", arg(file), "--name", &pairs]));
        commands.push(polyret(&["ingest", "--data-dir", arg(data), "parallel", arg(folder), "--name", &set]));
    }
    commands
}

/// Evaluations of every set, `EVALS_PER_SET` times each into its own folder, one cache.
fn eval_commands(model: &Path, data: &Path, cache: &Path, out: &Path) -> Vec<Command> {
    let mut commands = Vec::new();
    for s in 0..SETS {
        for e in 0..EVALS_PER_SET {
            let dir = out.join(format!("set-{s}-{e}"));
            commands.push(polyret(&[
                "eval",
                "--model",
                arg(model),
                "--benchmark",
                &format!("set-{s}"),
                "--data",
                &format!("{}/parquet", arg(data)),
                "--cache",
                arg(cache),
                "--out",
                arg(&dir),
                "--name",
                "tiny",
            ]));
        }
    }
    commands
}

fn wait_all(children: Vec<Child>) {
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    }
}

/// All at once.
fn concurrently(commands: Vec<Command>) {
    wait_all(commands.into_iter().map(|mut c| c.spawn().unwrap()).collect());
}

/// One after another.
fn serially(commands: Vec<Command>) {
    for mut c in commands {
        wait_all(vec![c.spawn().unwrap()]);
    }
}

/// Every table of the catalog, read back: name → (kind, part checksums, rows as JSON).
fn tables(data: &Path) -> BTreeMap<String, (String, BTreeMap<String, String>, String)> {
    let catalog = polyret_ingest::Catalog::load(&data.join("parquet/catalog.json")).unwrap();
    let mut out = BTreeMap::new();
    for entry in &catalog.tables {
        assert!(catalog.files_intact(entry), "{} does not match its checksums", entry.name);
        let content = match entry.kind {
            polyret_ingest::TableKind::Pairs => format!("{:?}", catalog.read_pairs(&entry.name).unwrap()),
            polyret_ingest::TableKind::Eval => format!("{:?}", catalog.read_eval_set(&entry.name).unwrap()),
        };
        out.insert(entry.name.clone(), (format!("{:?}", entry.kind), entry.sha256.clone(), content));
    }
    out
}

/// An evaluation's results without its timings, and its per-query and run files.
fn results(dir: &Path) -> (serde_json::Value, Vec<u8>, Vec<u8>) {
    let mut json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("results.json")).unwrap()).unwrap();
    json.as_object_mut().unwrap().remove("evaluation_time");
    (json, std::fs::read(dir.join("per_query.tsv")).unwrap(), std::fs::read(dir.join("multilingual/run.trec")).unwrap())
}

/// No temporaries left anywhere under `dir`.
fn no_temporaries(dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(!name.ends_with(".tmp"), "{} left behind", path.display());
        if path.is_dir() {
            no_temporaries(&path);
        }
    }
}

#[test]
fn concurrent_ingests_and_evaluations_equal_a_serial_run() {
    let dir = tempfile::tempdir().unwrap();
    let model = common::tiny_model(dir.path());
    let inputs = inputs(dir.path());

    let serial = dir.path().join("serial");
    serially(ingest_commands(&serial, &inputs));
    serially(eval_commands(&model, &serial, &serial.join("cache"), &serial.join("eval")));

    let shared = dir.path().join("shared");
    concurrently(ingest_commands(&shared, &inputs));
    let expected = tables(&serial);
    assert_eq!(expected.len(), 2 * SETS);
    let got = tables(&shared);
    assert_eq!(got.keys().collect::<Vec<_>>(), expected.keys().collect::<Vec<_>>(), "tables lost");
    for (name, table) in &expected {
        assert!(got[name] == *table, "{name} differs from the same ingest run alone");
    }
    // Evaluations race on the cache (every process computes and writes the same entries).
    concurrently(eval_commands(&model, &shared, &shared.join("cache"), &shared.join("eval")));
    for s in 0..SETS {
        let reference = results(&serial.join(format!("eval/set-{s}-0")));
        for e in 0..EVALS_PER_SET {
            assert!(results(&shared.join(format!("eval/set-{s}-{e}"))) == reference, "set-{s}-{e} differs");
        }
    }
    // The cache the racing processes wrote is intact: a second round reads it and agrees.
    concurrently(eval_commands(&model, &shared, &shared.join("cache"), &shared.join("again")));
    for s in 0..SETS {
        assert!(results(&shared.join(format!("again/set-{s}-0"))) == results(&serial.join(format!("eval/set-{s}-0"))));
    }
    no_temporaries(&shared);

    if let Some(python) = std::env::var_os("POLYRET_PYTHON") {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/check_tables.py");
        let status = Command::new(python).arg(script).args(["--data-dir", arg(&shared)]).status().unwrap();
        assert!(status.success(), "pyarrow rejects the tables");
    } else {
        eprintln!("POLYRET_PYTHON not set: tables checked in Rust only");
    }
}
