//! Training tables with one row per pair, the layout of sentence-transformers datasets.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;

use crate::config::SamplerConfig;
use crate::error::{SamplerError, Side};
use crate::index::{GroupIdx, GroupIndex, LangId};
use crate::sampler::{Batch, PairRef, Sampler, StreamKind};
use crate::state::SamplerState;

/// A training table with one row per (query, positive) pair — the layout of a
/// sentence-transformers dataset — indexed for the sampler, so that a batch becomes a list of
/// row numbers.
///
/// Rows with the same `(source, group_id)` form one group, as in [`GroupIndex::from_rows`]; the
/// group's query and passage languages are those of its rows. Unlike a parallel table, where a
/// cross-lingual pair joins the query of one row with the passage of another, here every pair
/// the sampler draws must be a row of its own: [`PairTable::sampler`] checks that the table
/// holds every pair the configured strategy can draw, and [`expand_parallel`] turns a parallel
/// table into such a table.
///
/// Groups, languages and sources are numbered in first-seen row order, as
/// [`GroupIndex::from_rows`] numbers them, so a table whose rows are a parallel table (one
/// monolingual row per group and language), or [`expand_parallel`]'s expansion of one, gives
/// exactly the batches the parallel table gives (`polyret sample`).
#[derive(Debug)]
pub struct PairTable {
    index: Arc<GroupIndex>,
    /// `offsets[g]..offsets[g + 1]` is group `g`'s slice of `pairs`.
    offsets: Vec<u32>,
    /// (query language, passage language, row), sorted within each group.
    pairs: Vec<(LangId, LangId, u32)>,
}

