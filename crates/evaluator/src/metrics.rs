//! The ranking measures, with trec_eval's exact definitions.
//!
//! Every measure reported here depends only on *where the relevant documents are* in a ranking,
//! so each is computed from the 1-based ranks of the relevant documents and their grades. A
//! document is relevant when its grade is at least 1 (trec_eval's default `relevance_level`);
//! gains for nDCG are the grades themselves, as in trec_eval. The arithmetic follows
//! trec_eval's source (`m_map.c`, `m_ndcg_cut.c`, `m_recall.c`, `m_recip_rank.c`,
//! `m_success.c`) term for term, so the values agree with it to the last few bits.

use serde::{Deserialize, Serialize};

/// One reported measure. The set is fixed so that results files and per-query tables have a
/// stable layout; [`Metric::ALL`] is the column order everywhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Metric {
    /// Average precision over the full ranking (trec_eval `map`): the paper's headline.
    Map,
    /// Average precision counting only relevant documents in the top 100 (trec_eval
    /// `map_cut.100`; what trec_eval's `map` gives on a run cut at 100).
    MapAt100,
    /// nDCG of the top 10 (trec_eval `ndcg_cut.10`).
    NdcgAt10,
    /// Share of the relevant documents in the top 1 (trec_eval `recall.1`).
    RecallAt1,
    /// Share of the relevant documents in the top 10 (trec_eval `recall.10`).
    RecallAt10,
    /// Share of the relevant documents in the top 100 (trec_eval `recall.100`).
    RecallAt100,
    /// Reciprocal rank of the first relevant document if it is in the top 10, else 0
    /// (trec_eval `recip_rank` on the ranking cut at 10).
    MrrAt10,
    /// 1 if a relevant document is ranked first, else 0 (trec_eval `success.1`); bitext
    /// retrieval accuracy on Tatoeba.
    SuccessAt1,
    /// 1 if a relevant document is in the top 5 (trec_eval `success.5`).
    SuccessAt5,
    /// 1 if a relevant document is in the top 10 (trec_eval `success.10`).
    SuccessAt10,
}

/// Number of measures in [`Metric::ALL`].
pub const METRIC_COUNT: usize = 10;

/// The value of every measure for one ranking (or an average), indexed by `Metric as usize`.
pub type MetricValues = [f64; METRIC_COUNT];

impl Metric {
    /// All measures, in column order.
    pub const ALL: [Metric; METRIC_COUNT] = [
        Metric::Map,
        Metric::MapAt100,
        Metric::NdcgAt10,
        Metric::RecallAt1,
        Metric::RecallAt10,
        Metric::RecallAt100,
        Metric::MrrAt10,
        Metric::SuccessAt1,
        Metric::SuccessAt5,
        Metric::SuccessAt10,
    ];

    /// The key used in `results.json` and `per_query.tsv` (MTEB-style names).
    pub fn key(self) -> &'static str {
        match self {
            Metric::Map => "map",
            Metric::MapAt100 => "map_at_100",
            Metric::NdcgAt10 => "ndcg_at_10",
            Metric::RecallAt1 => "recall_at_1",
            Metric::RecallAt10 => "recall_at_10",
            Metric::RecallAt100 => "recall_at_100",
            Metric::MrrAt10 => "mrr_at_10",
            Metric::SuccessAt1 => "success_at_1",
            Metric::SuccessAt5 => "success_at_5",
            Metric::SuccessAt10 => "success_at_10",
        }
    }

    /// Parses a [`Metric::key`].
    pub fn from_key(key: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.key() == key)
    }

    /// The rank the measure looks down to; `None` for full-ranking `map`. A run holding the top
    /// `n` documents of every ranking reproduces exactly the measures with a cutoff ≤ `n`.
    pub fn cutoff(self) -> Option<u32> {
        match self {
            Metric::RecallAt1 | Metric::SuccessAt1 => Some(1),
            Metric::SuccessAt5 => Some(5),
            Metric::NdcgAt10 | Metric::RecallAt10 | Metric::MrrAt10 | Metric::SuccessAt10 => Some(10),
            Metric::RecallAt100 | Metric::MapAt100 => Some(100),
            Metric::Map => None,
        }
    }
}

