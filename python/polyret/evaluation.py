"""LAReQA-style evaluation of embeddings, and Polyret's benchmarks (see ``docs/evaluation.md``)."""

from __future__ import annotations

import json
import numbers
import os
from typing import Any, Mapping, NamedTuple, Optional, Sequence, Union

import numpy as np

from . import _polyret
from .sampler import _column

Qrels = Union[Mapping[str, Mapping[str, int]], Sequence[Sequence[Any]], Any]


def _optional_column(values: Optional[Sequence[Any]], what: str, *, strings_only: bool = False):
    return None if values is None else _column(values, what, strings_only=strings_only)


def _subsets(values: Optional[Sequence[Any]]):
    if values is None:
        return None
    if hasattr(values, "to_pylist"):
        values = values.to_pylist()
    elif hasattr(values, "tolist"):
        values = values.tolist()
    return [None if v is None else str(v) for v in values]


def _contiguous(array):
    """A C-contiguous view of a numpy array (the array itself when it is one); other objects
    pass through, for the Rust side to name in its error."""
    return np.ascontiguousarray(array) if isinstance(array, np.ndarray) else array


def _qrels(qrels: Qrels, query_ids: list, doc_ids: list) -> list:
    """(qid, docid, grade) triples from pytrec_eval's ``{qid: {docid: grade}}``, a table with
    ``qid``, ``docid`` and ``rel`` columns, or (query, document, grade) triples whose query and
    document are ids or row numbers."""
    if isinstance(qrels, Mapping) and not {"qid", "docid", "rel"} <= set(qrels):
        return [(str(q), str(d), int(g)) for q, docs in qrels.items() for d, g in docs.items()]
    if hasattr(qrels, "column_names") or isinstance(qrels, Mapping):  # pyarrow table, pandas-like dict
        table = qrels.to_pydict() if hasattr(qrels, "to_pydict") else qrels
        columns = [_column(table[c], f"qrels[{c!r}]", strings_only=False) for c in ("qid", "docid", "rel")]
        return [(q, d, int(g)) for q, d, g in zip(*columns)]
    triples = []
    for i, row in enumerate(qrels):
        if len(row) != 3:
            raise ValueError(f"qrels[{i}] must be (query, document, grade), got {row!r}")
        q, d, g = row
        q = query_ids[q] if isinstance(q, numbers.Integral) else str(q)
        d = doc_ids[d] if isinstance(d, numbers.Integral) else str(d)
        triples.append((q, d, int(g)))
    return triples