impl PairTable {
    /// Indexes the rows of a pair table: `(group_id, query_lang, passage_lang, source)`.
    ///
    /// Errors when a group has the same (query language, passage language) pair twice, on an
    /// empty group id or language code, or when `rows` is empty.
    pub fn from_rows<'a>(
        rows: impl IntoIterator<Item = (&'a str, &'a str, &'a str, &'a str)>,
    ) -> Result<PairTable, SamplerError> {
        struct Pending<'a> {
            id: &'a str,
            source: &'a str,
            pairs: Vec<(LangId, LangId, u32)>,
        }
        let mut builder = GroupIndex::builder();
        // Codes by language id: interning here, in row order, numbers the languages as
        // `GroupIndex::from_rows` does; `add_group` below then finds them interned.
        let mut codes: Vec<&'a str> = Vec::new();
        let mut slots: HashMap<(u32, &'a str), usize> = HashMap::new();
        let mut pending: Vec<Pending<'a>> = Vec::new();
        for (row, (group, query_lang, passage_lang, source)) in rows.into_iter().enumerate() {
            let row = u32::try_from(row).ok().filter(|&r| r != u32::MAX).ok_or(SamplerError::TooManyRows)?;
            if group.is_empty() {
                return Err(SamplerError::EmptyGroupId { source_name: source.to_owned() });
            }
            let source_id = builder.intern_source(source)?;
            let mut lang = |code: &'a str| -> Result<LangId, SamplerError> {
                let id = builder.intern_lang(code, group)?;
                if id.index() == codes.len() {
                    codes.push(code);
                }
                Ok(id)
            };
            let pair = (lang(query_lang)?, lang(passage_lang)?, row);
            let slot = *slots.entry((source_id, group)).or_insert_with(|| {
                pending.push(Pending { id: group, source, pairs: Vec::new() });
                pending.len() - 1
            });
            pending[slot].pairs.push(pair);
        }

        let mut offsets = vec![0u32];
        let mut pairs = Vec::new();
        for mut group in pending {
            // Sorted by (query, passage, row): a repeated pair is adjacent, earlier row first.
            group.pairs.sort_unstable();
            if let Some(w) = group.pairs.windows(2).find(|w| (w[0].0, w[0].1) == (w[1].0, w[1].1)) {
                return Err(SamplerError::DuplicatePair {
                    group: group.id.to_owned(),
                    source_name: group.source.to_owned(),
                    query_lang: codes[w[0].0.index()].to_owned(),
                    passage_lang: codes[w[0].1.index()].to_owned(),
                    rows: (w[0].2 as usize, w[1].2 as usize),
                });
            }
            let side = |lang: fn(&(LangId, LangId, u32)) -> LangId| {
                let mut langs: Vec<LangId> = group.pairs.iter().map(lang).collect();
                langs.sort_unstable();
                langs.dedup();
                langs.into_iter().map(|l| codes[l.index()]).collect::<Vec<&str>>()
            };
            builder.add_group(group.id, group.source, &side(|p| p.0), &side(|p| p.1))?;
            pairs.extend(group.pairs);
            offsets.push(u32::try_from(pairs.len()).map_err(|_| SamplerError::TooManyRows)?);
        }
        Ok(PairTable { index: Arc::new(builder.build()?), offsets, pairs })
    }

    /// The groups of the table, for [`Sampler::new`] and for resolving batches. Its
    /// [`GroupIndex::query_row`] and [`GroupIndex::passage_row`] are `None`: a row here holds a
    /// pair, found with [`PairTable::row`].
    pub fn index(&self) -> &Arc<GroupIndex> {
        &self.index
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Whether the table has no rows (never true for a built table; for API completeness).
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// The row holding `pair`, `None` when the table has no such row.
    pub fn row(&self, pair: &PairRef) -> Option<usize> {
        let g = pair.group.index();
        let group = self.pairs.get(*self.offsets.get(g)? as usize..*self.offsets.get(g + 1)? as usize)?;
        let at = group.binary_search_by_key(&(pair.query_lang, pair.passage_lang), |&(q, p, _)| (q, p)).ok()?;
        Some(group[at].2 as usize)
    }

    /// The rows of a batch, in the batch's order. Errors on a pair the table lacks, which only
    /// a batch from another table's sampler can hold.
    pub fn rows(&self, batch: &Batch) -> Result<Vec<usize>, SamplerError> {
        let kind = match batch.kind {
            crate::BatchKind::Cross => StreamKind::Cross,
            crate::BatchKind::Mono | crate::BatchKind::Mixed => StreamKind::Mono,
        };
        batch.pairs.iter().map(|pair| self.row(pair).ok_or_else(|| self.missing(kind, pair, 1))).collect()
    }

    /// A sampler over the table at batch 0, after checking that the table holds every pair it
    /// can draw ([`SamplerError::MissingPair`] otherwise).
    pub fn sampler(&self, config: SamplerConfig) -> Result<Sampler, SamplerError> {
        let sampler = Sampler::new(Arc::clone(&self.index), config)?;
        self.check(&sampler)?;
        Ok(sampler)
    }

    /// [`Sampler::resume`] over the table, with the same check as [`PairTable::sampler`].
    pub fn resume(&self, config: SamplerConfig, state: SamplerState) -> Result<Sampler, SamplerError> {
        let sampler = Sampler::resume(Arc::clone(&self.index), config, state)?;
        self.check(&sampler)?;
        Ok(sampler)
    }

    /// Errors with the first missing pair and the number of them when the table lacks a pair
    /// the sampler's streams can give: a mono stream of `X` draws `(g, X, X)`, a cross stream of
    /// `X` draws `(g, X, Y)` for every other passage language `Y` of `g`.
    fn check(&self, sampler: &Sampler) -> Result<(), SamplerError> {
        let mut first: Option<(StreamKind, PairRef)> = None;
        let mut missing = 0usize;
        for (kind, lang, groups) in sampler.stream_groups() {
            for group in groups.iter().map(|&g| GroupIdx(g)) {
                let passages: &[LangId] = match kind {
                    StreamKind::Mono => std::slice::from_ref(&lang),
                    StreamKind::Cross => self.index.passage_langs(group),
                };
                for &passage_lang in passages.iter().filter(|&&p| kind == StreamKind::Mono || p != lang) {
                    let pair = PairRef { group, query_lang: lang, passage_lang };
                    if self.row(&pair).is_none() {
                        missing += 1;
                        first.get_or_insert((kind, pair));
                    }
                }
            }
        }
        match first {
            Some((kind, pair)) => Err(self.missing(kind, &pair, missing)),
            None => Ok(()),
        }
    }

    fn missing(&self, kind: StreamKind, pair: &PairRef, missing: usize) -> SamplerError {
        let index = &self.index;
        SamplerError::MissingPair {
            kind,
            group: index.group_id(pair.group).to_owned(),
            source_name: index.group_source(pair.group).to_owned(),
            query_lang: index.lang_code(pair.query_lang).to_owned(),
            passage_lang: index.lang_code(pair.passage_lang).to_owned(),
            missing,
        }
    }
}

