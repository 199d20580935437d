//! Writing an evaluation: `per_query.tsv`, the TREC run and qrels files, `summary.md`, the mAP
//! heatmap and, last, `results.json` (so a directory with a `results.json` is complete).

use std::fmt::Write as _;
use std::path::Path;

use polyret_files::write_atomic as write_file;

use crate::error::Result;
use crate::evaluate::Evaluation;
use crate::heatmap;
use crate::metrics::Metric;
use crate::report::{EvalReport, HEATMAP_FILE, PER_QUERY_FILE, RESULTS_FILE, SUMMARY_FILE, Setting, per_query_tsv};
use crate::run_files::remove_stale_runs;

/// Measures shown in the summary tables (all of them are in `results.json`).
const SUMMARY_METRICS: [Metric; 6] =
    [Metric::Map, Metric::NdcgAt10, Metric::MrrAt10, Metric::RecallAt1, Metric::RecallAt10, Metric::RecallAt100];

impl Evaluation {
    /// Writes the evaluation into `dir` (created if missing) and records the files in
    /// [`Evaluation::report`]: `per_query.tsv`, run and qrels files of the exported settings
    /// (those of other settings are removed, so that a directory never mixes two
    /// evaluations), `heatmap_map.png` when a font is found, `summary.md`, and last
    /// `results.json`, so that a directory with one is complete. Every file is replaced
    /// atomically: a failed write leaves no temporary. Layouts: `docs/evaluation.md`.
    pub fn write(&mut self, dir: &Path) -> Result<()> {
        let trec = self.runs.write(dir, &self.units, &self.report.run.run_tag)?;
        self.report.run.trec_settings = Setting::ALL.into_iter().filter(|s| trec.contains_key(s.name())).collect();
        self.report.files.trec = trec;
        remove_stale_runs(dir, &self.report.run.trec_settings)?;
        write_file(&dir.join(PER_QUERY_FILE), per_query_tsv(&self.units).as_bytes())?;
        let report = &mut self.report;
        report.files.per_query = PER_QUERY_FILE.into();
        report.files.summary = SUMMARY_FILE.into();
        let title = format!("{} on {}: mAP", report.model.name, report.task_name);
        let heatmap_path = dir.join(HEATMAP_FILE);
        report.files.heatmap = match heatmap::draw(&heatmap_path, &title, &report.matrix, Metric::Map)? {
            true => Some(HEATMAP_FILE.into()),
            false => {
                // A stale picture from an earlier evaluation would contradict the new results.
                let _ = std::fs::remove_file(&heatmap_path);
                None
            }
        };
        report.evaluation_time.total_s = self.started.elapsed().as_secs_f64();
        write_file(&dir.join(SUMMARY_FILE), summary(report).as_bytes())?;
        let json = serde_json::to_string_pretty(report).expect("reports serialise");
        Ok(write_file(&dir.join(RESULTS_FILE), json.as_bytes())?)
    }
}

fn cell(v: Option<f64>) -> String {
    v.map_or_else(|| "—".to_owned(), |x| format!("{x:.4}"))
}

/// The markdown summary: settings, the mAP matrix, bias, timings.
pub fn summary(r: &EvalReport) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# {} on {}\n", r.model.name, r.task_name);
    let _ = writeln!(
        s,
        "{} queries, {} documents, languages: {}. Model fingerprint `{}`, dimension {}.\n",
        r.dataset.queries,
        r.dataset.documents,
        r.dataset.languages.join(" "),
        r.model.fingerprint,
        r.model.dim
    );
    let _ = writeln!(s, "## Settings\n");
    let header: Vec<&str> = SUMMARY_METRICS.iter().map(|m| m.key()).collect();
    let _ = writeln!(s, "| setting | rankings | {} |", header.join(" | "));
    let _ = writeln!(s, "|---|---:|{}", "---:|".repeat(header.len()));
    for setting in Setting::ALL {
        let Some(sc) = r.scores.get(&setting) else {
            let _ = writeln!(s, "| {} | 0 | {} |", setting.name(), vec!["—"; header.len()].join(" | "));
            continue;
        };
        let values: Vec<String> = SUMMARY_METRICS.iter().map(|&m| cell(Some(sc.scores.get(m)))).collect();
        let _ = writeln!(s, "| {} | {} | {} |", setting.name(), sc.rankings, values.join(" | "));
    }
    let _ = writeln!(
        s,
        "\nMultilingual: one pool of all languages, mean over query languages of the mean over queries. \
         Mono/cross-lingual: mean over the matrix cells with query language = / ≠ corpus language. \
         Success@1 (bitext accuracy on Tatoeba) and the other measures are in `results.json`.\n"
    );
    let _ = writeln!(s, "## mAP by query language (rows) × corpus language (columns)\n");
    let m = &r.matrix;
    let _ = writeln!(s, "| | {} |", m.corpus_langs.join(" | "));
    let _ = writeln!(s, "|---|{}", "---:|".repeat(m.corpus_langs.len()));
    for (q, row) in m.query_langs.iter().zip(m.metric(Metric::Map)) {
        let cells: Vec<String> = row.iter().map(|&v| cell(v)).collect();
        let _ = writeln!(s, "| **{q}** | {} |", cells.join(" | "));
    }
    let _ = writeln!(s, "\n— marks a cell where no query has a relevant document (absent, not 0).\n");
    if let Some(b) = &r.bias {
        let _ = writeln!(s, "## Language bias (multilingual pool)\n");
        let _ = writeln!(s, "Mean maximum rank distance: {}.\n", cell(b.max_rank_distance));
        let k = b.top_k;
        let _ = writeln!(
            s,
            "| query lang | queries | max rank distance | top-1 same lang | top-{k} same lang | pool share | \
             first relevant same lang | relevant share |"
        );
        let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|");
        for (l, row) in &b.by_query_lang {
            let _ = writeln!(
                s,
                "| {l} | {} | {} | {:.4} | {:.4} | {:.4} | {:.4} | {:.4} |",
                row.queries,
                row.max_rank_distance.map_or_else(|| "—".to_owned(), |x| format!("{x:.1}")),
                row.top1_same_lang,
                row.top_k_same_lang,
                row.pool_same_lang,
                row.first_relevant_same_lang,
                row.relevant_same_lang
            );
        }
        let _ = writeln!(
            s,
            "\nA language-blind model matches the pool share in the two top columns and the relevant share \
             in the first-relevant column; higher values mean a preference for the query's own language.\n"
        );
    }
    let t = &r.evaluation_time;
    let cached = |c: bool| if c { " (cache)" } else { "" };
    let _ = writeln!(s, "## Time\n");
    let _ = writeln!(
        s,
        "Queries {:.1} s{}, corpus {:.1} s{}, search and metrics {:.1} s, total {:.1} s.",
        t.encode_queries_s,
        cached(t.queries_cached),
        t.encode_corpus_s,
        cached(t.corpus_cached),
        t.search_s,
        t.total_s
    );
    s
}

