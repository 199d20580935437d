//! The evaluation itself: prepare the set, embed each distinct text once, rank every query
//! against each corpus language of its subset and against the whole multilingual pool, measure
//! each ranking, and keep the rankings to export. Writing is the caller's choice
//! ([`Evaluation::write`]).
//!
//! One score matrix serves every setting: a block of queries is scored against all documents
//! of their subset (sorted by language), and each corpus-language ranking is a contiguous slice
//! of the row, the pool the whole row. A query's own document (same id: caption and bitext
//! sets) is masked out of the row before anything is ranked.

use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use polyret_ingest::EvalSet;

use crate::aggregate::build_report;
use crate::embed::{Embedder, Role, embed_all};
use crate::error::Result;
use crate::options::EvalOptions;
use crate::prepare::prepare;
use crate::rank::rank_row;
use crate::report::{EvalReport, QueryUnit};
use crate::run_files::{ExportedRanking, RunExport};
use crate::search::{block_rows, gather, par_rows, score_block};

/// What an evaluation found: its report, its per-ranking measures and the rankings kept for
/// run files. Nothing is written until the caller asks ([`Evaluation::write`]).
#[derive(Clone, Debug)]
pub struct Evaluation {
    /// Aggregates (what `results.json` holds).
    pub report: EvalReport,
    /// One entry per ranking (what `per_query.tsv` holds).
    pub units: Vec<QueryUnit>,
    /// The rankings of the exported settings.
    pub(crate) runs: RunExport,
    /// When the evaluation began: the report's total time runs until its files are written.
    pub(crate) started: Instant,
}

