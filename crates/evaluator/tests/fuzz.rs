//! Fuzz target of the TREC readers: run and qrels files made of fields that trip parsers (empty,
//! huge, non-finite, missing, extra) must give an error naming the file and line, never a panic;
//! what both readers accept must score. 256 cases by default; run longer by hand with e.g.
//! `PROPTEST_CASES=20000 cargo test --release -p polyret-evaluator --test fuzz`.

use polyret_evaluator::trec::{evaluate_run, read_qrels, read_run};
use proptest::prelude::*;

/// A TREC-like file: lines of 0–7 fields from ids, numbers and junk.
fn trec_text() -> impl Strategy<Value = String> {
    let field = prop_oneof![
        4 => prop::sample::select(vec![
            "q1", "q2", "d1", "d2", "d3", "Q0", "0", "1", "2", "-1", "1.5", "-0", "nan", "NaN", "inf", "-inf", "1e400",
            "99999999999999999999", "run",
        ])
        .prop_map(String::from),
        1 => "\\PC{0,6}".prop_map(String::from),
    ];
    let line = (prop::collection::vec(field, 0..8), prop::sample::select(vec![" ", "\t", "  ", " \t "]))
        .prop_map(|(fields, sep)| fields.join(sep));
    (prop::collection::vec(line, 0..10), any::<bool>())
        .prop_map(|(lines, crlf)| lines.join(if crlf { "\r\n" } else { "\n" }))
}

proptest! {
    #[test]
    fn trec_readers_never_panic(run in trec_text(), qrels in trec_text()) {
        let dir = tempfile::tempdir().unwrap();
        let (run_path, qrels_path) = (dir.path().join("run.trec"), dir.path().join("qrels.trec"));
        std::fs::write(&run_path, &run).unwrap();
        std::fs::write(&qrels_path, &qrels).unwrap();
        let (run, qrels) = (read_run(&run_path), read_qrels(&qrels_path));
        for err in [run.as_ref().err(), qrels.as_ref().err()].into_iter().flatten() {
            let shown = err.to_string();
            prop_assert!(shown.contains("run.trec") || shown.contains("qrels.trec"), "{}", shown);
        }
        if let (Ok(run), Ok(qrels)) = (run, qrels)
            && let Ok(scores) = evaluate_run(&run, &qrels)
        {
            prop_assert!(scores.values().all(|v| v.iter().all(|x| x.is_finite())));
        }
    }
}
