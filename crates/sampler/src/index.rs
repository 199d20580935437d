//! The groups the sampler draws from, with interned languages.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use crate::error::{SamplerError, Side};
use crate::rng::Fnv;

/// An interned language code. Small and `Copy` so that batches of pairs stay compact; turn it
/// back into a code with [`GroupIndex::lang_code`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LangId(pub u16);

impl LangId {
    /// Position in the index's language table, for indexing per-language arrays.
    pub fn index(self) -> usize {
        usize::from(self.0)
    }
}

/// Position of a group in a [`GroupIndex`] (insertion order). Resolve it with
/// [`GroupIndex::group_id`] and [`GroupIndex::group_source`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupIdx(pub u32);

impl GroupIdx {
    /// Position as a `usize`, for indexing per-group arrays.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// Marks a language slot that was added without a row number ([`GroupIndexBuilder::add_group`]).
const NO_ROW: u32 = u32::MAX;

/// Per-group language lists in one flat array (one allocation instead of one per group).
#[derive(Debug)]
struct LangLists {
    /// `offsets[g]..offsets[g + 1]` is group `g`'s slice of `langs` and `rows`.
    offsets: Vec<u32>,
    /// Sorted within each group, so membership is a binary search.
    langs: Vec<LangId>,
    /// Input row of each language slot (from [`GroupIndex::from_rows`]) or [`NO_ROW`].
    rows: Vec<u32>,
}

impl Default for LangLists {
    /// No groups: one offset, the start of group 0.
    fn default() -> Self {
        Self { offsets: vec![0], langs: Vec::new(), rows: Vec::new() }
    }
}

impl LangLists {
    fn range(&self, g: GroupIdx) -> std::ops::Range<usize> {
        self.offsets[g.index()] as usize..self.offsets[g.index() + 1] as usize
    }

    fn langs(&self, g: GroupIdx) -> &[LangId] {
        &self.langs[self.range(g)]
    }

    fn row(&self, g: GroupIdx, lang: LangId) -> Option<usize> {
        let range = self.range(g);
        let at = self.langs[range.clone()].binary_search(&lang).ok()?;
        let row = self.rows[range.start + at];
        (row != NO_ROW).then_some(row as usize)
    }
}

/// Every training group with the languages it can be queried in and retrieved in.
///
/// A *group* is one item in all the languages it exists in: an XQuAD question (with its answer
/// sentence) in 12 languages, a Multi30K image's captions in 4, or a single `(query, passage)`
/// pair of a JSONL file, whose query language and passage language are fixed. A training pair
/// `(g, X, Y)` is the query of `g` in language `X` with the passage of `g` in language `Y`, so
/// any of `g`'s query languages can be paired with any of its passage languages.
///
/// Groups are keyed by `(source, id)`: equal ids from different sources are different groups.
/// Build one with [`GroupIndex::builder`] or, from the rows of a pairs table,
/// [`GroupIndex::from_rows`]. It is immutable and shared (`Arc`) by samplers.
#[derive(Debug)]
pub struct GroupIndex {
    langs: Vec<String>,
    lang_ids: HashMap<String, LangId>,
    sources: Vec<String>,
    group_ids: Vec<String>,
    group_sources: Vec<u32>,
    query: LangLists,
    passage: LangLists,
    fingerprint: u64,
}

impl GroupIndex {
    /// Starts an empty index; add groups one by one.
    pub fn builder() -> GroupIndexBuilder {
        GroupIndexBuilder::default()
    }