/// Evaluates `embedder` on `set`: every setting, the Q×C matrix, language bias, and the
/// rankings `opts.trec` exports. Errors on an invalid set (see [`EvalSet::validate`]), an
/// unknown language in the filter, a failing embedder, or a non-finite score.
/// The crate documentation shows a whole evaluation, written.
pub fn evaluate(embedder: &dyn Embedder, set: &EvalSet, opts: &EvalOptions) -> Result<Evaluation> {
    let started = Instant::now();
    let p = prepare(set, opts.langs.as_deref())?;
    let dim = embedder.dim();
    let cache = opts.cache_dir.as_deref();
    let (query_matrix, q_stats) = embed_all(embedder, &p.query_texts, Role::Query, cache, "queries")?;
    let (doc_matrix, d_stats) = p.corpus.embed(embedder, cache)?;

    let search_start = Instant::now();
    let export = opts.trec.settings();
    let tag: String = opts.model_name.chars().map(|c| if c.is_whitespace() { '_' } else { c }).collect();
    let tag = if tag.is_empty() { "polyret".to_owned() } else { tag };
    let mut runs = RunExport { settings: export.clone(), ..RunExport::default() };
    if !export.is_empty() {
        runs.docids = (0..p.corpus.docs.len()).map(|pos| p.docid(pos).to_owned()).collect();
    }
    let bar = ProgressBar::new(p.queries.len() as u64).with_message("ranking");
    bar.set_style(
        ProgressStyle::with_template("{msg}: {bar:40} {pos}/{len} queries [{elapsed_precise} < {eta_precise}]")
            .expect("valid template"),
    );
    let mut units = Vec::new();
    let mut pools = Vec::new();
    let mut scores = Vec::new();
    for g in &p.groups {
        let docs = &doc_matrix[g.docs.start * dim..g.docs.end * dim];
        for block in g.queries.chunks(block_rows(g.docs.len(), opts.memory_budget)) {
            let queries = gather(&query_matrix, dim, block.iter().map(|&qi| p.queries[qi].text));
            score_block(&queries, docs, dim, &mut scores);
            let results = par_rows(&mut scores, g.docs.len(), |i, row| rank_row(&p, g, block[i], row, opts, &export));
            for result in results {
                let result = result?;
                let q = &p.queries[result.query];
                for r in result.ranked {
                    if export.contains(&r.setting) {
                        runs.rankings.push(ExportedRanking { unit: units.len(), run: r.run, judged: r.judged });
                    }
                    units.push(QueryUnit {
                        setting: r.setting,
                        run_qid: p.run_qid(q, r.setting, r.corpus_lang),
                        qid: p.qid(q).to_owned(),
                        query_lang: p.langs[q.lang].clone(),
                        corpus_lang: r.corpus_lang.map(|c| p.langs[c].clone()),
                        num_rel: r.num_rel,
                        first_rel_rank: r.first,
                        last_rel_rank: r.last,
                        values: r.values,
                    });
                }
                pools.push(result.pool);
            }
            bar.inc(block.len() as u64);
        }
    }
    bar.finish_and_clear();
    let search_s = search_start.elapsed().as_secs_f64();

    let mut report = build_report(&p, embedder, opts, &units, &pools, [q_stats, d_stats], search_s, tag);
    report.evaluation_time.total_s = started.elapsed().as_secs_f64();
    Ok(Evaluation { report, units, runs, started })
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use polyret_ingest::{DocRow, QrelRow, QueryRow};

    use super::*;
    use crate::embed::HashEmbedder;
    use crate::metrics::Metric;
    use crate::options::TrecExport;
    use crate::report::Setting;

    /// A Tatoeba-like set: `de`–`en` and `fr`–`en` subsets; every sentence is a query and a
    /// document with the same id; its translation is relevant.
    fn bitext() -> EvalSet {
        let pairs = [
            ("deu-eng", "de", "der Hund schläft", "the dog sleeps"),
            ("deu-eng", "de", "ich trinke Wasser", "I drink water"),
            ("deu-eng", "de", "das Haus ist rot", "the house is red"),
            ("fra-eng", "fr", "le chien dort", "the dog sleeps"),
            ("fra-eng", "fr", "je bois de l'eau", "I drink water"),
        ];
        let mut set = EvalSet { name: "toy-bitext".into(), ..Default::default() };
        for (i, (subset, lang, xx, en)) in pairs.iter().enumerate() {
            let ids = [format!("{subset}-{i}-x"), format!("{subset}-{i}-en")];
            for (id, lang, text) in [(&ids[0], *lang, *xx), (&ids[1], "en", *en)] {
                let subset = Some(subset.to_string());
                set.queries.push(QueryRow {
                    qid: id.clone(),
                    lang: lang.into(),
                    text: text.into(),
                    group_id: i.to_string(),
                    subset: subset.clone(),
                });
                set.corpus.push(DocRow {
                    docid: id.clone(),
                    lang: lang.into(),
                    text: text.into(),
                    group_id: i.to_string(),
                    subset,
                });
            }
            set.qrels.push(QrelRow { qid: ids[0].clone(), docid: ids[1].clone(), rel: 1 });
            set.qrels.push(QrelRow { qid: ids[1].clone(), docid: ids[0].clone(), rel: 1 });
        }
        set
    }

    fn cell(r: &EvalReport, q: &str, c: &str) -> Option<f64> {
        let i = r.matrix.query_langs.iter().position(|l| l == q)?;
        let j = r.matrix.corpus_langs.iter().position(|l| l == c)?;
        r.matrix.metric(Metric::Map)[i][j]
    }

    /// Finite vectors whose dot products overflow: every score is infinite.
    struct Overflowing;

    impl Embedder for Overflowing {
        fn fingerprint(&self) -> String {
            "overflowing".into()
        }
        fn dim(&self) -> usize {
            2
        }
        fn embed(&self, texts: &[&str], _: Role) -> Result<Vec<f32>> {
            Ok(vec![3e38; texts.len() * 2])
        }
    }

    /// An evaluation that fails on a non-finite score returns nothing to write.
    #[test]
    fn a_non_finite_score_fails_the_evaluation() {
        let opts = EvalOptions { trec: TrecExport::All, ..EvalOptions::default() };
        let err = evaluate(&Overflowing, &bitext(), &opts).unwrap_err().to_string();
        assert!(err.contains("non-finite"), "{err}");
    }

    #[test]
    fn subsets_restrict_rankings_and_missing_cells_are_absent() {
        let e = evaluate(&HashEmbedder::new(64), &bitext(), &EvalOptions::default()).unwrap();
        let r = &e.report;
        assert_eq!(r.matrix.query_langs, ["de", "en", "fr"]);
        for (q, c) in [("de", "en"), ("en", "de"), ("fr", "en"), ("en", "fr")] {
            assert!(cell(r, q, c).is_some(), "{q}->{c}");
        }
        for (q, c) in [("de", "fr"), ("fr", "de"), ("de", "de"), ("en", "en"), ("fr", "fr")] {
            assert_eq!(cell(r, q, c), None, "{q}->{c}");
        }
        assert!(!r.scores.contains_key(&Setting::Monolingual));
        // Within a subset the pool is {own translation, other pairs of the subset}: the "the dog
        // sleeps" of fra-eng never competes with the one of deu-eng.
        let pool: Vec<&QueryUnit> = e.units.iter().filter(|u| u.setting == Setting::Multilingual).collect();
        assert_eq!(pool.len(), 10);
        assert!(pool.iter().all(|u| u.num_rel == 1));
        // Every measure lies in [0, 1].
        assert!(e.units.iter().all(|u| u.values.iter().all(|v| (0.0..=1.0).contains(v))));
        // The pool share excludes the query's own sentence: a de query's pool has 2 de of 5.
        let bias = r.bias.as_ref().unwrap();
        assert!((bias.by_query_lang["de"].pool_same_lang - 2.0 / 5.0).abs() < 1e-12);
    }

    #[test]
    fn identical_parallel_texts_score_perfectly() {
        // Every copy of a group has the same text: the relevant documents tie at the top.
        let mut set = EvalSet { name: "same".into(), ..Default::default() };
        for g in 0..4 {
            let text = format!("sentence number {g} about topic {}", g * 7);
            for lang in ["de", "en"] {
                let id = format!("{g}-{lang}");
                set.queries.push(QueryRow {
                    qid: format!("q{id}"),
                    lang: lang.into(),
                    text: text.clone(),
                    group_id: g.to_string(),
                    subset: None,
                });
                set.corpus.push(DocRow {
                    docid: id.clone(),
                    lang: lang.into(),
                    text: text.clone(),
                    group_id: g.to_string(),
                    subset: None,
                });
            }
            for q in ["de", "en"] {
                for d in ["de", "en"] {
                    set.qrels.push(QrelRow { qid: format!("q{g}-{q}"), docid: format!("{g}-{d}"), rel: 1 });
                }
            }
        }
        let e = evaluate(&HashEmbedder::new(256), &set, &EvalOptions::default()).unwrap();
        for s in Setting::ALL {
            assert_eq!(e.report.scores[&s].scores.get(Metric::Map), 1.0, "{s:?}");
        }
        let bias = e.report.bias.unwrap();
        assert_eq!(bias.max_rank_distance, Some(1.0));
    }

    #[test]
    fn language_filter_is_checked_and_applied() {
        let set = bitext();
        let opts = EvalOptions { langs: Some(vec!["de".into(), "xx".into()]), ..Default::default() };
        let err = evaluate(&HashEmbedder::new(8), &set, &opts).unwrap_err().to_string();
        assert!(err.contains("language xx is not in the set"), "{err}");
        let opts = EvalOptions { langs: Some(vec!["de".into(), "en".into()]), ..Default::default() };
        let e = evaluate(&HashEmbedder::new(8), &set, &opts).unwrap();
        assert_eq!(e.report.dataset.languages, ["de", "en"]);
        // Only the subset wholly in the filter remains: deu-eng, not the English side of fra-eng.
        assert_eq!(e.report.dataset.queries, 6);
        assert_eq!(e.report.dataset.documents, 6, "the 6 texts of deu-eng");
        let opts = EvalOptions { langs: Some(vec!["de".into()]), ..Default::default() };
        let err = evaluate(&HashEmbedder::new(8), &set, &opts).unwrap_err().to_string();
        assert!(err.contains("no subset has all its languages in de"), "{err}");
    }

    #[test]
    fn search_selects_languages_as_evaluation_does() {
        let set = bitext();
        let embedder = HashEmbedder::new(8);
        let langs = ["de".to_string(), "en".to_string()];
        let search = crate::CorpusSearch::build(&embedder, &set, Some(&langs), None).unwrap();
        assert_eq!(search.len(), 6, "the 6 texts of deu-eng, not the English side of fra-eng");
        let hits = search.search(&embedder, "der Hund", 10).unwrap();
        assert!(hits.iter().all(|(_, d)| d.subset.as_deref() == Some("deu-eng")));
        assert!(crate::CorpusSearch::build(&embedder, &set, Some(&langs[..1]), None).is_err());
    }

    #[test]
    fn invalid_sets_are_rejected() {
        let mut set = bitext();
        set.qrels.push(QrelRow { qid: "nope".into(), docid: set.corpus[0].docid.clone(), rel: 1 });
        assert!(evaluate(&HashEmbedder::new(8), &set, &EvalOptions::default()).is_err());
        let mut set = bitext();
        set.corpus[0].docid = "has space".into();
        set.qrels.retain(|r| r.docid != "deu-eng-0-x");
        let err = evaluate(&HashEmbedder::new(8), &set, &EvalOptions::default()).unwrap_err().to_string();
        assert!(err.contains("whitespace"), "{err}");
    }

    #[test]
    fn outputs_are_complete_and_stale_runs_removed() {
        let dir = tempfile::tempdir().unwrap();
        let mut opts = EvalOptions { trec: TrecExport::All, ..Default::default() };
        let mut e = evaluate(&HashEmbedder::new(32), &bitext(), &opts).unwrap();
        assert!(e.report.run.trec_settings.is_empty() && e.report.files.trec.is_empty(), "nothing written yet");
        assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none(), "evaluate writes nothing");
        e.write(dir.path()).unwrap();
        // A bitext set has no monolingual ranking: its files are not written.
        assert_eq!(e.report.run.trec_settings, [Setting::Multilingual, Setting::Crosslingual]);
        for f in ["results.json", "per_query.tsv", "summary.md", "crosslingual/run.trec", "multilingual/qrels.trec"] {
            assert!(dir.path().join(f).is_file(), "{f}");
        }
        let summary = std::fs::read_to_string(dir.path().join("summary.md")).unwrap();
        assert!(summary.contains("| monolingual | 0 |") && summary.contains("—"), "{summary}");
        opts.trec = TrecExport::Multilingual;
        let mut e = evaluate(&HashEmbedder::new(32), &bitext(), &opts).unwrap();
        e.write(dir.path()).unwrap();
        assert!(!dir.path().join("crosslingual/run.trec").exists());
        assert_eq!(e.report.run.trec_settings, [Setting::Multilingual]);
        let leftovers: Vec<_> =
            walk(dir.path()).into_iter().filter(|p| p.extension().is_some_and(|e| e == "tmp")).collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        if crate::heatmap::font_path().is_some() {
            assert_eq!(e.report.files.heatmap.as_deref(), Some("heatmap_map.png"));
            let png = std::fs::read(dir.path().join("heatmap_map.png")).unwrap();
            assert_eq!(&png[1..4], b"PNG");
        } else {
            assert!(std::env::var_os("CI").is_none(), "CI must have a font (fonts-dejavu-core)");
        }
    }

    fn walk(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() { out.extend(walk(&p)) } else { out.push(p) }
        }
        out
    }
}
