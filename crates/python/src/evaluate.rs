//! `polyret.evaluate` and `polyret.load_benchmark`: numpy embeddings and per-row labels into an
//! [`EvalSet`] for [`polyret_evaluator::evaluate_embeddings`], the report back as JSON.

use std::path::PathBuf;

use polyret_evaluator::{Embeddings, EvalOptions, Metric, QueryUnit, TrecExport, evaluate_embeddings, group_qrels};
use polyret_ingest::{DocRow, EvalSet, QrelRow, QueryRow};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::arrays::Matrix;
use crate::{check_langs, check_len, error};

/// A per-row argument, checked for length, or `default(row)` for every row when not given.
fn per_row<T>(what: &str, given: Option<Vec<T>>, n: usize, of: &str, default: impl Fn(usize) -> T) -> PyResult<Vec<T>> {
    match given {
        Some(values) => check_len(what, values.len(), n, of).map(|()| values),
        None => Ok((0..n).map(default).collect()),
    }
}

/// Evaluates embeddings: the report (`results.json`'s content) as JSON, and with `per_query`
/// one dict per ranking (`per_query.tsv`'s lines).
#[pyfunction]
#[pyo3(signature = (
    query_emb, query_lang, query_group, doc_emb, doc_lang, doc_group, *, qrels=None, query_ids=None,
    doc_ids=None, query_subset=None, doc_subset=None, name="embeddings", model_name="model", langs=None,
    out_dir=None, trec="multilingual", run_depth=100, run_cover=false, per_query=false
))]
#[allow(clippy::too_many_arguments)]
pub fn evaluate<'py>(
    py: Python<'py>,
    query_emb: &Bound<'py, PyAny>,
    query_lang: Vec<String>,
    query_group: Vec<String>,
    doc_emb: &Bound<'py, PyAny>,
    doc_lang: Vec<String>,
    doc_group: Vec<String>,
    qrels: Option<Vec<(String, String, i32)>>,
    query_ids: Option<Vec<String>>,
    doc_ids: Option<Vec<String>>,
    query_subset: Option<Vec<Option<String>>>,
    doc_subset: Option<Vec<Option<String>>>,
    name: &str,
    model_name: &str,
    langs: Option<Vec<String>>,
    out_dir: Option<PathBuf>,
    trec: &str,
    run_depth: usize,
    run_cover: bool,
    per_query: bool,
) -> PyResult<(String, Option<Vec<Bound<'py, PyDict>>>)> {
    let (queries, documents) = (Matrix::extract("query_emb", query_emb)?, Matrix::extract("doc_emb", doc_emb)?);
    let ((n_q, dim), (n_d, doc_dim)) = (queries.shape(), documents.shape());
    if doc_dim != dim {
        return Err(pyo3::exceptions::PyValueError::new_err(format!(
            "query_emb has dimension {dim}, doc_emb {doc_dim}: both must come from one model"
        )));
    }
    for (what, len, n, of) in [
        ("query_lang", query_lang.len(), n_q, "query_emb"),
        ("query_group", query_group.len(), n_q, "query_emb"),
        ("doc_lang", doc_lang.len(), n_d, "doc_emb"),
        ("doc_group", doc_group.len(), n_d, "doc_emb"),
    ] {
        check_len(what, len, n, of)?;
    }
    check_langs("query_lang", &query_lang)?;
    check_langs("doc_lang", &doc_lang)?;
    let trec: TrecExport = trec.parse().map_err(pyo3::exceptions::PyValueError::new_err)?;
    let query_ids = per_row("query_ids", query_ids, n_q, "query_emb", |i| format!("q{i}"))?;
    let doc_ids = per_row("doc_ids", doc_ids, n_d, "doc_emb", |j| format!("d{j}"))?;
    let query_subset = per_row("query_subset", query_subset, n_q, "query_emb", |_| None)?;
    let doc_subset = per_row("doc_subset", doc_subset, n_d, "doc_emb", |_| None)?;
    let (query_values, doc_values) = (queries.values(), documents.values());

    let evaluation = py.detach(|| {
        // Each row is its own text: the evaluator ranks distinct texts, and ids are distinct.
        let mut set = EvalSet { name: name.to_owned(), ..Default::default() };
        let query_rows = query_ids.into_iter().zip(query_lang).zip(query_group).zip(query_subset);
        set.queries = query_rows
            .map(|(((qid, lang), group_id), subset)| QueryRow { text: qid.clone(), qid, lang, group_id, subset })
            .collect();
        let doc_rows = doc_ids.into_iter().zip(doc_lang).zip(doc_group).zip(doc_subset);
        set.corpus = doc_rows
            .map(|(((docid, lang), group_id), subset)| DocRow { text: docid.clone(), docid, lang, group_id, subset })
            .collect();
        set.qrels = match qrels {
            Some(qrels) => qrels.into_iter().map(|(qid, docid, rel)| QrelRow { qid, docid, rel }).collect(),
            None => group_qrels(&set),
        };
        let opts = EvalOptions {
            model_name: model_name.to_owned(),
            langs,
            run_depth,
            run_cover,
            // Rankings are kept only to be written.
            trec: if out_dir.is_some() { trec } else { TrecExport::None },
            cache_dir: None,
            ..Default::default()
        };
        let embeddings = Embeddings { queries: query_values, documents: doc_values, dim };
        let mut evaluation = evaluate_embeddings(&set, &embeddings, &opts)?;
        if let Some(dir) = &out_dir {
            evaluation.write(dir)?;
        }
        Ok::<_, polyret_evaluator::EvalError>(evaluation)
    });
    let evaluation = evaluation.map_err(|e| error(&e))?;
    let report = serde_json::to_string(&evaluation.report).expect("reports serialise");
    let units = per_query.then(|| evaluation.units.iter().map(|u| unit_dict(py, u)).collect()).transpose()?;
    Ok((report, units))
}

