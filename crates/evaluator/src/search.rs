//! Exact inner-product search: blocked single-precision matrix products and a partial
//! selection of the best documents per query.
//!
//! Scores for a block of queries against all candidate documents are computed with one
//! threaded `sgemm` call; the block is sized so that its score matrix stays under a memory
//! budget, which bounds memory for any corpus size. The best `k` documents of a row are then
//! found in one pass with a running threshold (most entries are rejected by a single compare)
//! and ordered exactly as trec_eval orders a run: higher score first, and among equal scores
//! the document whose id sorts *later* (byte-wise) first. The id order is passed in as a
//! precomputed integer key per document ("tie key") so that ties cost one integer compare.

use std::cmp::Ordering;

use rayon::prelude::*;

use crate::error::{EvalError, Result};

/// Default upper bound for one block's score matrix (bytes).
pub const DEFAULT_MEMORY_BUDGET: usize = 256 << 20;

/// A retrieved document: its row in the corpus matrix and its score.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Hit {
    /// Row of the document in the matrix the index was built from.
    pub doc: usize,
    /// Inner product with the query.
    pub score: f32,
}

/// Exact top-k search over a fixed matrix of document embeddings (row-major, `dim` columns).
///
/// This is the search used by `polyret search` and measured by `cargo xtask bench search`;
/// the evaluator uses the same kernel and selection.
pub struct ExactIndex {
    docs: Vec<f32>,
    dim: usize,
    ties: Vec<u32>,
    budget: usize,
}

impl ExactIndex {
    /// Builds an index. Among equal scores, lower rows come first (override with
    /// [`ExactIndex::with_tie_keys`]). Errors if the matrix is not `n × dim` or holds
    /// non-finite values.
    pub fn new(docs: Vec<f32>, dim: usize) -> Result<Self> {
        if dim == 0 || !docs.len().is_multiple_of(dim) {
            return Err(EvalError::Run(format!(
                "document matrix has {} values, not a multiple of the dimension {dim}",
                docs.len()
            )));
        }
        if let Some(i) = docs.iter().position(|x| !x.is_finite()) {
            return Err(EvalError::Run(format!("document {} has a non-finite embedding value", i / dim)));
        }
        let n = docs.len() / dim;
        let n32 = u32::try_from(n).map_err(|_| EvalError::Run(format!("{n} documents is more than 2^32")))?;
        Ok(Self { docs, dim, ties: (0..n32).rev().collect(), budget: DEFAULT_MEMORY_BUDGET })
    }

    /// Orders equal scores by `keys` (larger key first) instead of by row; the evaluator
    /// passes each document's position in byte-wise docid order, as trec_eval breaks ties.
    pub fn with_tie_keys(mut self, keys: Vec<u32>) -> Result<Self> {
        if keys.len() != self.len() {
            return Err(EvalError::Run(format!("{} tie keys for {} documents", keys.len(), self.len())));
        }
        self.ties = keys;
        Ok(self)
    }

    /// Caps the bytes of one block's score matrix (at least one query row is always scored).
    pub fn with_memory_budget(mut self, bytes: usize) -> Self {
        self.budget = bytes;
        self
    }

    /// Number of documents.
    pub fn len(&self) -> usize {
        self.ties.len()
    }

    /// Whether the index holds no documents.
    pub fn is_empty(&self) -> bool {
        self.ties.is_empty()
    }

    /// Embedding dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The `k` best documents for every query of `queries` (row-major, `dim` columns), best
    /// first. Errors on a size mismatch or a non-finite score.
    pub fn search(&self, queries: &[f32], k: usize) -> Result<Vec<Vec<Hit>>> {
        if !queries.len().is_multiple_of(self.dim) {
            return Err(EvalError::Run(format!(
                "query matrix has {} values, not a multiple of the dimension {}",
                queries.len(),
                self.dim
            )));
        }
        let nq = queries.len() / self.dim;
        let n = self.len();
        let mut hits = Vec::with_capacity(nq);
        let mut scores = Vec::new();
        for start in (0..nq).step_by(block_rows(n, self.budget)) {
            let rows = block_rows(n, self.budget).min(nq - start);
            let block = &queries[start * self.dim..(start + rows) * self.dim];
            score_block(block, &self.docs, self.dim, &mut scores);
            let found: Vec<Result<Vec<Hit>>> = par_rows(&mut scores, n, |row_index, row| {
                check_finite(row, start + row_index)?;
                let mut top = Vec::new();
                top_k(row, &self.ties, k, &mut top);
                Ok(top.into_iter().map(|d| Hit { doc: d as usize, score: row[d as usize] }).collect())
            });
            for r in found {
                hits.push(r?);
            }
        }
        Ok(hits)
    }
}

