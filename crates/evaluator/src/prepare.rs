//! The set made ready for ranking: queries and documents of the selected languages indexed by
//! position, documents grouped by subset (a query ranks only its subset's documents) and within
//! it by language, every query's judged documents resolved to positions.

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;

use polyret_ingest::EvalSet;
use sha2::{Digest, Sha256};

use crate::error::{EvalError, Result};
use crate::report::Setting;
use crate::selection::{CorpusLayout, Selection, distinct};
use crate::trec::valid_id;

/// A subset's documents: a contiguous range of the sorted corpus, split by language.
pub(crate) struct Group {
    pub docs: Range<usize>,
    /// Language → range (absolute positions), in language order.
    pub langs: Vec<(usize, Range<usize>)>,
    /// Queries ranked against this group.
    pub queries: Vec<usize>,
}

/// A query after filtering.
pub(crate) struct Query {
    pub row: usize,
    pub lang: usize,
    /// Position of the document with the query's own id, if it is in the corpus.
    pub own_doc: Option<usize>,
    /// (document position, grade) of its judged documents in the filtered corpus.
    pub qrels: Vec<(usize, i32)>,
    /// Index of its text among the distinct query texts.
    pub text: usize,
}

/// The set, filtered and indexed for ranking.
pub(crate) struct Prepared<'a> {
    pub set: &'a EvalSet,
    pub langs: Vec<String>,
    pub queries: Vec<Query>,
    /// Language of each document of `corpus.docs`.
    pub doc_lang: Vec<usize>,
    pub groups: Vec<Group>,
    pub query_texts: Vec<&'a str>,
    pub corpus: CorpusLayout<'a>,
}

/// Validates `set`, applies the language `filter` and indexes what is ranked.
pub(crate) fn prepare<'a>(set: &'a EvalSet, filter: Option<&[String]>) -> Result<Prepared<'a>> {
    set.validate(Path::new(&set.name))?;
    for id in set.queries.iter().map(|q| &q.qid).chain(set.corpus.iter().map(|d| &d.docid)) {
        if !valid_id(id) {
            return Err(EvalError::data(
                &set.name,
                format!("id {id:?} is empty or holds whitespace (TREC files cannot)"),
            ));
        }
    }
    let selection = Selection::new(set, filter)?;
    let corpus = CorpusLayout::new(set, &selection);
    let kept: Vec<usize> = (0..set.queries.len())
        .filter(|&i| selection.keeps(set.queries[i].subset.as_deref(), &set.queries[i].lang))
        .collect();
    let langs = selection.langs;
    let lang_index: HashMap<&str, usize> = langs.iter().enumerate().map(|(i, l)| (l.as_str(), i)).collect();
    let docs = &corpus.docs;
    let subset_of = |i: usize| set.corpus[i].subset.as_deref();
    let doc_lang: Vec<usize> = docs.iter().map(|&i| lang_index[set.corpus[i].lang.as_str()]).collect();
    let position: HashMap<&str, usize> =
        docs.iter().enumerate().map(|(p, &i)| (set.corpus[i].docid.as_str(), p)).collect();

    let mut groups: Vec<Group> = Vec::new();
    let mut group_of: HashMap<Option<&str>, usize> = HashMap::new();
    for p in 0..docs.len() {
        let subset = subset_of(docs[p]);
        let g = *group_of.entry(subset).or_insert_with(|| {
            groups.push(Group { docs: p..p, langs: Vec::new(), queries: Vec::new() });
            groups.len() - 1
        });
        let group = &mut groups[g];
        group.docs.end = p + 1;
        match group.langs.last_mut() {
            Some((l, r)) if *l == doc_lang[p] => r.end = p + 1,
            _ => group.langs.push((doc_lang[p], p..p + 1)),
        }
    }

    let mut judged: HashMap<&str, Vec<(usize, i32)>> = HashMap::new();
    for r in &set.qrels {
        if let Some(&p) = position.get(r.docid.as_str()) {
            judged.entry(r.qid.as_str()).or_default().push((p, r.rel));
        }
    }
    let mut query_texts = Vec::new();
    let text_ids = distinct(kept.iter().map(|&i| set.queries[i].text.as_str()), &mut query_texts);
    let mut queries = Vec::new();
    let mut unranked = 0usize;
    for (&row, text) in kept.iter().zip(text_ids) {
        let q = &set.queries[row];
        let qrels = judged.remove(q.qid.as_str()).unwrap_or_default();
        let Some(&g) = group_of.get(&q.subset.as_deref()).filter(|_| !qrels.is_empty()) else {
            unranked += 1;
            continue;
        };
        groups[g].queries.push(queries.len());
        queries.push(Query {
            row,
            lang: lang_index[q.lang.as_str()],
            own_doc: position.get(q.qid.as_str()).copied(),
            qrels,
            text,
        });
    }
    if unranked > 0 {
        tracing::info!("{}: {unranked} queries have no relevant document among the evaluated languages", set.name);
    }
    if queries.is_empty() {
        return Err(EvalError::data(&set.name, "no query has a relevant document among the evaluated languages"));
    }
    Ok(Prepared { set, langs, queries, doc_lang, groups, query_texts, corpus })
}

impl Prepared<'_> {
    pub fn qid(&self, q: &Query) -> &str {
        &self.set.queries[q.row].qid
    }

    pub fn docid(&self, pos: usize) -> &str {
        &self.set.corpus[self.corpus.docs[pos]].docid
    }

    pub fn run_qid(&self, q: &Query, setting: Setting, corpus_lang: Option<usize>) -> String {
        match (setting, corpus_lang) {
            (Setting::Crosslingual, Some(c)) => format!("{}@{}", self.qid(q), self.langs[c]),
            _ => self.qid(q).to_owned(),
        }
    }

    /// SHA-256 over every query, document and judgement evaluated, in set order.
    pub fn content_digest(&self) -> String {
        let mut h = Sha256::new();
        let mut field = |s: &str| {
            h.update((s.len() as u64).to_le_bytes());
            h.update(s.as_bytes());
        };
        for q in &self.queries {
            let r = &self.set.queries[q.row];
            for s in [&r.qid, &r.lang, &r.text, &r.group_id, r.subset.as_deref().unwrap_or("")] {
                field(s);
            }
            for &(p, rel) in &q.qrels {
                field(self.docid(p));
                field(&rel.to_string());
            }
        }
        let mut rows: Vec<usize> = self.corpus.docs.clone();
        rows.sort_unstable();
        for i in rows {
            let d = &self.set.corpus[i];
            for s in [&d.docid, &d.lang, &d.text, &d.group_id, d.subset.as_deref().unwrap_or("")] {
                field(s);
            }
        }
        hex::encode(h.finalize())
    }
}
