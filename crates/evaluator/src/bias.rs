//! Language bias in the multilingual pool (LAReQA, Roy et al. 2020).
//!
//! A model can score well on every query-language × corpus-language cell and still prefer
//! passages in the query's own language when all languages compete in one pool. Two views:
//!
//! - **Maximum rank distance**: per query, the rank of its lowest-ranked relevant passage minus
//!   the rank of its highest-ranked one (0 when all parallel copies are adjacent at the top of
//!   their group, large when some languages' copies are pushed down). Defined for queries with
//!   at least two relevant passages; averaged over the queries of a language, then over
//!   languages.
//! - **Same-language preference**: per query language, the share of top-1 and top-k results in
//!   the query's language next to the share a language-blind ranker would give (the language's
//!   share of the pool), and how often the highest-ranked relevant passage is in the query's
//!   language next to that language's share of the relevant passages.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// How many top results the top-k shares look at.
pub const BIAS_TOP_K: usize = 10;

/// What the bias measures need from one ranking of the multilingual pool. Languages are
/// indices into the evaluation's language list.
#[derive(Clone, Debug, PartialEq)]
pub struct PoolRanking {
    /// The query's language.
    pub query_lang: usize,
    /// 1-based rank and language of every relevant passage (at least one).
    pub relevant: Vec<(u32, usize)>,
    /// Languages of the top [`BIAS_TOP_K`] passages, best first (fewer if the pool is smaller).
    pub top_langs: Vec<usize>,
    /// Share of the pool (without the query's own document) in the query's language.
    pub pool_same_share: f64,
}

impl PoolRanking {
    /// Builds the observation from a complete ranking given as `(language, relevant)` per
    /// ranked passage, best first; `None` when nothing in it is relevant. For tests and for
    /// callers that rank outside the evaluator.
    pub fn from_ranked(query_lang: usize, ranked: &[(usize, bool)]) -> Option<Self> {
        let relevant: Vec<(u32, usize)> =
            ranked.iter().enumerate().filter(|(_, (_, r))| *r).map(|(i, &(l, _))| (i as u32 + 1, l)).collect();
        if relevant.is_empty() {
            return None;
        }
        let same = ranked.iter().filter(|(l, _)| *l == query_lang).count();
        Some(Self {
            query_lang,
            relevant,
            top_langs: ranked.iter().take(BIAS_TOP_K).map(|&(l, _)| l).collect(),
            pool_same_share: same as f64 / ranked.len() as f64,
        })
    }

    /// Lowest minus highest rank of the relevant passages, when there are at least two.
    pub fn rank_distance(&self) -> Option<u32> {
        let ranks = self.relevant.iter().map(|&(r, _)| r);
        let (lo, hi) = (ranks.clone().min()?, ranks.max()?);
        (self.relevant.len() >= 2).then_some(hi - lo)
    }
}

/// Bias measures for one query language.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LanguageBiasRow {
    /// Queries of this language in the pool.
    pub queries: usize,
    /// Mean maximum rank distance over the queries with two or more relevant passages.
    pub max_rank_distance: Option<f64>,
    /// How many queries the rank distance averages over.
    pub rank_distance_queries: usize,
    /// Share of queries whose top result is in the query's language.
    pub top1_same_lang: f64,
    /// Mean share of the top-k results in the query's language.
    pub top_k_same_lang: f64,
    /// Mean share of the pool in the query's language: what a language-blind ranker gives for
    /// the two shares above.
    pub pool_same_lang: f64,
    /// Share of queries whose highest-ranked relevant passage is in the query's language.
    pub first_relevant_same_lang: f64,
    /// Mean share of the relevant passages in the query's language: the language-blind
    /// expectation for `first_relevant_same_lang`.
    pub relevant_same_lang: f64,
    /// Mean share of the top-k results in each passage language.
    pub top_k_lang_share: BTreeMap<String, f64>,
}

/// Language bias of one model on one benchmark's multilingual pool.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LanguageBias {
    /// Mean over query languages of the per-language maximum rank distance (languages without
    /// a query that has two relevant passages are left out); `None` if no language has one.
    pub max_rank_distance: Option<f64>,
    /// The `k` of the top-k shares.
    pub top_k: usize,
    /// Per query language.
    pub by_query_lang: BTreeMap<String, LanguageBiasRow>,
}