    /// Groups the rows of a pairs table: `(group_id, query_lang, passage_lang, source)`.
    ///
    /// Rows with the same `(source, group_id)` form one group whose query languages are the
    /// rows' query languages and whose passage languages are the rows' passage languages; so
    /// the monolingual rows of a parallel source (one per language) become one parallel group,
    /// and a plain pair row becomes a group of one `(query, passage)` language pair.
    ///
    /// The row numbers (0-based position in `rows`) are kept: [`GroupIndex::query_row`] and
    /// [`GroupIndex::passage_row`] find the row holding a sampled pair's query and passage.
    ///
    /// Errors when two rows of one group share a query language or a passage language (which
    /// row would a pair use?), on an empty group id or language code, or when `rows` is empty.
    pub fn from_rows<'a>(
        rows: impl IntoIterator<Item = (&'a str, &'a str, &'a str, &'a str)>,
    ) -> Result<GroupIndex, SamplerError> {
        struct Pending<'a> {
            id: &'a str,
            source: u32,
            query: Vec<(LangId, u32)>,
            passage: Vec<(LangId, u32)>,
        }
        let mut builder = GroupIndex::builder();
        let mut slots: HashMap<(u32, &'a str), usize> = HashMap::new();
        let mut pending: Vec<Pending<'a>> = Vec::new();
        for (row, (group, query_lang, passage_lang, source)) in rows.into_iter().enumerate() {
            let row = u32::try_from(row).ok().filter(|&r| r != NO_ROW).ok_or(SamplerError::TooManyRows)?;
            if group.is_empty() {
                return Err(SamplerError::EmptyGroupId { source_name: source.to_owned() });
            }
            let source = builder.intern_source(source)?;
            let query_lang = builder.intern_lang(query_lang, group)?;
            let passage_lang = builder.intern_lang(passage_lang, group)?;
            let slot = match slots.entry((source, group)) {
                Entry::Occupied(e) => *e.get(),
                Entry::Vacant(e) => {
                    pending.push(Pending { id: group, source, query: Vec::new(), passage: Vec::new() });
                    *e.insert(pending.len() - 1)
                }
            };
            pending[slot].query.push((query_lang, row));
            pending[slot].passage.push((passage_lang, row));
        }
        for group in pending {
            builder.push_group(group.id, group.source, group.query, group.passage)?;
        }
        builder.build()
    }

    /// Number of groups.
    pub fn len(&self) -> usize {
        self.group_ids.len()
    }

    /// Whether the index has no groups (never true for a built index; for API completeness).
    pub fn is_empty(&self) -> bool {
        self.group_ids.is_empty()
    }

    /// Number of distinct language codes.
    pub fn num_languages(&self) -> usize {
        self.langs.len()
    }

    /// All languages, in interning (first-seen) order.
    pub fn languages(&self) -> impl ExactSizeIterator<Item = (LangId, &str)> + '_ {
        self.langs.iter().enumerate().map(|(i, code)| (LangId(i as u16), code.as_str()))
    }

    /// The id of a language code, `None` when no group has it.
    pub fn lang_id(&self, code: &str) -> Option<LangId> {
        self.lang_ids.get(code).copied()
    }

    /// The code of an interned language. Panics on an id from another index.
    pub fn lang_code(&self, id: LangId) -> &str {
        &self.langs[id.index()]
    }

    /// The group's id as given (`group_id` column).
    pub fn group_id(&self, g: GroupIdx) -> &str {
        &self.group_ids[g.index()]
    }

    /// The group's source name (`source` column).
    pub fn group_source(&self, g: GroupIdx) -> &str {
        &self.sources[self.source_of(g) as usize]
    }

    /// Languages the group can be queried in, sorted by id.
    pub fn query_langs(&self, g: GroupIdx) -> &[LangId] {
        self.query.langs(g)
    }

    /// Languages the group can be retrieved in, sorted by id.
    pub fn passage_langs(&self, g: GroupIdx) -> &[LangId] {
        self.passage.langs(g)
    }

    /// The input row (of [`GroupIndex::from_rows`]) that holds the group's query in `lang`;
    /// `None` for groups added with [`GroupIndexBuilder::add_group`] or a language the group
    /// lacks.
    pub fn query_row(&self, g: GroupIdx, lang: LangId) -> Option<usize> {
        self.query.row(g, lang)
    }

    /// The input row (of [`GroupIndex::from_rows`]) that holds the group's passage in `lang`.
    pub fn passage_row(&self, g: GroupIdx, lang: LangId) -> Option<usize> {
        self.passage.row(g, lang)
    }

    /// Distinct source names, in first-seen order.
    pub fn sources(&self) -> &[String] {
        &self.sources
    }

    /// Source position (into [`GroupIndex::sources`]) of a group.
    pub(crate) fn source_of(&self, g: GroupIdx) -> u32 {
        self.group_sources[g.index()]
    }

    /// Stable hash of the whole index, stored in sampler states to refuse resuming on other data.
    pub(crate) fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    fn compute_fingerprint(&self) -> u64 {
        let mut h = Fnv::new();
        h.u64(self.len() as u64);
        for g in (0..self.len() as u32).map(GroupIdx) {
            h.str(self.group_id(g)).str(self.group_source(g));
            for side in [self.query_langs(g), self.passage_langs(g)] {
                h.u64(side.len() as u64);
                for &l in side {
                    h.str(self.lang_code(l));
                }
            }
        }
        h.finish()
    }
}

