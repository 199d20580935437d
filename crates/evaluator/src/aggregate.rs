//! From rankings to the report: each setting's score (the mean over strata of the mean over
//! rankings), the query-language × corpus-language matrix and the language bias of the pool.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::bias::{PoolRanking, language_bias};
use crate::embed::{EmbedStats, Embedder};
use crate::metrics::{MetricValues, mean};
use crate::options::EvalOptions;
use crate::prepare::Prepared;
use crate::report::{
    CellMatrix, DatasetInfo, EvalReport, ModelInfo, OutputFiles, QueryUnit, RESULTS_FORMAT, RunInfo, Scores, Setting,
    SettingScores, Timings, setting_scores,
};

/// The report of an evaluation from its rankings: setting scores, the Q×C matrix, language
/// bias, what was evaluated and how. Its files are filled in when it is written.
#[allow(clippy::too_many_arguments)]
pub(crate) fn build_report(
    p: &Prepared,
    embedder: &dyn Embedder,
    opts: &EvalOptions,
    units: &[QueryUnit],
    pools: &[PoolRanking],
    [q_stats, d_stats]: [EmbedStats; 2],
    search_s: f64,
    run_tag: String,
) -> EvalReport {
    let mut scores = BTreeMap::new();
    for s in Setting::ALL {
        let of: Vec<&QueryUnit> = units.iter().filter(|u| u.setting == s).collect();
        if of.is_empty() {
            continue;
        }
        let values = setting_scores(&of);
        let strata: BTreeSet<_> = of.iter().map(|u| u.stratum()).collect();
        let by_query_lang = if s == Setting::Multilingual {
            let mut by: BTreeMap<&str, Vec<&MetricValues>> = BTreeMap::new();
            of.iter().for_each(|u| by.entry(&u.query_lang).or_default().push(&u.values));
            by.into_iter().filter_map(|(l, v)| Some((l.to_owned(), Scores(mean(v)?)))).collect()
        } else {
            BTreeMap::new()
        };
        scores.insert(
            s,
            SettingScores {
                main_score: values[crate::Metric::Map as usize],
                scores: Scores(values),
                rankings: of.len(),
                cells: (s != Setting::Multilingual).then_some(strata.len()),
                by_query_lang,
            },
        );
    }

    let query_langs: Vec<usize> = p.queries.iter().map(|q| q.lang).collect::<BTreeSet<_>>().into_iter().collect();
    let corpus_langs: Vec<usize> = p.doc_lang.iter().copied().collect::<BTreeSet<_>>().into_iter().collect();
    let mut cells: HashMap<(&str, &str), Vec<&MetricValues>> = HashMap::new();
    for u in units {
        if let Some(c) = &u.corpus_lang {
            cells.entry((&u.query_lang, c)).or_default().push(&u.values);
        }
    }
    let cell = |q: usize, c: usize| cells.get(&(p.langs[q].as_str(), p.langs[c].as_str()));
    let matrix = CellMatrix {
        query_langs: query_langs.iter().map(|&l| p.langs[l].clone()).collect(),
        corpus_langs: corpus_langs.iter().map(|&l| p.langs[l].clone()).collect(),
        queries: query_langs
            .iter()
            .map(|&q| corpus_langs.iter().map(|&c| cell(q, c).map_or(0, Vec::len)).collect())
            .collect(),
        metrics: crate::Metric::ALL
            .iter()
            .map(|&m| {
                let rows = query_langs
                    .iter()
                    .map(|&q| {
                        corpus_langs
                            .iter()
                            .map(|&c| cell(q, c).and_then(|v| mean(v.iter().copied())).map(|x| x[m as usize]))
                            .collect()
                    })
                    .collect();
                (m.key().to_owned(), rows)
            })
            .collect(),
    };

    EvalReport {
        format: RESULTS_FORMAT.into(),
        polyret_version: env!("CARGO_PKG_VERSION").into(),
        task_name: p.set.name.clone(),
        model: ModelInfo { name: opts.model_name.clone(), fingerprint: embedder.fingerprint(), dim: embedder.dim() },
        dataset: DatasetInfo {
            name: p.set.name.clone(),
            content_sha256: p.content_digest(),
            languages: p.langs.clone(),
            queries: p.queries.len(),
            documents: p.corpus.docs.len(),
            qrels: p.queries.iter().map(|q| q.qrels.len()).sum(),
        },
        run: RunInfo {
            langs: opts.langs.clone(),
            run_depth: opts.run_depth,
            run_cover: opts.run_cover,
            trec_settings: Vec::new(),
            run_tag,
        },
        main_score: scores.get(&Setting::Multilingual).map(|s| s.main_score),
        scores,
        matrix,
        bias: (!pools.is_empty()).then(|| language_bias(pools, &p.langs)),
        evaluation_time: Timings {
            encode_queries_s: q_stats.seconds,
            queries_cached: q_stats.cached,
            encode_corpus_s: d_stats.seconds,
            corpus_cached: d_stats.cached,
            search_s,
            total_s: 0.0,
        },
        files: OutputFiles::default(),
    }
}
