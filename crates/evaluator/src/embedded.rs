//! Evaluating embeddings computed elsewhere — by a Python model, say — with the same rankings,
//! measures and reports as [`crate::evaluate`], and LAReQA's relevance from groups.

use std::collections::HashMap;

use polyret_ingest::{EvalSet, QrelRow};

use crate::embed::{Embedder, Role};
use crate::error::{EvalError, Result};
use crate::evaluate::{Evaluation, evaluate};
use crate::options::EvalOptions;

/// Embeddings of every query and document of an [`EvalSet`], row-major, in the set's order:
/// row `i` of `queries` belongs to `set.queries[i]`, row `j` of `documents` to `set.corpus[j]`.
#[derive(Clone, Copy, Debug)]
pub struct Embeddings<'a> {
    /// `set.queries.len() × dim` values.
    pub queries: &'a [f32],
    /// `set.corpus.len() × dim` values.
    pub documents: &'a [f32],
    /// Width of a vector.
    pub dim: usize,
}

/// [`crate::evaluate`] with embeddings given instead of an embedder: the same rankings,
/// measures, bias report and exported runs ([`Evaluation::write`]), on the inner products of
/// these vectors.
///
/// The evaluator ranks each distinct text once, so rows with equal texts must have equal
/// embeddings (an error otherwise). Nothing is cached (`opts.cache_dir` is ignored), and the
/// report's encoding times measure only the look-up of the rows.
pub fn evaluate_embeddings<'a>(
    set: &'a EvalSet,
    embeddings: &Embeddings<'a>,
    opts: &EvalOptions,
) -> Result<Evaluation> {
    let Embeddings { queries, documents, dim } = *embeddings;
    let rows_by_text = |role: &str, texts: Vec<&'a str>, values: &[f32]| -> Result<HashMap<&'a str, usize>> {
        if dim == 0 || values.len() != texts.len() * dim {
            return Err(EvalError::Embed(format!(
                "{} {role} embedding values for {} {role} rows of dimension {dim} (expected {})",
                values.len(),
                texts.len(),
                texts.len() * dim
            )));
        }
        let mut first: HashMap<&str, usize> = HashMap::with_capacity(texts.len());
        let bits = |row: usize| values[row * dim..(row + 1) * dim].iter().map(|v| v.to_bits());
        for (row, text) in texts.into_iter().enumerate() {
            let at = *first.entry(text).or_insert(row);
            if at != row && !bits(at).eq(bits(row)) {
                return Err(EvalError::Embed(format!(
                    "{role} rows {at} and {row} have the same text {text:?} but different embeddings; \
                     the evaluator ranks each distinct text once"
                )));
            }
        }
        Ok(first)
    };
    let lookup = Lookup {
        dim,
        queries: (rows_by_text("query", set.queries.iter().map(|q| q.text.as_str()).collect(), queries)?, queries),
        documents: (
            rows_by_text("document", set.corpus.iter().map(|d| d.text.as_str()).collect(), documents)?,
            documents,
        ),
    };
    evaluate(&lookup, set, &EvalOptions { cache_dir: None, ..opts.clone() })
}

/// Hands the evaluator the given rows for its texts.
struct Lookup<'a> {
    dim: usize,
    /// Text → row, and the rows, for each role.
    queries: (HashMap<&'a str, usize>, &'a [f32]),
    documents: (HashMap<&'a str, usize>, &'a [f32]),
}

impl Embedder for Lookup<'_> {
    fn fingerprint(&self) -> String {
        format!("precomputed-{}", self.dim)
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn embed(&self, texts: &[&str], role: Role) -> Result<Vec<f32>> {
        let (rows, values) = match role {
            Role::Query => &self.queries,
            Role::Passage => &self.documents,
        };
        let mut out = Vec::with_capacity(texts.len() * self.dim);
        for text in texts {
            let row = rows.get(*text).ok_or_else(|| EvalError::Embed(format!("no embedding for {text:?}")))?;
            out.extend_from_slice(&values[row * self.dim..(row + 1) * self.dim]);
        }
        Ok(out)
    }
}