/// Collects groups for a [`GroupIndex`]; see [`GroupIndex::builder`].
#[derive(Debug, Default)]
pub struct GroupIndexBuilder {
    langs: Vec<String>,
    lang_ids: HashMap<String, LangId>,
    sources: Vec<String>,
    source_ids: HashMap<String, u32>,
    keys: HashMap<(u32, String), GroupIdx>,
    group_ids: Vec<String>,
    group_sources: Vec<u32>,
    query: LangLists,
    passage: LangLists,
}

impl GroupIndexBuilder {
    /// Adds a group that can be queried in `query_langs` and retrieved in `passage_langs`.
    ///
    /// A parallel group lists the same languages on both sides; a plain pair lists one on each.
    /// Errors on an empty id, code or language list, a language listed twice on one side, or a
    /// `(source, id)` added before.
    pub fn add_group(
        &mut self,
        id: &str,
        source: &str,
        query_langs: &[&str],
        passage_langs: &[&str],
    ) -> Result<GroupIdx, SamplerError> {
        if id.is_empty() {
            return Err(SamplerError::EmptyGroupId { source_name: source.to_owned() });
        }
        let interned = (self.langs.len(), self.sources.len());
        let result = self.intern_and_push(id, source, query_langs, passage_langs);
        if result.is_err() {
            // A rejected group must not leave its new languages or source behind.
            for code in self.langs.drain(interned.0..) {
                self.lang_ids.remove(&code);
            }
            for name in self.sources.drain(interned.1..) {
                self.source_ids.remove(&name);
            }
        }
        result
    }

    /// Finishes the index. Errors when no group was added.
    pub fn build(self) -> Result<GroupIndex, SamplerError> {
        if self.group_ids.is_empty() {
            return Err(SamplerError::EmptyIndex);
        }
        let mut index = GroupIndex {
            langs: self.langs,
            lang_ids: self.lang_ids,
            sources: self.sources,
            group_ids: self.group_ids,
            group_sources: self.group_sources,
            query: self.query,
            passage: self.passage,
            fingerprint: 0,
        };
        index.fingerprint = index.compute_fingerprint();
        Ok(index)
    }

    fn intern_and_push(
        &mut self,
        id: &str,
        source: &str,
        query_langs: &[&str],
        passage_langs: &[&str],
    ) -> Result<GroupIdx, SamplerError> {
        let source = self.intern_source(source)?;
        let mut side = |codes: &[&str]| -> Result<Vec<(LangId, u32)>, SamplerError> {
            codes.iter().map(|code| Ok((self.intern_lang(code, id)?, NO_ROW))).collect()
        };
        let query = side(query_langs)?;
        let passage = side(passage_langs)?;
        self.push_group(id, source, query, passage)
    }

    pub(crate) fn intern_source(&mut self, source: &str) -> Result<u32, SamplerError> {
        if let Some(&id) = self.source_ids.get(source) {
            return Ok(id);
        }
        let id = u32::try_from(self.sources.len()).map_err(|_| SamplerError::TooManySources)?;
        self.sources.push(source.to_owned());
        self.source_ids.insert(source.to_owned(), id);
        Ok(id)
    }