/// Aggregates pool rankings into the bias report; `langs` names the language indices.
pub fn language_bias(rankings: &[PoolRanking], langs: &[String]) -> LanguageBias {
    let mut by_lang: BTreeMap<usize, Vec<&PoolRanking>> = BTreeMap::new();
    for r in rankings {
        by_lang.entry(r.query_lang).or_default().push(r);
    }
    let mean = |xs: &mut dyn Iterator<Item = f64>| {
        let (s, n) = xs.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
        (n > 0).then(|| s / n as f64)
    };
    let by_query_lang: BTreeMap<String, LanguageBiasRow> = by_lang
        .iter()
        .map(|(&lang, rs)| {
            let n = rs.len() as f64;
            let share = |f: &dyn Fn(&PoolRanking) -> f64| rs.iter().map(|r| f(r)).sum::<f64>() / n;
            let top_share = |r: &PoolRanking, l: usize| {
                if r.top_langs.is_empty() {
                    0.0
                } else {
                    r.top_langs.iter().filter(|&&t| t == l).count() as f64 / r.top_langs.len() as f64
                }
            };
            let distances: Vec<f64> = rs.iter().filter_map(|r| r.rank_distance()).map(f64::from).collect();
            let row = LanguageBiasRow {
                queries: rs.len(),
                max_rank_distance: mean(&mut distances.iter().copied()),
                rank_distance_queries: distances.len(),
                top1_same_lang: share(&|r| f64::from(u8::from(r.top_langs.first() == Some(&lang)))),
                top_k_same_lang: share(&|r| top_share(r, lang)),
                pool_same_lang: share(&|r| r.pool_same_share),
                first_relevant_same_lang: share(&|r| {
                    let first = r.relevant.iter().min_by_key(|&&(rank, _)| rank).map(|&(_, l)| l);
                    f64::from(u8::from(first == Some(lang)))
                }),
                relevant_same_lang: share(&|r| {
                    r.relevant.iter().filter(|&&(_, l)| l == lang).count() as f64 / r.relevant.len() as f64
                }),
                top_k_lang_share: langs
                    .iter()
                    .enumerate()
                    .map(|(l, name)| (name.clone(), share(&|r| top_share(r, l))))
                    .filter(|&(_, s)| s > 0.0)
                    .collect(),
            };
            (langs[lang].clone(), row)
        })
        .collect();
    LanguageBias {
        max_rank_distance: mean(&mut by_query_lang.values().filter_map(|r| r.max_rank_distance)),
        top_k: BIAS_TOP_K,
        by_query_lang,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EN: usize = 0;
    const DE: usize = 1;
    const ZH: usize = 2;

    fn langs() -> Vec<String> {
        ["en", "de", "zh"].map(String::from).to_vec()
    }

    #[test]
    fn rank_distance_needs_two_relevant_passages() {
        // Relevant at ranks 1 (en), 4 (de), 6 (zh): distance 5.
        let ranked = [(EN, true), (EN, false), (DE, false), (DE, true), (ZH, false), (ZH, true)];
        let r = PoolRanking::from_ranked(EN, &ranked).unwrap();
        assert_eq!(r.rank_distance(), Some(5));
        assert_eq!(r.relevant, vec![(1, EN), (4, DE), (6, ZH)]);
        assert_eq!(r.pool_same_share, 2.0 / 6.0);
        let single = PoolRanking::from_ranked(EN, &[(DE, false), (ZH, true)]).unwrap();
        assert_eq!(single.rank_distance(), None);
        assert!(PoolRanking::from_ranked(EN, &[(DE, false)]).is_none());
    }

    #[test]
    fn averages_over_queries_then_languages() {
        let rankings = [
            // en query 1: distance 5, top-1 en.
            PoolRanking::from_ranked(EN, &[(EN, true), (EN, false), (DE, false), (DE, true), (ZH, false), (ZH, true)]),
            // en query 2: distance 1, top-1 de (relevant).
            PoolRanking::from_ranked(EN, &[(DE, true), (ZH, true), (EN, false), (EN, false), (DE, false), (ZH, false)]),
            // de query: relevant en at 1 and zh at 4: distance 3.
            PoolRanking::from_ranked(DE, &[(EN, true), (DE, false), (DE, false), (ZH, true), (EN, false), (ZH, false)]),
            // zh query with one relevant passage: no distance.
            PoolRanking::from_ranked(ZH, &[(ZH, false), (EN, true), (DE, false)]),
        ]
        .map(Option::unwrap);
        let bias = language_bias(&rankings, &langs());
        let en = &bias.by_query_lang["en"];
        assert_eq!(en.queries, 2);
        assert_eq!(en.max_rank_distance, Some(3.0)); // (5 + 1) / 2
        assert_eq!(en.top1_same_lang, 0.5);
        assert_eq!(en.first_relevant_same_lang, 0.5);
        assert!((en.relevant_same_lang - (1.0 / 3.0 + 0.0) / 2.0).abs() < 1e-12);
        assert!((en.top_k_same_lang - (2.0 / 6.0 + 2.0 / 6.0) / 2.0).abs() < 1e-12);
        assert!((en.pool_same_lang - 2.0 / 6.0).abs() < 1e-12);
        assert!((en.top_k_lang_share.values().sum::<f64>() - 1.0).abs() < 1e-12);
        assert_eq!(bias.by_query_lang["de"].max_rank_distance, Some(3.0));
        assert_eq!(bias.by_query_lang["de"].top1_same_lang, 0.0);
        let zh = &bias.by_query_lang["zh"];
        assert_eq!((zh.max_rank_distance, zh.rank_distance_queries), (None, 0));
        assert_eq!(zh.top1_same_lang, 1.0);
        assert_eq!(zh.first_relevant_same_lang, 0.0);
        // Mean over en (3) and de (3); zh has no distance and is left out.
        assert_eq!(bias.max_rank_distance, Some(3.0));
    }

    #[test]
    fn an_unbiased_pool_matches_its_expectation() {
        // Each query's top-k holds every language equally: observed share = pool share.
        let ranked: Vec<(usize, bool)> = (0..9).map(|i| (i % 3, i == 4)).collect();
        let r = PoolRanking::from_ranked(DE, &ranked).unwrap();
        let bias = language_bias(&[r], &langs());
        let de = &bias.by_query_lang["de"];
        assert!((de.top_k_same_lang - de.pool_same_lang).abs() < 1e-12);
        assert_eq!(de.first_relevant_same_lang, de.relevant_same_lang);
        assert_eq!(bias.max_rank_distance, None);
    }
}
