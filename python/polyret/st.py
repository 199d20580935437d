"""sentence-transformers integration: hybrid batches for its trainer, LAReQA evaluation in its loop.

This module imports neither torch nor sentence-transformers until they are used:
:func:`batch_sampler` needs neither, :class:`LAReQAEvaluator` imports sentence-transformers when
first accessed (it subclasses its ``SentenceEvaluator``).
"""

from __future__ import annotations

from typing import Any, Optional

from .sampler import HybridBatchSampler


def batch_sampler(
    group_column: str = "group_id",
    query_lang_column: str = "query_lang",
    passage_lang_column: str = "passage_lang",
    source_column: Optional[str] = None,
    **options: Any,
) -> "BatchSamplerFactory":
    """A ``batch_sampler=`` for ``SentenceTransformerTrainingArguments``: a function of
    (dataset, batch_size, drop_last, valid_label_columns, generator, seed) that returns a
    :class:`~polyret.HybridBatchSampler` over the dataset's rows.

    The dataset's group and language columns are named here; ``options`` are the sampler's
    (``strategy``, ``alpha``, ``language_weighting``, …). The batch size is the trainer's
    ``per_device_train_batch_size`` and the seed the trainer's ``seed`` unless ``options`` give
    one. sentence-transformers feeds every column of the dataset to the loss, so hide the
    group and language columns from it with ``dataset.with_format(columns=[...text columns])``:
    they stay readable here. The trainer calls it for an ``eval_dataset`` too, which then needs
    the same columns (or evaluate with ``evaluator=LAReQAEvaluator(...)`` instead).
    """
    for key in ("batch_size", "group_ids", "query_langs", "passage_langs", "sources"):
        if key in options:
            raise TypeError(f"batch_sampler() takes no {key}=: it comes from the trainer or the dataset")
    return BatchSamplerFactory(group_column, query_lang_column, passage_lang_column, source_column, options)


class BatchSamplerFactory:
    """What :func:`batch_sampler` returns: a picklable callable, as the trainer saves its
    arguments with every checkpoint."""

    def __init__(self, group_column, query_lang_column, passage_lang_column, source_column, options) -> None:
        self.columns = {"group_ids": group_column, "query_langs": query_lang_column, "passage_langs": passage_lang_column}
        self.source_column = source_column
        self.options = dict(options)

    def __call__(self, dataset, batch_size, drop_last=True, valid_label_columns=None, generator=None, seed=0):
        table = dataset.with_format(None) if hasattr(dataset, "with_format") else dataset
        wanted = [*self.columns.values(), *([self.source_column] if self.source_column else [])]
        missing = [c for c in wanted if c not in table.column_names]
        if missing:
            raise ValueError(
                f"the dataset has no column {', '.join(map(repr, missing))} (columns: {table.column_names}); "
                "name the group and language columns in polyret.st.batch_sampler(...)"
            )
        return HybridBatchSampler(
            *(table[column] for column in self.columns.values()),
            sources=table[self.source_column] if self.source_column else None,
            batch_size=batch_size,
            **{"seed": seed, **self.options},
        )

    def __repr__(self) -> str:
        return f"polyret.st.batch_sampler(columns={self.columns}, source_column={self.source_column!r}, {self.options})"


def __getattr__(name: str) -> Any:
    # LAReQAEvaluator subclasses sentence-transformers' SentenceEvaluator, so it is defined on
    # first access: importing polyret.st stays free of torch.
    if name == "LAReQAEvaluator":
        from ._st_evaluator import LAReQAEvaluator

        globals()[name] = LAReQAEvaluator
        return LAReQAEvaluator
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