/// The pairs of a parallel table — one row per group and language: `(group_id, lang, source)` —
/// as `(query row, passage row)` index pairs: every row of a group with every row of the same
/// group, itself included, so every (query language, passage language) combination of a group
/// is one pair.
///
/// Order: first each row with itself, in table order, then the cross-lingual pairs by query
/// row and passage row. A pair table built in this order begins with the parallel table's own
/// rows, so [`PairTable::from_rows`] numbers groups and languages as the parallel table does and
/// its sampler draws the same batches. Errors when a group has a language twice.
pub fn expand_parallel<'a>(
    rows: impl IntoIterator<Item = (&'a str, &'a str, &'a str)>,
) -> Result<Vec<(usize, usize)>, SamplerError> {
    let mut groups: HashMap<(&'a str, &'a str), Vec<(&'a str, usize)>> = HashMap::new();
    let mut group_of: Vec<(&'a str, &'a str)> = Vec::new();
    for (row, (group, lang, source)) in rows.into_iter().enumerate() {
        let members = match groups.entry((source, group)) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => e.insert(Vec::new()),
        };
        if let Some(&(_, first)) = members.iter().find(|&&(l, _)| l == lang) {
            return Err(SamplerError::DuplicateLanguage {
                group: group.to_owned(),
                source_name: source.to_owned(),
                side: Side::Query,
                lang: lang.to_owned(),
                rows: Some((first, row)),
            });
        }
        members.push((lang, row));
        group_of.push((source, group));
    }
    let diagonal = (0..group_of.len()).map(|r| (r, r));
    let cross = group_of
        .iter()
        .enumerate()
        .flat_map(|(q, key)| groups[key].iter().filter(move |&&(_, p)| p != q).map(move |&(_, p)| (q, p)));
    Ok(diagonal.chain(cross).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AlphaSchedule, Strategy};

    /// 10 groups in en, de and ar, rows interleaved across groups so that first-seen order
    /// matters: row order (lang, group) rather than (group, lang).
    fn parallel() -> Vec<(String, String)> {
        ["de", "en", "ar"].iter().flat_map(|l| (0..10).map(move |g| (format!("q{g}"), l.to_string()))).collect()
    }

    fn hybrid() -> SamplerConfig {
        SamplerConfig::new(Strategy::Hybrid { alpha: AlphaSchedule::Constant(0.5) }, 4, 7)
    }

    #[test]
    fn expanded_parallel_rows_give_the_parallel_tables_batches() {
        let rows = parallel();
        let index =
            Arc::new(GroupIndex::from_rows(rows.iter().map(|(g, l)| (&g[..], &l[..], &l[..], "xquad"))).unwrap());
        let expected: Vec<Batch> = Sampler::new(index, hybrid()).unwrap().take(50).collect();

        let pairs = expand_parallel(rows.iter().map(|(g, l)| (&g[..], &l[..], "xquad"))).unwrap();
        assert_eq!(pairs.len(), 10 * 3 * 3);
        assert_eq!(&pairs[..3], [(0, 0), (1, 1), (2, 2)]);
        let table_rows: Vec<(&str, &str, &str)> =
            pairs.iter().map(|&(q, p)| (&rows[q].0[..], &rows[q].1[..], &rows[p].1[..])).collect();
        let table = PairTable::from_rows(table_rows.iter().map(|&(g, q, p)| (g, q, p, "xquad"))).unwrap();
        assert_eq!(table.len(), 90);
        let mut sampler = table.sampler(hybrid()).unwrap();
        for want in expected {
            let batch = sampler.next_batch();
            assert_eq!(batch, want);
            for (row, pair) in table.rows(&batch).unwrap().into_iter().zip(&batch.pairs) {
                let (group, query_lang, passage_lang) = table_rows[row];
                assert_eq!(group, table.index().group_id(pair.group));
                assert_eq!(query_lang, table.index().lang_code(pair.query_lang));
                assert_eq!(passage_lang, table.index().lang_code(pair.passage_lang));
            }
        }
    }

    #[test]
    fn a_table_without_cross_rows_serves_mono_strategies_and_refuses_cross_ones() {
        let rows = parallel();
        let table = PairTable::from_rows(rows.iter().map(|(g, l)| (&g[..], &l[..], &l[..], "xquad"))).unwrap();
        let mut mono = table.sampler(SamplerConfig::new(Strategy::XXMono, 4, 1)).unwrap();
        let batch = mono.next_batch();
        let batch_rows = table.rows(&batch).unwrap();
        assert!(batch_rows.iter().all(|&r| rows[r].1 == table.index().lang_code(batch.pairs[0].query_lang)));

        let err = table.sampler(hybrid()).unwrap_err();
        let SamplerError::MissingPair { kind: StreamKind::Cross, missing, .. } = &err else { panic!("{err:?}") };
        assert_eq!(*missing, 10 * 3 * 2);
        let msg = err.to_string();
        assert!(msg.contains("group `q0`") && msg.contains("nor for 59 other pairs"), "{msg}");
        assert!(msg.contains("expand_parallel"), "{msg}");
    }

    #[test]
    fn repeated_pairs_and_languages_name_their_rows() {
        let rows = [("g", "en", "de", "s"), ("h", "en", "de", "s"), ("g", "en", "de", "s")];
        let err = PairTable::from_rows(rows).unwrap_err();
        assert!(matches!(&err, SamplerError::DuplicatePair { rows: (0, 2), .. }), "{err:?}");
        assert!(err.to_string().contains("`en`") && err.to_string().contains("rows 0 and 2"), "{err}");
        // The same pair in another source is another group.
        assert!(PairTable::from_rows([("g", "en", "de", "s"), ("g", "en", "de", "t")]).is_ok());

        let err = expand_parallel([("g", "en", "s"), ("g", "de", "s"), ("g", "en", "s")]).unwrap_err();
        assert!(err.to_string().contains("rows 0 and 2"), "{err}");
        assert!(matches!(PairTable::from_rows([("", "en", "en", "s")]), Err(SamplerError::EmptyGroupId { .. })));
        assert!(matches!(PairTable::from_rows(std::iter::empty()), Err(SamplerError::EmptyIndex)));
    }

    #[test]
    fn row_lookup_misses_pairs_the_table_lacks() {
        let table = PairTable::from_rows([("g", "en", "de", "s"), ("g", "de", "en", "s")]).unwrap();
        let (en, de) = (table.index().lang_id("en").unwrap(), table.index().lang_id("de").unwrap());
        let pair = |q, p| PairRef { group: GroupIdx(0), query_lang: q, passage_lang: p };
        assert_eq!(table.row(&pair(de, en)), Some(1));
        assert_eq!(table.row(&pair(en, en)), None);
        assert_eq!(table.row(&PairRef { group: GroupIdx(5), ..pair(en, de) }), None);
    }
}