/// Query rows per block so that a block of scores against `n_docs` documents fits `budget`.
pub(crate) fn block_rows(n_docs: usize, budget: usize) -> usize {
    (budget / (n_docs.max(1) * size_of::<f32>())).max(1)
}

/// `out = queries · docsᵀ` (`m × n`, row-major) for `queries` (`m × dim`) and `docs`
/// (`n × dim`), with `matrixmultiply`'s threaded sgemm. `out` is resized as needed.
pub(crate) fn score_block(queries: &[f32], docs: &[f32], dim: usize, out: &mut Vec<f32>) {
    let m = queries.len() / dim;
    let n = docs.len() / dim;
    out.clear();
    out.resize(m * n, 0.0);
    if m == 0 || n == 0 {
        return;
    }
    let (d, n_i) = (dim as isize, n as isize);
    // SAFETY: A is m×dim with row stride dim, B = docsᵀ is dim×n read as (row k, column j) =
    // docs[j·dim + k], C is m×n with row stride n; all three slices hold exactly those sizes.
    unsafe {
        matrixmultiply::sgemm(
            m,
            dim,
            n,
            1.0,
            queries.as_ptr(),
            d,
            1,
            docs.as_ptr(),
            1,
            d,
            0.0,
            out.as_mut_ptr(),
            n_i,
            1,
        );
    }
}

/// Errors if a score row holds NaN or ±inf (a broken embedding would otherwise rank silently).
pub(crate) fn check_finite(row: &[f32], query: usize) -> Result<()> {
    if row.iter().fold(true, |ok, x| ok & x.is_finite()) {
        Ok(())
    } else {
        Err(EvalError::Run(format!("query {query} has a non-finite score (NaN or infinite)")))
    }
}

/// Runs `f(row_index, row)` over the `n`-wide rows of `scores` on rayon's pool, results in row
/// order.
pub(crate) fn par_rows<R: Send>(scores: &mut [f32], n: usize, f: impl Fn(usize, &mut [f32]) -> R + Sync) -> Vec<R> {
    if n == 0 {
        return Vec::new();
    }
    scores.par_chunks_mut(n).enumerate().map(|(i, row)| f(i, row)).collect()
}

/// Gathers rows of `matrix` (width `dim`) into one contiguous block.
pub(crate) fn gather(matrix: &[f32], dim: usize, rows: impl Iterator<Item = usize>) -> Vec<f32> {
    rows.flat_map(|r| &matrix[r * dim..(r + 1) * dim]).copied().collect()
}

/// trec_eval's order: higher score first, then larger tie key (later docid) first.
#[inline]
fn order(scores: &[f32], ties: &[u32], a: u32, b: u32) -> Ordering {
    let (a, b) = (a as usize, b as usize);
    scores[b].partial_cmp(&scores[a]).unwrap_or(Ordering::Equal).then(ties[b].cmp(&ties[a]))
}

/// Keeps the best `k` of `cand` (unordered) and returns the score of the worst kept one.
fn shrink(scores: &[f32], ties: &[u32], cand: &mut Vec<u32>, k: usize) -> f32 {
    if cand.len() > k {
        cand.select_nth_unstable_by(k - 1, |&a, &b| order(scores, ties, a, b));
        cand.truncate(k);
    }
    cand.iter().map(|&c| scores[c as usize]).fold(f32::INFINITY, f32::min)
}

/// The `k` best entries of `scores` as indices, best first, in trec_eval's order. NaN entries
/// are skipped: the evaluator marks a query's own document with NaN to exclude it.
pub(crate) fn top_k(scores: &[f32], ties: &[u32], k: usize, out: &mut Vec<u32>) {
    const LANES: usize = 16;
    out.clear();
    if k == 0 {
        return;
    }
    let cap = (2 * k).max(256);
    let mut threshold = f32::NEG_INFINITY;
    for (c, chunk) in scores.chunks(LANES).enumerate() {
        // Branch-free test of the whole chunk; NaN never passes `>=`.
        if !chunk.iter().fold(false, |any, &x| any | (x >= threshold)) {
            continue;
        }
        for (i, &x) in chunk.iter().enumerate() {
            if x >= threshold {
                out.push((c * LANES + i) as u32);
            }
        }
        if out.len() >= cap {
            threshold = shrink(scores, ties, out, k);
        }
    }
    shrink(scores, ties, out, k);
    out.sort_unstable_by(|&a, &b| order(scores, ties, a, b));
}

