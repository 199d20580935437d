//! Pins the bytes of every file an evaluation writes (timings aside), so that a change to how
//! outputs are computed or written shows up here. The embedder gives small integer vectors:
//! every score is exact whatever sgemm kernel the CPU runs, so the digests hold on any machine.

use std::path::Path;

mod common;

use common::{caption_set, large_set, qa_set};
use polyret_evaluator::{Embedder, EvalOptions, Role, TrecExport, evaluate};
use polyret_ingest::EvalSet;
use sha2::{Digest, Sha256};

/// Byte counts folded into `DIM` buckets: integer scores, and plenty of exact ties.
struct ByteCounts;

const DIM: usize = 24;

impl Embedder for ByteCounts {
    fn fingerprint(&self) -> String {
        format!("byte-counts-{DIM}")
    }

    fn dim(&self) -> usize {
        DIM
    }

    fn embed(&self, texts: &[&str], _: Role) -> polyret_evaluator::Result<Vec<f32>> {
        let mut out = vec![0.0; texts.len() * DIM];
        for (row, text) in out.chunks_mut(DIM).zip(texts) {
            text.bytes().for_each(|b| row[b as usize % DIM] += 1.0);
        }
        Ok(out)
    }
}

/// `results.json` and `summary.md` with their wall-clock figures (and the version) blanked.
fn without_timings(name: &str, text: &str) -> String {
    match name {
        "results.json" => {
            let mut json: serde_json::Value = serde_json::from_str(text).unwrap();
            json["evaluation_time"] = serde_json::Value::Null;
            json["polyret_version"] = serde_json::Value::Null;
            serde_json::to_string_pretty(&json).unwrap()
        }
        "summary.md" => text.split("## Time").next().unwrap().to_owned(),
        _ => text.to_owned(),
    }
}

const FILES: [&str; 9] = [
    "results.json",
    "summary.md",
    "per_query.tsv",
    "multilingual/run.trec",
    "multilingual/qrels.trec",
    "monolingual/run.trec",
    "monolingual/qrels.trec",
    "crosslingual/run.trec",
    "crosslingual/qrels.trec",
];

/// Evaluates and writes `set` into `dir`; the first 8 bytes of each file's SHA-256, in hex.
fn digests(set: &EvalSet, trec: TrecExport, dir: &Path) -> Vec<String> {
    let opts =
        EvalOptions { model_name: "byte counts".into(), run_depth: 3, run_cover: true, trec, ..Default::default() };
    evaluate(&ByteCounts, set, &opts).unwrap().write(dir).unwrap();
    FILES
        .iter()
        .map(|name| match std::fs::read_to_string(dir.join(name)) {
            Ok(text) => hex::encode(&Sha256::digest(without_timings(name, &text))[..8]),
            Err(_) => "absent".to_owned(),
        })
        .collect()
}

#[test]
fn output_files_are_pinned() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, EvalSet, TrecExport, [&str; 9]); 4] = [
        (
            "qa all",
            qa_set(),
            TrecExport::All,
            [
                "cf4f780ae5b957c9",
                "47bfa1869bbad657",
                "2b5fbd652d2bb4b1",
                "b54d442ff15e08f4",
                "de62a481ebf5e5ed",
                "d51d87e21245b1bd",
                "2dec4f8dfacd3663",
                "582fdb257aad4fa0",
                "ebf94f318732436d",
            ],
        ),
        (
            "captions all",
            caption_set(),
            TrecExport::All,
            [
                "afabb20d8722caef",
                "b70f9c522bb74620",
                "f430254f07a01cf0",
                "1d6ba67b3fe122ae",
                "d0c7eb936d7d0657",
                "absent",
                "absent",
                "51ff71f00096e7fd",
                "6f9f5c99fc8ee22c",
            ],
        ),
        (
            "large all",
            large_set(),
            TrecExport::All,
            [
                "f53b9e430aaca41f",
                "d5e94d3abe1687b9",
                "408b47155383a1c8",
                "f87bbe2e404a5f24",
                "eb907361f18acc2b",
                "e422a647d386511a",
                "2dec4f8dfacd3663",
                "fddc2f131a14c171",
                "61c52cd4e3cba3ee",
            ],
        ),
        (
            "qa multilingual",
            qa_set(),
            TrecExport::Multilingual,
            [
                "3deef9a317b03b18",
                "47bfa1869bbad657",
                "2b5fbd652d2bb4b1",
                "b54d442ff15e08f4",
                "de62a481ebf5e5ed",
                "absent",
                "absent",
                "absent",
                "absent",
            ],
        ),
    ];
    let mut failures = Vec::new();
    for (label, set, trec, expected) in cases {
        let got = digests(&set, trec, &dir.path().join(label.replace(' ', "-")));
        for ((name, got), want) in FILES.iter().zip(&got).zip(expected) {
            if got != want {
                failures.push(format!("{label}: {name} is {got}, pinned {want}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