/// LAReQA's relevance: a document is relevant (grade 1) to a query when both have the same
/// `group_id` and `subset` — every parallel copy of the answer — except the document with the
/// query's own id (caption and bitext sets use one id for a text as query and as document).
/// In set order: queries, then their documents.
pub fn group_qrels(set: &EvalSet) -> Vec<QrelRow> {
    let mut by_group: HashMap<(&str, Option<&str>), Vec<&str>> = HashMap::new();
    for d in &set.corpus {
        by_group.entry((&d.group_id, d.subset.as_deref())).or_default().push(&d.docid);
    }
    let mut qrels = Vec::new();
    for q in &set.queries {
        let docs = by_group.get(&(q.group_id.as_str(), q.subset.as_deref())).map_or(&[][..], Vec::as_slice);
        qrels.extend(docs.iter().filter(|&&docid| docid != q.qid).map(|docid| QrelRow {
            qid: q.qid.clone(),
            docid: (*docid).to_owned(),
            rel: 1,
        }));
    }
    qrels
}

#[cfg(test)]
mod tests {
    use polyret_ingest::{DocRow, QueryRow};

    use super::*;
    use crate::embed::HashEmbedder;

    /// Three groups in de and en; every text is a query and a document with its own id.
    fn set() -> EvalSet {
        let mut set = EvalSet { name: "toy".into(), ..Default::default() };
        for (g, words) in ["the red house", "a small dog", "cold water"].iter().enumerate() {
            for lang in ["de", "en"] {
                let id = format!("{g}-{lang}");
                let text = format!("{words} {lang}");
                let group_id = g.to_string();
                set.queries.push(QueryRow {
                    qid: id.clone(),
                    lang: lang.into(),
                    text: text.clone(),
                    group_id: group_id.clone(),
                    subset: None,
                });
                set.corpus.push(DocRow { docid: id, lang: lang.into(), text, group_id, subset: None });
            }
        }
        set.qrels = group_qrels(&set);
        set
    }

    #[test]
    fn group_qrels_are_the_other_copies_of_a_group() {
        let qrels = group_qrels(&set());
        let pairs: Vec<(&str, &str)> = qrels.iter().map(|r| (r.qid.as_str(), r.docid.as_str())).collect();
        assert_eq!(
            pairs,
            [
                ("0-de", "0-en"),
                ("0-en", "0-de"),
                ("1-de", "1-en"),
                ("1-en", "1-de"),
                ("2-de", "2-en"),
                ("2-en", "2-de")
            ]
        );
        assert!(qrels.iter().all(|r| r.rel == 1));
    }

    #[test]
    fn given_embeddings_evaluate_as_the_embedder_that_made_them() {
        let set = set();
        let embedder = HashEmbedder::new(32);
        let texts = |rows: Vec<&str>, role| embedder.embed(&rows, role).unwrap();
        let queries = texts(set.queries.iter().map(|q| q.text.as_str()).collect(), Role::Query);
        let documents = texts(set.corpus.iter().map(|d| d.text.as_str()).collect(), Role::Passage);
        let opts = EvalOptions::default();
        let direct = evaluate(&embedder, &set, &opts).unwrap();
        let given = evaluate_embeddings(&set, &Embeddings { queries: &queries, documents: &documents, dim: 32 }, &opts)
            .unwrap();
        assert_eq!(given.units, direct.units);
        assert_eq!(given.report.scores, direct.report.scores);
        assert_eq!(given.report.matrix, direct.report.matrix);
        assert_eq!(given.report.bias, direct.report.bias);

        let short = Embeddings { queries: &queries[1..], documents: &documents, dim: 32 };
        let err = evaluate_embeddings(&set, &short, &opts).unwrap_err().to_string();
        assert!(err.contains("191 query embedding values for 6 query rows of dimension 32"), "{err}");
        let mut twin = set.clone();
        twin.queries[1].text = twin.queries[0].text.clone();
        let both = Embeddings { queries: &queries, documents: &documents, dim: 32 };
        let err = evaluate_embeddings(&twin, &both, &opts).unwrap_err().to_string();
        assert!(err.contains("query rows 0 and 1 have the same text"), "{err}");
    }
}