def evaluate(
    query_emb,
    query_lang: Sequence[str],
    query_group: Sequence[Any],
    doc_emb,
    doc_lang: Sequence[str],
    doc_group: Sequence[Any],
    qrels: Optional[Qrels] = None,
    *,
    query_ids: Optional[Sequence[Any]] = None,
    doc_ids: Optional[Sequence[Any]] = None,
    query_subset: Optional[Sequence[Any]] = None,
    doc_subset: Optional[Sequence[Any]] = None,
    langs: Optional[Sequence[str]] = None,
    name: str = "embeddings",
    model_name: str = "model",
    out_dir: Optional[Union[str, os.PathLike]] = None,
    trec: str = "multilingual",
    run_depth: int = 100,
    run_cover: bool = False,
    per_query: bool = False,
) -> dict:
    """Evaluates query and document embeddings as ``polyret eval`` does; returns its report.

    ``query_emb`` (queries × dim) and ``doc_emb`` (documents × dim) are numpy float32 arrays,
    read in place when C-contiguous; scores are their inner products (normalise them for
    cosines). Each query and document has a language and a group. Without ``qrels`` a document
    is relevant to a query when both have the same group (every parallel copy of the answer:
    LAReQA); else ``qrels`` is pytrec_eval's ``{qid: {docid: grade}}``, a table with ``qid``,
    ``docid``, ``rel`` columns, or (query, document, grade) triples of ids or row numbers.

    ``query_ids`` / ``doc_ids`` default to ``q0, q1, …`` / ``d0, d1, …``; a query never
    retrieves the document with its own id (sets where a text is both). With ``query_subset`` /
    ``doc_subset`` a query ranks only the documents of its subset. ``langs`` keeps only some
    languages.

    The result is ``results.json``'s content as plain Python objects: ``scores`` per setting
    (``multilingual``, ``monolingual``, ``crosslingual``) with ``map``, ``map_at_100``,
    ``ndcg_at_10``, ``recall_at_1/10/100``, ``mrr_at_10``, ``success_at_1/5/10``; ``main_score``
    (multilingual mAP); ``matrix`` (query × corpus language cells); ``bias`` (max rank distance
    and same-language preference). ``per_query=True`` adds ``per_query``, one dict per ranking.
    ``out_dir`` also writes ``polyret eval``'s files there: ``results.json``, ``per_query.tsv``,
    the TREC run and qrels files of the settings ``trec`` names (``"multilingual"``, ``"all"``,
    ``"none"``; each ranking's top ``run_depth``, down to its last relevant document with
    ``run_cover``), a heatmap and ``summary.md``.
    """
    n_queries, n_docs = len(query_lang), len(doc_lang)
    query_ids = _optional_column(query_ids, "query_ids")
    doc_ids = _optional_column(doc_ids, "doc_ids")
    if qrels is not None:
        qrels = _qrels(
            qrels,
            query_ids if query_ids is not None else [f"q{i}" for i in range(n_queries)],
            doc_ids if doc_ids is not None else [f"d{j}" for j in range(n_docs)],
        )
    report, units = _polyret.evaluate(
        _contiguous(query_emb),
        _column(query_lang, "query_lang", strings_only=True),
        _column(query_group, "query_group", strings_only=False),
        _contiguous(doc_emb),
        _column(doc_lang, "doc_lang", strings_only=True),
        _column(doc_group, "doc_group", strings_only=False),
        qrels=qrels,
        query_ids=query_ids,
        doc_ids=doc_ids,
        query_subset=_subsets(query_subset),
        doc_subset=_subsets(doc_subset),
        name=name,
        model_name=model_name,
        langs=_optional_column(langs, "langs", strings_only=True),
        out_dir=None if out_dir is None else os.fspath(out_dir),
        trec=trec,
        run_depth=run_depth,
        run_cover=run_cover,
        per_query=per_query,
    )
    result = json.loads(report)
    if units is not None:
        result["per_query"] = units
    return result


class Benchmark(NamedTuple):
    """An evaluation set: its name and its three tables (``docs/architecture.md``)."""

    name: str
    #: ``qid``, ``lang``, ``text``, ``group_id``, ``subset`` (null when the set has none).
    queries: Any
    #: ``docid``, ``lang``, ``text``, ``group_id``, ``subset``.
    corpus: Any
    #: ``qid``, ``docid``, ``rel`` (int32).
    qrels: Any


def load_benchmark(name_or_dir: Union[str, os.PathLike], data: Union[str, os.PathLike] = "data/parquet") -> Benchmark:
    """A benchmark as pyarrow tables, found as ``polyret eval --benchmark`` finds it: a directory
    with ``queries/corpus/qrels.parquet``, or a table of the catalog in ``data`` (``xquad-r``,
    ``mlqa-r``, ``multi30k``, ``xflickrco``, ``tatoeba``, …; fetch them with ``cargo xtask
    fetch-data``). Needs pyarrow."""
    try:
        import pyarrow as pa
    except ImportError as e:
        raise ImportError("polyret.load_benchmark returns pyarrow tables: pip install pyarrow") from e
    name, queries, corpus, (qid, docid, rel) = _polyret.load_benchmark(os.fspath(name_or_dir), os.fspath(data))
    text = pa.schema([(c, pa.string(), c == "subset") for c, _ in queries])
    return Benchmark(
        name=name,
        queries=pa.table(dict(queries), schema=text),
        corpus=pa.table(dict(corpus), schema=pa.schema([(c, pa.string(), c == "subset") for c, _ in corpus])),
        qrels=pa.table(
            {"qid": qid, "docid": docid, "rel": pa.array(rel, pa.int32())},
            schema=pa.schema([("qid", pa.string(), False), ("docid", pa.string(), False), ("rel", pa.int32(), False)]),
        ),
    )