fn cutoff(metric: Metric) -> u32 {
    metric.cutoff().unwrap_or(u32::MAX)
}

/// The measures of one ranking.
///
/// `retrieved` holds `(rank, grade)` for every relevant document (grade ≥ 1) that appears in
/// the ranking, in any order (it is sorted here); `grades` holds the grade of every relevant
/// document of the query, retrieved or not — its length is trec_eval's `num_rel`. Relevant
/// documents missing from the ranking count as never retrieved, exactly as in trec_eval.
/// A query without relevant documents gets all zeros, as trec_eval gives it.
pub fn measure(retrieved: &mut [(u32, i32)], grades: &[i32]) -> MetricValues {
    debug_assert!(grades.iter().all(|&g| g >= 1) && retrieved.iter().all(|&(r, g)| r >= 1 && g >= 1));
    retrieved.sort_unstable();
    let mut values = [0.0; METRIC_COUNT];
    let num_rel = grades.len();
    if num_rel == 0 {
        return values;
    }

    // m_map.c / m_map_cut.c: precision at each relevant document, summed in rank order, over
    // num_rel (for map_cut, only documents up to the cutoff).
    for metric in [Metric::Map, Metric::MapAt100] {
        let mut sum = 0.0;
        for (so_far, &(rank, _)) in retrieved.iter().take_while(|&&(r, _)| r <= cutoff(metric)).enumerate() {
            sum += (so_far + 1) as f64 / f64::from(rank);
        }
        values[metric as usize] = sum / num_rel as f64;
    }

    // m_ndcg_cut.c: gain / log2(rank + 1) over the top 10, over the ideal ordering's DCG.
    let cut = cutoff(Metric::NdcgAt10);
    let mut dcg = 0.0;
    for &(rank, grade) in retrieved.iter().take_while(|&&(r, _)| r <= cut) {
        dcg += f64::from(grade) / f64::from(rank + 1).log2();
    }
    let mut ideal: Vec<i32> = grades.to_vec();
    ideal.sort_unstable_by(|a, b| b.cmp(a));
    let mut ideal_dcg = 0.0;
    for (i, &grade) in ideal.iter().take(cut as usize).enumerate() {
        ideal_dcg += f64::from(grade) / ((i + 2) as f64).log2();
    }
    values[Metric::NdcgAt10 as usize] = if ideal_dcg > 0.0 { dcg / ideal_dcg } else { dcg };

    let within = |k: u32| retrieved.iter().take_while(|&&(r, _)| r <= k).count();
    for metric in [Metric::RecallAt1, Metric::RecallAt10, Metric::RecallAt100] {
        values[metric as usize] = within(cutoff(metric)) as f64 / num_rel as f64;
    }
    for metric in [Metric::SuccessAt1, Metric::SuccessAt5, Metric::SuccessAt10] {
        values[metric as usize] = if within(cutoff(metric)) > 0 { 1.0 } else { 0.0 };
    }
    if let Some(&(first, _)) = retrieved.first().filter(|&&(r, _)| r <= cutoff(Metric::MrrAt10)) {
        values[Metric::MrrAt10 as usize] = 1.0 / f64::from(first);
    }
    values
}