#[cfg(test)]
mod tests {
    use polyret_ingest::{DocRow, EvalSet, QrelRow, QueryRow};

    use super::*;
    use crate::{EvalOptions, HashEmbedder, TrecExport, evaluate};

    /// Two groups in de and en; each text is a query and a document with its own id.
    fn toy() -> EvalSet {
        let mut set = EvalSet { name: "toy".into(), ..Default::default() };
        for (id, lang, text) in [
            ("1-de", "de", "der Hund"),
            ("1-en", "en", "the dog"),
            ("2-de", "de", "die Katze"),
            ("2-en", "en", "a cat"),
        ] {
            let (qid, group_id) = (id.to_owned(), id[..1].to_owned());
            let (lang, text) = (lang.to_owned(), text.to_owned());
            set.queries.push(QueryRow {
                qid,
                lang: lang.clone(),
                text: text.clone(),
                group_id: group_id.clone(),
                subset: None,
            });
            set.corpus.push(DocRow { docid: id.into(), lang, text, group_id, subset: None });
        }
        for (q, d) in [("1-de", "1-en"), ("1-en", "1-de"), ("2-de", "2-en"), ("2-en", "2-de")] {
            set.qrels.push(QrelRow { qid: q.into(), docid: d.into(), rel: 1 });
        }
        set
    }

    /// A file that cannot be replaced fails the write with its name; the temporaries go, and
    /// `results.json`, written last, is not there to claim a complete directory.
    #[test]
    fn a_failed_write_names_the_file_and_leaves_no_temporary() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("out");
        std::fs::create_dir_all(dir.join("crosslingual/run.trec")).unwrap();
        let opts = EvalOptions { trec: TrecExport::All, ..Default::default() };
        let mut evaluation = evaluate(&HashEmbedder::new(16), &toy(), &opts).unwrap();
        let err = evaluation.write(&dir).unwrap_err().to_string();
        assert!(err.contains("crosslingual/run.trec"), "{err}");
        assert!(!dir.join(RESULTS_FILE).exists());
        let left: Vec<_> =
            std::fs::read_dir(dir.join("crosslingual")).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left, ["run.trec"], "no temporary left");
        assert!(!dir.join("monolingual").exists(), "no ranking, no folder");
    }

    /// A directory can be written again: the second write replaces the first one's files.
    #[test]
    fn writing_twice_replaces_the_files() {
        let dir = tempfile::tempdir().unwrap();
        let mut evaluation = evaluate(&HashEmbedder::new(16), &toy(), &EvalOptions::default()).unwrap();
        evaluation.write(dir.path()).unwrap();
        let first = std::fs::read(dir.path().join("multilingual/run.trec")).unwrap();
        evaluation.write(dir.path()).unwrap();
        assert_eq!(std::fs::read(dir.path().join("multilingual/run.trec")).unwrap(), first);
        let read = EvalReport::read(dir.path()).unwrap();
        assert_eq!(read.files, evaluation.report.files);
        assert_eq!(read.run.trec_settings, [Setting::Multilingual]);
        let temporaries = std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "tmp"));
        assert_eq!(temporaries.count(), 0);
    }
}
