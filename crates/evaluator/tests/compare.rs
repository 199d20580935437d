//! `compare` reads two evaluations back from disk, pairs their rankings and tests them; it
//! refuses results of different data.

mod common;

use common::{caption_set, qa_set};
use polyret_evaluator::compare::{LoadedResults, compare};
use polyret_evaluator::{EvalOptions, HashEmbedder, Metric, Setting, TrecExport, evaluate};

fn evaluate_into(dim: usize, set: &polyret_ingest::EvalSet, dir: &std::path::Path) {
    let opts = EvalOptions { model_name: format!("hash-{dim}"), trec: TrecExport::None, ..Default::default() };
    evaluate(&HashEmbedder::new(dim), set, &opts).unwrap().write(dir).unwrap();
}

#[test]
fn compares_results_read_from_disk() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    evaluate_into(8, &qa_set(), a.path());
    evaluate_into(512, &qa_set(), b.path());
    let results = [LoadedResults::read(a.path()).unwrap(), LoadedResults::read(b.path()).unwrap()];
    let table = compare(&results, &[Metric::Map, Metric::RecallAt10], 999, 1).unwrap();
    assert_eq!(table.rows.len(), 2 * Setting::ALL.len());
    for row in &table.rows {
        // The values are the reported setting scores.
        let reported = results.each_ref().map(|r| r.report.scores[&row.setting].scores.get(row.metric));
        assert!((row.values[0] - reported[0]).abs() < 1e-12 && (row.values[1] - reported[1]).abs() < 1e-12);
        assert_eq!(row.p_values[0], None);
        let p = row.p_values[1].unwrap();
        assert!(p > 0.0 && p <= 1.0, "{p}");
    }
    let text = table.to_string();
    assert!(text.contains("multilingual") && text.contains("recall_at_10") && text.contains("(p="), "{text}");

    // A result against itself: no difference, p = 1.
    let same = compare(&[results[0].clone(), results[0].clone()], &[Metric::Map], 99, 1).unwrap();
    assert!(same.rows.iter().all(|r| r.p_values[1] == Some(1.0)));
}

#[test]
fn refuses_results_of_different_data() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    evaluate_into(16, &qa_set(), a.path());
    evaluate_into(16, &caption_set(), b.path());
    let results = [LoadedResults::read(a.path()).unwrap(), LoadedResults::read(b.path()).unwrap()];
    let err = compare(&results, &[Metric::Map], 99, 1).unwrap_err().to_string();
    assert!(err.contains("different data"), "{err}");
    let missing = LoadedResults::read(&a.path().join("nowhere")).unwrap_err().to_string();
    assert!(missing.contains("results.json"), "{missing}");
}
