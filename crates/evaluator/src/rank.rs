//! Ranking one query: its score row (the whole subset) masked of the query's own document,
//! cut into one slice per corpus language (mono- and cross-lingual) plus the whole row (the
//! multilingual pool); each slice ranked, measured, and its exported prefix kept.

use crate::bias::{BIAS_TOP_K, PoolRanking};
use crate::error::Result;
use crate::metrics::{MetricValues, measure};
use crate::options::EvalOptions;
use crate::prepare::{Group, Prepared};
use crate::report::Setting;
use crate::search::{check_finite, rank_of, top_k};

/// One ranking of one query.
pub(crate) struct Ranked {
    pub setting: Setting,
    pub corpus_lang: Option<usize>,
    pub values: MetricValues,
    pub num_rel: u32,
    pub first: u32,
    pub last: u32,
    /// Judged documents (positions) and grades, for the qrels file.
    pub judged: Vec<(usize, i32)>,
    /// Exported prefix of the ranking: (position, score).
    pub run: Vec<(usize, f32)>,
}

/// Every ranking of one query.
pub(crate) struct RowResult {
    pub query: usize,
    pub ranked: Vec<Ranked>,
    pub pool: PoolRanking,
}

/// A ranking's measures plus what the bias report needs from it.
struct SliceRanking {
    ranked: Ranked,
    /// Rank of each judged document, in `ranked.judged` order.
    ranks: Vec<u32>,
    /// The best documents (slice-local indices), best first.
    top: Vec<u32>,
}

/// Which ranking a slice of a score row is, and what to keep of it.
struct Slice {
    setting: Setting,
    corpus_lang: Option<usize>,
    /// Absolute position of the slice's first document.
    offset: usize,
    /// Top documents the caller needs (the bias report looks at the top 10).
    keep: usize,
    /// Depth of the run-file ranking, when this ranking is exported.
    export: Option<usize>,
    /// Whether an exported ranking reaches its lowest-ranked relevant document.
    cover: bool,
}

/// Ranks one slice of a score row: the relevant documents' exact ranks, the measures, the top
/// `keep` documents, and the exported prefix (extended to the lowest-ranked relevant document
/// when `cover` is set).
fn rank_slice(row: &[f32], ties: &[u32], judged: Vec<(usize, i32)>, spec: Slice) -> SliceRanking {
    let Slice { setting, corpus_lang, offset, keep, export, cover } = spec;
    let mut top = Vec::new();
    top_k(row, ties, keep.max(export.unwrap_or(0)), &mut top);
    let ranks: Vec<u32> = judged
        .iter()
        .map(|&(p, _)| {
            let local = (p - offset) as u32;
            match top.iter().position(|&t| t == local) {
                Some(i) => i as u32 + 1,
                None => rank_of(row, ties, local as usize),
            }
        })
        .collect();
    let first = ranks.iter().copied().min().unwrap_or(0);
    let last = ranks.iter().copied().max().unwrap_or(0);
    let export = export.map(|depth| if cover { depth.max(last as usize) } else { depth });
    // Only a covering export can need more than was selected: its lowest relevant document.
    if let Some(n) = export
        && last as usize > top.len()
    {
        top_k(row, ties, n, &mut top);
    }
    let mut retrieved: Vec<(u32, i32)> = ranks.iter().zip(&judged).map(|(&r, &(_, g))| (r, g)).collect();
    let grades: Vec<i32> = judged.iter().map(|&(_, g)| g).collect();
    let values = measure(&mut retrieved, &grades);
    let run =
        export.map_or_else(Vec::new, |n| top.iter().take(n).map(|&t| (t as usize + offset, row[t as usize])).collect());
    let ranked = Ranked { setting, corpus_lang, values, num_rel: judged.len() as u32, first, last, judged, run };
    SliceRanking { ranked, ranks, top }
}