/// Mean of each measure over `rows`; `None` when there are no rows (an absent cell is not 0).
pub fn mean<'a>(rows: impl IntoIterator<Item = &'a MetricValues>) -> Option<MetricValues> {
    let mut sum = [0.0; METRIC_COUNT];
    let mut n = 0usize;
    for row in rows {
        for (s, v) in sum.iter_mut().zip(row) {
            *s += v;
        }
        n += 1;
    }
    (n > 0).then(|| sum.map(|s| s / n as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(v: &MetricValues, m: Metric) -> f64 {
        v[m as usize]
    }

    #[test]
    fn graded_example_matches_pytrec_eval() {
        // qrels {d1: 1, d2: 0, d3: 2}; run d4, d2, d1, d3 (trec_eval order). Expected values
        // were printed by pytrec-eval-terrier 0.5.11 for this input.
        let v = measure(&mut [(4, 2), (3, 1)], &[1, 2]);
        assert!((get(&v, Metric::Map) - 0.416_666_666_666_666_63).abs() < 1e-15);
        assert!((get(&v, Metric::NdcgAt10) - 0.517_441_833_746_706_7).abs() < 1e-15);
        assert_eq!(get(&v, Metric::MrrAt10), 1.0 / 3.0);
        assert_eq!(get(&v, Metric::RecallAt1), 0.0);
        assert_eq!(get(&v, Metric::RecallAt10), 1.0);
        assert_eq!(get(&v, Metric::SuccessAt1), 0.0);
        assert_eq!(get(&v, Metric::SuccessAt5), 1.0);
    }

    #[test]
    fn unretrieved_relevant_documents_count_as_zero_precision() {
        // Two relevant, one at rank 2, the other never retrieved: AP = (1/2) / 2.
        let v = measure(&mut [(2, 1)], &[1, 1]);
        assert_eq!(get(&v, Metric::Map), 0.25);
        assert_eq!(get(&v, Metric::RecallAt100), 0.5);
        // nDCG: (1/log2 3) / (1 + 1/log2 3).
        let expect = (1.0 / 3f64.log2()) / (1.0 + 1.0 / 3f64.log2());
        assert!((get(&v, Metric::NdcgAt10) - expect).abs() < 1e-15);
    }

    #[test]
    fn cut_measures_stop_at_their_cutoff() {
        let v = measure(&mut [(11, 1), (100, 1), (101, 1)], &[1, 1, 1]);
        assert_eq!(get(&v, Metric::MrrAt10), 0.0);
        assert_eq!(get(&v, Metric::NdcgAt10), 0.0);
        assert_eq!(get(&v, Metric::SuccessAt10), 0.0);
        assert_eq!(get(&v, Metric::RecallAt10), 0.0);
        assert!((get(&v, Metric::RecallAt100) - 2.0 / 3.0).abs() < 1e-15);
        let ap = (1.0 / 11.0 + 2.0 / 100.0 + 3.0 / 101.0) / 3.0;
        assert!((get(&v, Metric::Map) - ap).abs() < 1e-15);
        let ap100 = (1.0 / 11.0 + 2.0 / 100.0) / 3.0;
        assert!((get(&v, Metric::MapAt100) - ap100).abs() < 1e-15);
    }

    #[test]
    fn perfect_ranking_scores_one_everywhere() {
        let v = measure(&mut [(2, 1), (1, 1)], &[1, 1]);
        for m in Metric::ALL {
            let expect = if m == Metric::RecallAt1 { 0.5 } else { 1.0 };
            assert_eq!(get(&v, m), expect, "{m:?}");
        }
    }

    #[test]
    fn no_relevant_documents_give_zeros_and_empty_mean_is_absent() {
        assert_eq!(measure(&mut [], &[]), [0.0; METRIC_COUNT]);
        assert_eq!(mean(std::iter::empty()), None);
        let m = mean([&[1.0; METRIC_COUNT], &[0.0; METRIC_COUNT]]).unwrap();
        assert_eq!(m, [0.5; METRIC_COUNT]);
    }

    #[test]
    fn keys_round_trip() {
        for m in Metric::ALL {
            assert_eq!(Metric::from_key(m.key()), Some(m));
        }
        assert_eq!(Metric::from_key("p_at_5"), None);
    }
}
