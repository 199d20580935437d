"""``polyret.st.LAReQAEvaluator``; imported only on first access, as it needs sentence-transformers."""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence, Union

import numpy as np

from .evaluation import evaluate, load_benchmark

try:  # sentence-transformers >= 5.x
    from sentence_transformers.base.evaluation.evaluator import BaseEvaluator as _Evaluator
except ImportError:  # 3.x, 4.x
    from sentence_transformers.evaluation import SentenceEvaluator as _Evaluator

SETTINGS = ("multilingual", "monolingual", "crosslingual")


def _columns(table: Any) -> Mapping[str, Sequence[Any]]:
    """Columns of a pyarrow table, a datasets.Dataset, a pandas DataFrame or a dict of lists."""
    if hasattr(table, "to_pydict"):
        return table.to_pydict()
    if hasattr(table, "to_dict") and hasattr(table, "columns"):
        return {c: table[c].tolist() for c in table.columns}
    if hasattr(table, "column_names"):
        return {c: table[c] for c in table.column_names}
    return table


class LAReQAEvaluator(_Evaluator):
    """Evaluates a SentenceTransformer on a multilingual retrieval set as ``polyret eval`` does.

    ``queries`` and ``corpus`` are tables (pyarrow, datasets, pandas or a dict of columns) with
    ``text``, ``lang`` and ``group_id`` columns, and optionally ``qid`` / ``docid`` and
    ``subset``; ``qrels`` as :func:`polyret.evaluate` takes them (``None``: the documents of the
    query's group are relevant). Queries are embedded with the model's ``query`` prompt and
    documents with its ``passage`` prompt (else ``document`` or ``corpus``), as Polyret's
    encoder does, and normalised unless ``normalize_embeddings=False``.

    Returns ``{setting}_{measure}`` for the multilingual, monolingual and cross-lingual settings
    (``map``, ``ndcg_at_10``, ``recall_at_10``, …) and ``max_rank_distance``, prefixed with
    ``name``; the primary metric is ``multilingual_map``. :attr:`last_report` keeps the full
    report of the last call.
    """

    def __init__(
        self,
        queries: Any,
        corpus: Any,
        qrels: Any = None,
        *,
        name: str = "",
        batch_size: int = 32,
        normalize_embeddings: bool = True,
        show_progress_bar: bool = False,
        langs: Optional[Sequence[str]] = None,
    ) -> None:
        super().__init__()
        self.queries, self.corpus, self.qrels = _columns(queries), _columns(corpus), qrels
        self.name = name
        self.batch_size = batch_size
        self.normalize_embeddings = normalize_embeddings
        self.show_progress_bar = show_progress_bar
        self.langs = langs
        self.primary_metric = "multilingual_map"
        self.last_report: Optional[dict] = None

    @classmethod
    def from_benchmark(
        cls, name_or_dir: str, data: Union[str, Any] = "data/parquet", **kwargs: Any
    ) -> "LAReQAEvaluator":
        """An evaluator on a Polyret benchmark (:func:`polyret.load_benchmark`), named after it."""
        bench = load_benchmark(name_or_dir, data)
        kwargs.setdefault("name", bench.name)
        return cls(bench.queries, bench.corpus, bench.qrels, **kwargs)

    def _encode(self, model: Any, texts: Sequence[str], role: str) -> np.ndarray:
        # The role's prompt as Polyret reads it (E5: "query: " / "passage: "). Not
        # encode_document: sentence-transformers gives models an empty "document" prompt, which
        # it prefers to their "passage" one.
        prompts = getattr(model, "prompts", None) or {}
        names = ("query",) if role == "query" else ("passage", "document", "corpus")
        prompt_name = next((name for name in names if prompts.get(name)), None)
        embeddings = model.encode(
            list(texts),
            prompt_name=prompt_name,
            batch_size=self.batch_size,
            show_progress_bar=self.show_progress_bar,
            convert_to_numpy=True,
            normalize_embeddings=self.normalize_embeddings,
        )
        return np.ascontiguousarray(embeddings, dtype=np.float32)

    def __call__(self, model: Any, output_path: Optional[str] = None, epoch: int = -1, steps: int = -1) -> dict:
        q, d = self.queries, self.corpus
        report = evaluate(
            self._encode(model, q["text"], "query"),
            q["lang"],
            q["group_id"],
            self._encode(model, d["text"], "passage"),
            d["lang"],
            d["group_id"],
            self.qrels,
            query_ids=q.get("qid"),
            doc_ids=d.get("docid"),
            query_subset=q.get("subset"),
            doc_subset=d.get("subset"),
            langs=self.langs,
            name=self.name or "lareqa",
        )
        self.last_report = report
        metrics = {
            f"{setting}_{measure}": value
            for setting in SETTINGS
            if setting in report["scores"]
            for measure, value in report["scores"][setting]["scores"].items()
        }
        bias = report.get("bias") or {}
        if bias.get("max_rank_distance") is not None:
            metrics["max_rank_distance"] = bias["max_rank_distance"]
        metrics = self.prefix_name_to_metrics(metrics, self.name)
        self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
        return metrics

    def get_config_dict(self) -> dict:
        return {"normalize_embeddings": self.normalize_embeddings, **({"langs": list(self.langs)} if self.langs else {})}
