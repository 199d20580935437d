//! TREC run and qrels files: writing them next to the results, reading them back, and scoring a
//! run exactly as trec_eval does (so `polyret` can check any run, and the tests can check the
//! evaluator's rankings through an independent path).
//!
//! Formats (whitespace-separated, one record per line):
//! - run: `qid Q0 docid rank score tag` — trec_eval ignores `rank` and orders by `score`
//!   descending, breaking ties by docid descending (byte-wise `strcmp`);
//! - qrels: `qid 0 docid relevance`.
//!
//! Scores are written as the `f64` value of the `f32` score, in the shortest form that reads
//! back to that exact value, so trec_eval sees exactly the scores (and ties) Polyret ranked by.

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::Path;

use crate::error::{EvalError, Result};
use crate::metrics::{MetricValues, measure};

/// One retrieved document of a run.
#[derive(Clone, Debug, PartialEq)]
pub struct RunEntry {
    /// Document id.
    pub docid: String,
    /// Retrieval score (higher is better).
    pub score: f64,
}

/// A run read from a file: the retrieved documents of each query, in file order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Run {
    /// Query id → retrieved documents.
    pub queries: BTreeMap<String, Vec<RunEntry>>,
}

/// Relevance judgments read from a file: query id → document id → grade.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Qrels {
    /// Query id → document id → grade (≥ 1 is relevant).
    pub queries: BTreeMap<String, BTreeMap<String, i32>>,
}

/// Writes one run line. `score` is widened to `f64` and printed exactly.
pub(crate) fn write_run_line(
    w: &mut impl Write,
    qid: &str,
    docid: &str,
    rank: usize,
    score: f32,
    tag: &str,
) -> std::io::Result<()> {
    writeln!(w, "{qid} Q0 {docid} {rank} {} {tag}", f64::from(score))
}

/// Writes one qrels line.
pub(crate) fn write_qrels_line(w: &mut impl Write, qid: &str, docid: &str, rel: i32) -> std::io::Result<()> {
    writeln!(w, "{qid} 0 {docid} {rel}")
}

/// Whether an id can stand in a TREC file (non-empty, no whitespace).
pub(crate) fn valid_id(id: &str) -> bool {
    !id.is_empty() && !id.chars().any(char::is_whitespace)
}

/// Splits a file into numbered, non-blank lines of exactly `fields` fields.
fn records<'a>(
    path: &'a Path,
    text: &'a str,
    fields: usize,
    what: &'a str,
) -> impl Iterator<Item = Result<(usize, Vec<&'a str>)>> + 'a {
    text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()).map(move |(i, line)| {
        let parts: Vec<&str> = line.split_whitespace().collect();
        if parts.len() == fields {
            Ok((i + 1, parts))
        } else {
            Err(EvalError::format(
                path,
                Some(i + 1),
                format!("a {what} line has {fields} fields, found {}: {line:?}", parts.len()),
            ))
        }
    })
}

fn read_nonempty(path: &Path, what: &str) -> Result<String> {
    let text = std::fs::read_to_string(path).map_err(|e| EvalError::io(path, e))?;
    if text.trim().is_empty() {
        return Err(EvalError::format(path, None, format!("empty {what} file")));
    }
    Ok(text)
}

/// Reads a TREC run file. Errors (naming file and line) on a wrong field count, a score that
/// is not a finite number, a non-integer rank, a document listed twice for one query, or an
/// empty file.
pub fn read_run(path: &Path) -> Result<Run> {
    let text = read_nonempty(path, "run")?;
    let mut run = Run::default();
    let mut seen = HashSet::new();
    for record in records(path, &text, 6, "run") {
        let (line, f) = record?;
        let bad = |m: String| EvalError::format(path, Some(line), m);
        f[3].parse::<i64>().map_err(|_| bad(format!("rank {:?} is not an integer", f[3])))?;
        let score: f64 = f[4].parse().map_err(|_| bad(format!("score {:?} is not a number", f[4])))?;
        if !score.is_finite() {
            return Err(bad(format!("score {:?} is not finite", f[4])));
        }
        if !seen.insert((f[0], f[2])) {
            return Err(bad(format!("document {} appears twice for query {}", f[2], f[0])));
        }
        run.queries.entry(f[0].to_owned()).or_default().push(RunEntry { docid: f[2].to_owned(), score });
    }
    Ok(run)
}

/// Reads a TREC qrels file. Errors (naming file and line) on a wrong field count, a
/// non-integer grade, a pair judged twice, or an empty file.
pub fn read_qrels(path: &Path) -> Result<Qrels> {
    let text = read_nonempty(path, "qrels")?;
    let mut qrels = Qrels::default();
    for record in records(path, &text, 4, "qrels") {
        let (line, f) = record?;
        let rel: i32 = f[3]
            .parse()
            .map_err(|_| EvalError::format(path, Some(line), format!("relevance {:?} is not an integer", f[3])))?;
        if qrels.queries.entry(f[0].to_owned()).or_default().insert(f[2].to_owned(), rel).is_some() {
            return Err(EvalError::format(
                path,
                Some(line),
                format!("document {} is judged twice for query {}", f[2], f[0]),
            ));
        }
    }
    Ok(qrels)
}