/// Ranks one query's score row (the whole group) in every setting.
pub(crate) fn rank_row(
    p: &Prepared,
    g: &Group,
    qi: usize,
    row: &mut [f32],
    opts: &EvalOptions,
    export: &[Setting],
) -> Result<RowResult> {
    let q = &p.queries[qi];
    check_finite(row, q.row)?;
    if let Some(own) = q.own_doc.filter(|d| g.docs.contains(d)) {
        row[own - g.docs.start] = f32::NAN;
    }
    let row: &[f32] = row;
    let mut ranked = Vec::new();
    for (c, range) in &g.langs {
        let judged: Vec<(usize, i32)> = q.qrels.iter().copied().filter(|(d, _)| range.contains(d)).collect();
        if judged.is_empty() {
            continue;
        }
        let setting = if *c == q.lang { Setting::Monolingual } else { Setting::Crosslingual };
        let exporting = export.contains(&setting);
        let local = range.start - g.docs.start..range.end - g.docs.start;
        let export = exporting.then_some(opts.run_depth);
        let cover = opts.run_cover;
        let spec = Slice { setting, corpus_lang: Some(*c), offset: range.start, keep: 0, export, cover };
        let cell = rank_slice(&row[local], &p.corpus.ties[range.clone()], judged, spec);
        ranked.push(cell.ranked);
    }
    let spec = Slice {
        setting: Setting::Multilingual,
        corpus_lang: None,
        offset: g.docs.start,
        keep: BIAS_TOP_K,
        export: export.contains(&Setting::Multilingual).then_some(opts.run_depth),
        cover: opts.run_cover,
    };
    let all = rank_slice(row, &p.corpus.ties[g.docs.clone()], q.qrels.clone(), spec);
    let own_in_group = q.own_doc.filter(|d| g.docs.contains(d));
    let pool_size = g.docs.len() - usize::from(own_in_group.is_some());
    let same = g.langs.iter().filter(|(l, _)| *l == q.lang).map(|(_, r)| r.len()).sum::<usize>()
        - usize::from(own_in_group.is_some_and(|d| p.doc_lang[d] == q.lang));
    let pool = PoolRanking {
        query_lang: q.lang,
        relevant: all.ranks.iter().zip(&all.ranked.judged).map(|(&r, &(d, _))| (r, p.doc_lang[d])).collect(),
        top_langs: all.top.iter().take(BIAS_TOP_K).map(|&t| p.doc_lang[t as usize + g.docs.start]).collect(),
        pool_same_share: if pool_size == 0 { 0.0 } else { same as f64 / pool_size as f64 },
    };
    ranked.push(all.ranked);
    Ok(RowResult { query: qi, ranked, pool })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metric;

    fn spec(export: Option<usize>, cover: bool) -> Slice {
        Slice { setting: Setting::Crosslingual, corpus_lang: Some(0), offset: 10, keep: 0, export, cover }
    }

    /// Equal scores go to the larger tie key (the later docid), as trec_eval orders them.
    #[test]
    fn a_slice_is_ranked_in_trec_eval_order_and_exported_to_its_depth() {
        let row = [0.5, 0.9, 0.9, 0.1];
        let ties = [0, 1, 2, 3];
        let judged = vec![(11, 1), (13, 2)];
        let cut = rank_slice(&row, &ties, judged.clone(), spec(Some(1), false));
        assert_eq!(cut.ranks, [2, 4]);
        assert_eq!((cut.ranked.first, cut.ranked.last, cut.ranked.num_rel), (2, 4, 2));
        assert_eq!(cut.ranked.values[Metric::Map as usize], (1.0 / 2.0 + 2.0 / 4.0) / 2.0);
        assert_eq!(cut.ranked.run, [(12, 0.9)], "positions are absolute: offset 10");
        // Covering: down to the lowest-ranked relevant document.
        let covered = rank_slice(&row, &ties, judged.clone(), spec(Some(1), true));
        assert_eq!(covered.ranked.run, [(12, 0.9), (11, 0.9), (10, 0.5), (13, 0.1)]);
        assert_eq!(covered.ranked.values, cut.ranked.values);
        // Not exported: no run; a masked (NaN) document is not ranked at all.
        let masked = rank_slice(&[0.5, 0.9, f32::NAN, 0.1], &ties, judged, spec(None, true));
        assert!(masked.ranked.run.is_empty());
        assert_eq!(masked.ranks, [1, 3]);
    }
}
