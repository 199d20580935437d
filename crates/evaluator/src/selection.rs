//! What is evaluated and in which order: the languages a filter selects ([`Selection`]) and the
//! documents laid out for ranking ([`CorpusLayout`]). Evaluation and [`crate::CorpusSearch`]
//! both select and lay out through these, so they agree on the documents and share one
//! embedding-cache entry for the same languages.

use std::collections::HashMap;
use std::path::Path;

use polyret_ingest::{DocRow, EvalSet, LanguageSelection};

use crate::embed::{EmbedStats, Embedder, Role, embed_all};
use crate::error::{EvalError, Result};
use crate::search::gather;

/// A checked language filter: its languages (sorted) and which rows it keeps, by
/// [`LanguageSelection`]'s rule (whole subsets only).
pub(crate) struct Selection<'a> {
    pub langs: Vec<String>,
    /// `None`: every row.
    filter: Option<LanguageSelection<'a>>,
}

impl<'a> Selection<'a> {
    /// Checks `filter` against the set (`None`: every language).
    pub fn new(set: &'a EvalSet, filter: Option<&[String]>) -> Result<Self> {
        let present = set.languages();
        let Some(filter) = filter else {
            return Ok(Self { langs: present, filter: None });
        };
        if let Some(l) = filter.iter().find(|l| !present.contains(l)) {
            return Err(EvalError::data(
                &set.name,
                format!("language {l} is not in the set (it has {})", present.join(" ")),
            ));
        }
        let selection = LanguageSelection::new(set, filter);
        if !selection.keeps_a_subset() {
            return Err(EvalError::data(
                &set.name,
                format!(
                    "no subset has all its languages in {} (Tatoeba pairs each language with en: add en)",
                    filter.join(",")
                ),
            ));
        }
        Ok(Self { langs: selection.languages(), filter: Some(selection) })
    }

    /// Whether a row of this subset and language is selected.
    pub fn keeps(&self, subset: Option<&str>, lang: &str) -> bool {
        self.filter.as_ref().is_none_or(|f| f.keeps(subset, lang))
    }
}

/// The documents of a set in some languages, in ranking order, with their distinct texts.
pub(crate) struct CorpusLayout<'a> {
    /// Corpus rows sorted by (subset, language, docid).
    pub docs: Vec<usize>,
    /// Position of each document in byte-wise docid order (trec_eval's tie order).
    pub ties: Vec<u32>,
    texts: Vec<&'a str>,
    /// Index into `texts` of each document.
    text_of: Vec<usize>,
}

impl<'a> CorpusLayout<'a> {
    /// Lays out the documents of `set` that `selection` keeps.
    pub fn new(set: &'a EvalSet, selection: &Selection) -> Self {
        let kept = |d: &DocRow| selection.keeps(d.subset.as_deref(), &d.lang);
        let mut docs: Vec<usize> = (0..set.corpus.len()).filter(|&i| kept(&set.corpus[i])).collect();
        let key = |i: usize| {
            let d = &set.corpus[i];
            (d.subset.as_deref(), d.lang.as_str(), d.docid.as_bytes())
        };
        docs.sort_by(|&a, &b| key(a).cmp(&key(b)));
        let mut by_id: Vec<usize> = (0..docs.len()).collect();
        by_id.sort_by(|&a, &b| set.corpus[docs[a]].docid.as_bytes().cmp(set.corpus[docs[b]].docid.as_bytes()));
        let mut ties = vec![0u32; docs.len()];
        for (rank, &pos) in by_id.iter().enumerate() {
            ties[pos] = rank as u32;
        }
        let mut texts = Vec::new();
        let text_of = distinct(docs.iter().map(|&i| set.corpus[i].text.as_str()), &mut texts);
        Self { docs, ties, texts, text_of }
    }

    /// Embeds each distinct text once as a passage; returns one row per document, in order.
    pub fn embed(&self, embedder: &dyn Embedder, cache: Option<&Path>) -> Result<(Vec<f32>, EmbedStats)> {
        let (matrix, stats) = embed_all(embedder, &self.texts, Role::Passage, cache, "corpus")?;
        Ok((gather(&matrix, embedder.dim(), self.text_of.iter().copied()), stats))
    }
}

/// Appends each text not seen before to `out`; returns the index in `out` of every text.
pub(crate) fn distinct<'a>(texts: impl Iterator<Item = &'a str>, out: &mut Vec<&'a str>) -> Vec<usize> {
    let mut index: HashMap<&str, usize> = HashMap::new();
    texts
        .map(|t| {
            *index.entry(t).or_insert_with(|| {
                out.push(t);
                out.len() - 1
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use polyret_ingest::QueryRow;

    use super::*;

    /// `de`–`en` and `ja`–`en` subsets, one document per language and subset, plus a query.
    fn set() -> EvalSet {
        let mut set = EvalSet { name: "pairs".into(), ..Default::default() };
        for (subset, lang, docid, text) in [
            ("jpn-eng", "ja", "j1", "inu"),
            ("deu-eng", "en", "e1", "dog"),
            ("deu-eng", "de", "d1", "Hund"),
            ("jpn-eng", "en", "e2", "dog"),
        ] {
            let subset = Some(subset.to_owned());
            let row = (docid.to_owned(), lang.to_owned(), text.to_owned(), "g".to_owned());
            set.corpus.push(DocRow { docid: row.0, lang: row.1, text: row.2, group_id: row.3, subset });
        }
        set.queries.push(QueryRow {
            qid: "q".into(),
            lang: "de".into(),
            text: "Hund".into(),
            group_id: "g".into(),
            subset: Some("deu-eng".into()),
        });
        set
    }

    #[test]
    fn the_layout_sorts_by_subset_and_language_and_shares_equal_texts() {
        let set = set();
        let all = CorpusLayout::new(&set, &Selection::new(&set, None).unwrap());
        let ids: Vec<&str> = all.docs.iter().map(|&i| set.corpus[i].docid.as_str()).collect();
        assert_eq!(ids, ["d1", "e1", "e2", "j1"]);
        // Byte-wise docid order for ties: d1 < e1 < e2 < j1.
        assert_eq!(all.ties, [0, 1, 2, 3]);
        assert_eq!(all.texts, ["Hund", "dog", "inu"], "\"dog\" is embedded once");
        assert_eq!(all.text_of, [0, 1, 1, 2]);

        let langs = ["de".to_owned(), "en".to_owned()];
        let selection = Selection::new(&set, Some(&langs[..])).unwrap();
        assert_eq!(selection.langs, ["de", "en"]);
        let de_en = CorpusLayout::new(&set, &selection);
        let ids: Vec<&str> = de_en.docs.iter().map(|&i| set.corpus[i].docid.as_str()).collect();
        assert_eq!(ids, ["d1", "e1"], "not the English side of jpn-eng");
    }

    #[test]
    fn filters_are_checked() {
        let set = set();
        let err = |langs: &[&str]| {
            let langs: Vec<String> = langs.iter().map(|l| l.to_string()).collect();
            Selection::new(&set, Some(langs.as_slice())).err().expect("an error").to_string()
        };
        assert!(err(&["fr"]).contains("language fr is not in the set (it has de en ja)"));
        assert!(err(&["de", "ja"]).contains("no subset has all its languages in de,ja"));
    }
}
