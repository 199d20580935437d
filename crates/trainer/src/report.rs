//! The results table printed at the end of a run.

use std::fmt::Write as _;

use polyret_evaluator::{EvalReport, Setting};

/// One markdown table per benchmark: mAP in the three settings and the language bias, one row
/// per model.
pub fn results_table(evaluations: &[(String, EvalReport)]) -> String {
    let mut out = String::new();
    let mut benchmarks: Vec<&str> = evaluations.iter().map(|(_, r)| r.task_name.as_str()).collect();
    benchmarks.dedup();
    let mut seen = std::collections::BTreeSet::new();
    for bench in benchmarks.into_iter().filter(|b| seen.insert(*b)) {
        let first = evaluations.iter().find(|(_, r)| r.task_name == bench).map(|(_, r)| r);
        let languages = first.map(|r| r.dataset.languages.join(" ")).unwrap_or_default();
        let _ = writeln!(out, "\n{bench} ({languages})\n");
        let _ =
            writeln!(out, "| model | multilingual mAP | monolingual mAP | cross-lingual mAP | max rank distance ↓ |");
        let _ = writeln!(out, "|---|---:|---:|---:|---:|");
        for (label, report) in evaluations.iter().filter(|(_, r)| r.task_name == bench) {
            let map = |s: Setting| report.scores.get(&s).map_or("—".to_string(), |v| format!("{:.4}", v.main_score));
            let bias =
                report.bias.as_ref().and_then(|b| b.max_rank_distance).map_or("—".to_string(), |d| format!("{d:.1}"));
            let _ = writeln!(
                out,
                "| {label} | {} | {} | {} | {bias} |",
                map(Setting::Multilingual),
                map(Setting::Monolingual),
                map(Setting::Crosslingual)
            );
        }
    }
    out
}