/// Scores every query of `run` as trec_eval does: documents ordered by score descending, ties
/// by docid descending; documents not in the qrels are non-relevant; relevant documents the
/// run misses count as unretrieved. Errors on an empty run, a query absent from the qrels
/// (trec_eval would silently skip it, which hides id mix-ups), a repeated document, or a
/// non-finite score.
pub fn evaluate_run(run: &Run, qrels: &Qrels) -> Result<BTreeMap<String, MetricValues>> {
    if run.queries.values().all(Vec::is_empty) {
        return Err(EvalError::Run("the run retrieves no documents".into()));
    }
    let mut out = BTreeMap::new();
    for (qid, entries) in &run.queries {
        let judged = qrels
            .queries
            .get(qid)
            .ok_or_else(|| EvalError::Run(format!("the run names query {qid}, which has no relevance judgments")))?;
        if let Some(e) = entries.iter().find(|e| !e.score.is_finite()) {
            return Err(EvalError::Run(format!("query {qid}: document {} has a non-finite score", e.docid)));
        }
        let mut ids = HashSet::new();
        if let Some(e) = entries.iter().find(|e| !ids.insert(e.docid.as_str())) {
            return Err(EvalError::Run(format!("query {qid}: document {} is retrieved twice", e.docid)));
        }
        let mut ranked: Vec<&RunEntry> = entries.iter().collect();
        ranked.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| b.docid.as_bytes().cmp(a.docid.as_bytes())));
        let mut retrieved: Vec<(u32, i32)> = ranked
            .iter()
            .enumerate()
            .filter_map(|(i, e)| judged.get(&e.docid).filter(|&&r| r >= 1).map(|&r| (i as u32 + 1, r)))
            .collect();
        let grades: Vec<i32> = judged.values().copied().filter(|&r| r >= 1).collect();
        out.insert(qid.clone(), measure(&mut retrieved, &grades));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metric;

    fn file(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn scores_a_run_with_trec_eval_tie_breaking() {
        let dir = tempfile::tempdir().unwrap();
        // d1, d2, d4 tie at 0.5: trec_eval ranks them d4, d2, d1.
        let run = read_run(&file(
            dir.path(),
            "run",
            "q1 Q0 d1 1 0.5 x\nq1 Q0 d2 2 0.5 x\nq1 Q0 d3 3 0.1 x\nq1 Q0 d4 4 0.5 x\n",
        ))
        .unwrap();
        let qrels = read_qrels(&file(dir.path(), "qrels", "q1 0 d1 1\nq1 0 d2 0\nq1 0 d3 2\n")).unwrap();
        let v = &evaluate_run(&run, &qrels).unwrap()["q1"];
        assert!((v[Metric::Map as usize] - 0.416_666_666_666_666_63).abs() < 1e-15);
        assert_eq!(v[Metric::MrrAt10 as usize], 1.0 / 3.0);
    }

    #[test]
    fn scores_round_trip_exactly() {
        let mut buf = Vec::new();
        for s in [0.1f32, -3.25e-9, 0.999_999_9, 1.0 / 3.0] {
            buf.clear();
            write_run_line(&mut buf, "q", "d", 1, s, "t").unwrap();
            let line = String::from_utf8(buf.clone()).unwrap();
            let back: f64 = line.split_whitespace().nth(4).unwrap().parse().unwrap();
            assert_eq!(back, f64::from(s), "{line}");
        }
    }

    #[test]
    fn malformed_and_empty_files_are_errors_naming_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            ("empty", "\n  \n", "empty run"),
            ("fields", "q1 Q0 d1 1 0.5\n", ":1: a run line has 6 fields"),
            ("score", "q1 Q0 d1 1 0.5 x\nq1 Q0 d2 2 abc x\n", ":2: score \"abc\""),
            ("nan", "q1 Q0 d1 1 NaN x\n", "not finite"),
            ("rank", "q1 Q0 d1 one 0.5 x\n", "rank \"one\""),
            ("dup", "q1 Q0 d1 1 0.5 x\nq1 Q0 d1 2 0.4 x\n", ":2: document d1 appears twice"),
        ];
        for (name, text, expect) in cases {
            let err = read_run(&file(dir.path(), name, text)).unwrap_err().to_string();
            assert!(err.contains(name) && err.contains(expect), "{name}: {err}");
        }
        let err = read_qrels(&file(dir.path(), "q1", "q1 0 d1 x\n")).unwrap_err().to_string();
        assert!(err.contains(":1: relevance \"x\""), "{err}");
        let err = read_qrels(&file(dir.path(), "q2", "q1 0 d1 1\nq1 0 d1 0\n")).unwrap_err().to_string();
        assert!(err.contains(":2: document d1 is judged twice"), "{err}");
        assert!(read_qrels(&file(dir.path(), "q3", "")).is_err());
    }

    #[test]
    fn runs_that_cannot_be_scored_are_errors() {
        let mut qrels = Qrels::default();
        qrels.queries.entry("q1".into()).or_default().insert("d1".into(), 1);
        let entry = |d: &str, s: f64| RunEntry { docid: d.into(), score: s };
        let mut run = Run::default();
        assert!(evaluate_run(&run, &qrels).unwrap_err().to_string().contains("no documents"));
        run.queries.insert("q9".into(), vec![entry("d1", 1.0)]);
        assert!(evaluate_run(&run, &qrels).unwrap_err().to_string().contains("query q9"));
        run.queries.clear();
        run.queries.insert("q1".into(), vec![entry("d1", f64::NAN)]);
        assert!(evaluate_run(&run, &qrels).unwrap_err().to_string().contains("non-finite"));
        run.queries.insert("q1".into(), vec![entry("d1", 0.5), entry("d2", 0.7), entry("d1", 0.2)]);
        assert!(evaluate_run(&run, &qrels).unwrap_err().to_string().contains("d1 is retrieved twice"));
    }
}