fn unit_dict<'py>(py: Python<'py>, u: &QueryUnit) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("setting", u.setting.name())?;
    d.set_item("run_qid", &u.run_qid)?;
    d.set_item("qid", &u.qid)?;
    d.set_item("query_lang", &u.query_lang)?;
    d.set_item("corpus_lang", &u.corpus_lang)?;
    d.set_item("num_rel", u.num_rel)?;
    d.set_item("first_rel_rank", u.first_rel_rank)?;
    d.set_item("last_rel_rank", u.last_rel_rank)?;
    for m in Metric::ALL {
        d.set_item(m.key(), u.values[m as usize])?;
    }
    Ok(d)
}

/// Columns of one table, as (name, values) pairs; `None` is a null.
type Columns = Vec<(&'static str, Vec<Option<String>>)>;

/// The qrels as `qid`, `docid` and `rel` columns.
type Judgements = (Vec<String>, Vec<String>, Vec<i32>);

/// The columns of a queries or corpus table from its rows' (id, lang, text, group_id, subset).
fn text_columns(id: &'static str, rows: impl Iterator<Item = [Option<String>; 5]>) -> Columns {
    let mut columns: [Vec<Option<String>>; 5] = Default::default();
    for row in rows {
        for (column, value) in columns.iter_mut().zip(row) {
            column.push(value);
        }
    }
    [id, "lang", "text", "group_id", "subset"].into_iter().zip(columns).collect()
}

/// The evaluation set `benchmark` names, as `polyret eval --benchmark` finds it: its name, the
/// columns of its queries and corpus, and its qrels as (qid, docid, rel) columns.
#[pyfunction]
#[pyo3(signature = (benchmark, data))]
pub fn load_benchmark(
    py: Python<'_>,
    benchmark: &str,
    data: PathBuf,
) -> PyResult<(String, Columns, Columns, Judgements)> {
    let set = py.detach(|| polyret_evaluator::load_benchmark(benchmark, &data)).map_err(|e| error(&e))?;
    let EvalSet { name, queries, corpus, qrels } = set;
    let queries = text_columns(
        "qid",
        queries.into_iter().map(|q| [Some(q.qid), Some(q.lang), Some(q.text), Some(q.group_id), q.subset]),
    );
    let corpus = text_columns(
        "docid",
        corpus.into_iter().map(|d| [Some(d.docid), Some(d.lang), Some(d.text), Some(d.group_id), d.subset]),
    );
    let mut judged =
        (Vec::with_capacity(qrels.len()), Vec::with_capacity(qrels.len()), Vec::with_capacity(qrels.len()));
    for r in qrels {
        judged.0.push(r.qid);
        judged.1.push(r.docid);
        judged.2.push(r.rel);
    }
    Ok((name, queries, corpus, judged))
}