    pub(crate) fn intern_lang(&mut self, code: &str, group: &str) -> Result<LangId, SamplerError> {
        if code.is_empty() {
            return Err(SamplerError::EmptyLanguageCode { group: group.to_owned() });
        }
        if let Some(&id) = self.lang_ids.get(code) {
            return Ok(id);
        }
        let id = LangId(u16::try_from(self.langs.len()).map_err(|_| SamplerError::TooManyLanguages)?);
        self.langs.push(code.to_owned());
        self.lang_ids.insert(code.to_owned(), id);
        Ok(id)
    }

    /// Adds a group from interned parts; the languages of each side must be distinct.
    fn push_group(
        &mut self,
        id: &str,
        source: u32,
        mut query: Vec<(LangId, u32)>,
        mut passage: Vec<(LangId, u32)>,
    ) -> Result<GroupIdx, SamplerError> {
        let g = GroupIdx(u32::try_from(self.group_ids.len()).map_err(|_| SamplerError::TooManyGroups)?);
        for (side, langs) in [(Side::Query, &mut query), (Side::Passage, &mut passage)] {
            if langs.is_empty() {
                return Err(SamplerError::NoLanguages {
                    group: id.to_owned(),
                    source_name: self.sources[source as usize].clone(),
                    side,
                });
            }
            // Stable sort: equal languages keep input order, so the error names rows in order.
            langs.sort_by_key(|&(lang, _)| lang);
            if let Some(w) = langs.windows(2).find(|w| w[0].0 == w[1].0) {
                let rows = (w[0].1 != NO_ROW).then(|| (w[0].1 as usize, w[1].1 as usize));
                return Err(SamplerError::DuplicateLanguage {
                    group: id.to_owned(),
                    source_name: self.sources[source as usize].clone(),
                    side,
                    lang: self.langs[w[0].0.index()].clone(),
                    rows,
                });
            }
        }
        // Offsets are u32: check they fit before changing anything.
        for (lists, langs) in [(&self.query, &query), (&self.passage, &passage)] {
            if u32::try_from(lists.langs.len() + langs.len()).is_err() {
                return Err(SamplerError::TooManyRows);
            }
        }
        match self.keys.entry((source, id.to_owned())) {
            Entry::Occupied(_) => {
                return Err(SamplerError::DuplicateGroup {
                    group: id.to_owned(),
                    source_name: self.sources[source as usize].clone(),
                });
            }
            Entry::Vacant(e) => {
                e.insert(g);
            }
        }
        self.group_ids.push(id.to_owned());
        self.group_sources.push(source);
        for (lists, langs) in [(&mut self.query, query), (&mut self.passage, passage)] {
            for (lang, row) in langs {
                lists.langs.push(lang);
                lists.rows.push(row);
            }
            lists.offsets.push(lists.langs.len() as u32); // checked above
        }
        Ok(g)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(index: &GroupIndex, langs: &[LangId]) -> Vec<String> {
        langs.iter().map(|&l| index.lang_code(l).to_owned()).collect()
    }

    #[test]
    fn parallel_rows_become_one_group_and_pairs_stay_pairs() {
        let rows = [
            ("q1", "en", "en", "xquad"),
            ("q1", "de", "de", "xquad"),
            ("p7", "en", "de", "jsonl:a"),
            ("q1", "ar", "ar", "xquad"),
            ("q2", "en", "en", "xquad"),
        ];
        let index = GroupIndex::from_rows(rows).unwrap();
        assert_eq!(index.len(), 3);
        let q1 = GroupIdx(0);
        assert_eq!(index.group_id(q1), "q1");
        assert_eq!(index.group_source(q1), "xquad");
        let mut q1_langs = codes(&index, index.query_langs(q1));
        q1_langs.sort();
        assert_eq!(q1_langs, ["ar", "de", "en"]);
        assert_eq!(index.query_langs(q1), index.passage_langs(q1));
        let p7 = GroupIdx(1);
        assert_eq!(codes(&index, index.query_langs(p7)), ["en"]);
        assert_eq!(codes(&index, index.passage_langs(p7)), ["de"]);
        let ar = index.lang_id("ar").unwrap();
        assert_eq!(index.query_row(q1, ar), Some(3));
        assert_eq!(index.passage_row(q1, index.lang_id("de").unwrap()), Some(1));
        assert_eq!(index.query_row(p7, index.lang_id("de").unwrap()), None);
        assert_eq!(index.passage_row(p7, index.lang_id("de").unwrap()), Some(2));
        assert_eq!(index.lang_id("fr"), None);
        assert_eq!(index.num_languages(), 3);
        assert_eq!(index.sources(), ["xquad", "jsonl:a"]);
    }

    #[test]
    fn same_id_in_two_sources_is_two_groups() {
        let index = GroupIndex::from_rows([("1", "en", "en", "a"), ("1", "de", "de", "b")]).unwrap();
        assert_eq!(index.len(), 2);
        assert_eq!(index.group_source(GroupIdx(1)), "b");
    }

    #[test]
    fn duplicate_language_in_a_group_names_group_language_and_rows() {
        let rows = [("q1", "en", "en", "xquad"), ("q2", "en", "en", "xquad"), ("q1", "en", "de", "xquad")];
        let err = GroupIndex::from_rows(rows).unwrap_err();
        assert!(
            matches!(&err, SamplerError::DuplicateLanguage { group, lang, side: Side::Query, rows: Some((0, 2)), .. }
                if group == "q1" && lang == "en"),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(msg.contains("q1") && msg.contains("`en`") && msg.contains("rows 0 and 2"), "{msg}");
    }

    #[test]
    fn builder_rejects_bad_groups() {
        let mut b = GroupIndex::builder();
        b.add_group("g", "s", &["en", "de"], &["en", "de"]).unwrap();
        assert!(matches!(b.add_group("g", "s", &["en"], &["en"]), Err(SamplerError::DuplicateGroup { .. })));
        assert!(matches!(
            b.add_group("h", "s", &[], &["en"]),
            Err(SamplerError::NoLanguages { side: Side::Query, .. })
        ));
        assert!(matches!(
            b.add_group("h", "t", &["xx", "xx"], &["en"]),
            Err(SamplerError::DuplicateLanguage { rows: None, .. })
        ));
        assert!(matches!(b.add_group("h", "s", &["yy", ""], &["en"]), Err(SamplerError::EmptyLanguageCode { .. })));
        assert!(matches!(b.add_group("", "s", &["en"], &["en"]), Err(SamplerError::EmptyGroupId { .. })));
        // Failed additions leave no trace: no group, language or source of theirs.
        let index = b.build().unwrap();
        assert_eq!(index.len(), 1);
        assert_eq!(index.num_languages(), 2);
        assert_eq!(index.sources(), ["s"]);
        assert_eq!(index.query_row(GroupIdx(0), index.lang_id("en").unwrap()), None);
    }

    #[test]
    fn empty_input_is_an_error() {
        assert!(matches!(GroupIndex::from_rows(std::iter::empty()), Err(SamplerError::EmptyIndex)));
        assert!(matches!(GroupIndex::builder().build(), Err(SamplerError::EmptyIndex)));
    }

    #[test]
    fn fingerprint_changes_with_content_not_with_rebuilding() {
        let a = GroupIndex::from_rows([("1", "en", "en", "s"), ("1", "de", "de", "s")]).unwrap();
        let b = GroupIndex::from_rows([("1", "en", "en", "s"), ("1", "de", "de", "s")]).unwrap();
        let c = GroupIndex::from_rows([("1", "en", "en", "s"), ("1", "fr", "fr", "s")]).unwrap();
        let d = GroupIndex::from_rows([("1", "en", "en", "s"), ("1", "de", "de", "t")]).unwrap();
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert_ne!(a.fingerprint(), c.fingerprint());
        assert_ne!(a.fingerprint(), d.fingerprint());
    }
}