/// 1-based rank of entry `j` among the non-NaN entries of `scores`, in trec_eval's order.
pub(crate) fn rank_of(scores: &[f32], ties: &[u32], j: usize) -> u32 {
    let s = scores[j];
    let (mut above, mut equal) = (0u32, 0u32);
    for &x in scores {
        above += u32::from(x > s);
        equal += u32::from(x == s);
    }
    if equal > 1 {
        above += scores.iter().zip(ties).filter(|&(&x, &t)| x == s && t > ties[j]).count() as u32;
    }
    above + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference: full sort in trec_eval's order.
    fn sorted(scores: &[f32], ties: &[u32]) -> Vec<u32> {
        let mut all: Vec<u32> = (0..scores.len() as u32).filter(|&i| !scores[i as usize].is_nan()).collect();
        all.sort_by(|&a, &b| order(scores, ties, a, b));
        all
    }

    fn pseudo_random(n: usize, seed: u64, levels: u64) -> Vec<f32> {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s % levels) as f32 / levels as f32 - 0.5
            })
            .collect()
    }

    #[test]
    fn top_k_matches_full_sort_with_many_ties_and_exclusions() {
        for (n, k, levels) in [(1000, 10, 7), (5000, 100, 50), (300, 300, 3), (50, 100, 1_000_000), (2000, 1, 2)] {
            let mut scores = pseudo_random(n, n as u64 + k as u64, levels);
            scores[n / 3] = f32::NAN;
            let ties: Vec<u32> = pseudo_random(n, 7, u64::MAX).iter().map(|x| x.to_bits()).collect();
            let mut got = Vec::new();
            top_k(&scores, &ties, k, &mut got);
            let mut expect = sorted(&scores, &ties);
            expect.truncate(k);
            assert_eq!(got, expect, "n={n} k={k} levels={levels}");
        }
    }

    #[test]
    fn rank_of_agrees_with_full_sort() {
        let mut scores = pseudo_random(700, 3, 5);
        scores[10] = f32::NAN;
        let ties: Vec<u32> = (0..700).map(|i| (i * 7919 % 701) as u32).collect();
        let full = sorted(&scores, &ties);
        for (pos, &j) in full.iter().enumerate().step_by(37) {
            assert_eq!(rank_of(&scores, &ties, j as usize), pos as u32 + 1);
        }
    }

    #[test]
    fn ties_put_the_larger_key_first() {
        let scores = [0.5, 0.5, 0.9, 0.5];
        let mut got = Vec::new();
        top_k(&scores, &[2, 9, 0, 4], 4, &mut got);
        assert_eq!(got, vec![2, 1, 3, 0]);
    }

    #[test]
    fn index_search_matches_brute_force_across_blocks() {
        let dim = 8;
        let docs = pseudo_random(300 * dim, 11, 1000);
        let queries = pseudo_random(37 * dim, 12, 1000);
        // A budget of three rows forces many blocks.
        let index = ExactIndex::new(docs.clone(), dim).unwrap().with_memory_budget(3 * 300 * 4);
        let hits = index.search(&queries, 5).unwrap();
        assert_eq!(hits.len(), 37);
        for (q, found) in hits.iter().enumerate() {
            let scores: Vec<f32> =
                (0..300).map(|d| (0..dim).map(|i| queries[q * dim + i] * docs[d * dim + i]).sum()).collect();
            let expect = sorted(&scores, &(0..300u32).rev().collect::<Vec<_>>());
            let got: Vec<usize> = found.iter().map(|h| h.doc).collect();
            // sgemm may sum in another order than this loop: compare scores, not just ids.
            for (g, e) in got.iter().zip(&expect) {
                assert!((scores[*g] - scores[*e as usize]).abs() < 1e-5, "query {q}: {got:?}");
            }
        }
    }

    #[test]
    fn rows_come_back_in_order() {
        let mut scores: Vec<f32> = (0..1000 * 3).map(|x| x as f32).collect();
        let firsts = par_rows(&mut scores, 3, |i, row| {
            row[0] = -1.0;
            (i, row[1])
        });
        assert_eq!(firsts, (0..1000).map(|i| (i, (i * 3 + 1) as f32)).collect::<Vec<_>>());
        assert!(scores.chunks(3).all(|row| row[0] == -1.0));
        assert!(par_rows(&mut [], 0, |i, _| i).is_empty());
    }

    #[test]
    fn bad_inputs_are_errors() {
        assert!(ExactIndex::new(vec![0.0; 10], 3).is_err());
        assert!(ExactIndex::new(vec![f32::NAN, 0.0], 2).is_err());
        let index = ExactIndex::new(vec![1.0, 0.0, 0.0, 1.0], 2).unwrap();
        assert!(index.search(&[1.0, 2.0, 3.0], 1).is_err());
        let err = index.search(&[f32::INFINITY, 0.0], 1).unwrap_err();
        assert!(err.to_string().contains("non-finite"), "{err}");
        assert!(index.with_tie_keys(vec![1]).is_err());
    }
}
