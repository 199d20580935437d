"""Hybrid batches of row indices over a training table of pairs (see ``docs/sampler.md``)."""

from __future__ import annotations

import json
from typing import Any, Iterator, Mapping, Optional, Sequence, Union

import numpy as np

from . import _polyret

STRATEGIES = ("hybrid", "x-x-mono", "x-y", "x-x", "en-en")
WEIGHTINGS = ("uniform", "proportional", "temperature")
SMALL_LANGUAGE_POLICIES = ("error", "exclude")

Alpha = Union[float, Sequence[float], Mapping[str, float]]


def _column(values: Any, what: str, *, strings_only: bool) -> list:
    """A list of str from a list, tuple, numpy array, pandas Series or pyarrow array.

    Group ids and sources may be any scalars (``7`` becomes ``"7"``); language codes must be str.
    """
    if hasattr(values, "to_pylist"):
        values = values.to_pylist()
    elif hasattr(values, "tolist"):
        values = values.tolist()
    out = []
    for i, v in enumerate(values):
        if isinstance(v, str):
            out.append(v)
        elif v is None or strings_only:
            raise TypeError(f"{what}[{i}] must be a str, got {v!r}")
        else:
            out.append(str(v))
    return out


def _alpha(alpha: Alpha) -> Any:
    """α as the sampler configuration writes it: a number, or a linear ramp."""
    if isinstance(alpha, Mapping):
        return {"start": float(alpha["start"]), "end": float(alpha["end"]), "batches": int(alpha["batches"])}
    if isinstance(alpha, (tuple, list)):
        if len(alpha) != 3:
            raise ValueError(f"alpha as a ramp is (start, end, batches), got {alpha!r}")
        start, end, batches = alpha
        return {"start": float(start), "end": float(end), "batches": int(batches)}
    return float(alpha)


class HybridBatchSampler:
    """Batches of row indices of a pair table, composed by Polyret's sampler.

    One entry per row of the training table (one row = one query and its positive, as in a
    sentence-transformers dataset): the row's group (parallel copies share it), the query's
    language and the positive's language. Every batch has ``batch_size`` rows, never two of one
    group, and follows ``strategy``:

    - ``"hybrid"``: with probability ``alpha`` a monolingual batch (every row has query language
      = passage language = one language drawn per batch), else a cross-lingual batch (every
      row has query language ≠ passage language). ``alpha`` may be a ramp ``(start, end,
      batches)``.
    - ``"x-x-mono"``, ``"x-y"``: only the first, only the second kind of batch.
    - ``"x-x"``: monolingual rows, languages mixed within a batch; ``"en-en"``: English only.

    Languages are drawn uniformly (``language_weighting="proportional"``: by their number of
    groups; ``"temperature"`` with ``temperature=τ``: by groups^τ); a language with fewer groups
    than the batch size is an error, or left out with ``small_languages="exclude"``. With
    ``sources`` and ``source_per_batch=True`` each batch comes from one source.

    The table must hold every pair the strategy can draw (for cross-lingual batches, each
    group's pairs in every combination of its languages: :func:`expand_parallel` makes them
    from parallel rows); a table that lacks some is an error naming one and counting them.

    The sequence is a function of the table, the options and ``seed`` only, and equals what
    ``polyret sample`` draws from the same table. An *epoch* is ``len(sampler)`` batches
    (⌈distinct (group, query language) items / batch size⌉); iterating yields the batches up to
    the end of the current epoch, so consecutive ``for`` loops walk through consecutive epochs.
    ``set_epoch(e)`` moves to the start of epoch ``e`` (unless the sampler is already inside
    it), so a trainer that calls it and skips the batches already seen resumes exactly;
    ``state()`` / ``from_state()`` save and restore the position itself.

    Use it as ``DataLoader(dataset, batch_sampler=sampler)``; ``polyret.st.batch_sampler``
    builds one for sentence-transformers.
    """

    #: Every batch is full: there is no short last batch to drop (for code that reads it).
    drop_last = True

    def __init__(
        self,
        group_ids: Sequence[Any],
        query_langs: Sequence[str],
        passage_langs: Sequence[str],
        *,
        strategy: str = "hybrid",
        alpha: Optional[Alpha] = None,
        batch_size: int = 32,
        seed: int = 0,
        language_weighting: str = "uniform",
        temperature: Optional[float] = None,
        sources: Optional[Sequence[Any]] = None,
        source_per_batch: bool = False,
        english: str = "en",
        small_languages: str = "error",
    ) -> None:
        if strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}; got {strategy!r}")
        if strategy == "hybrid":
            rust_strategy: Any = {"hybrid": {"alpha": _alpha(0.5 if alpha is None else alpha)}}
        elif alpha is not None:
            raise ValueError(f"alpha applies to strategy='hybrid' only, not {strategy!r}")
        else:
            rust_strategy = strategy
        if language_weighting not in WEIGHTINGS:
            raise ValueError(f"language_weighting must be one of {', '.join(WEIGHTINGS)}; got {language_weighting!r}")
        if (temperature is not None) != (language_weighting == "temperature"):
            raise ValueError("language_weighting='temperature' takes temperature=τ, and temperature= needs it")
        weighting: Any = {"temperature": float(temperature)} if temperature is not None else language_weighting
        if small_languages not in SMALL_LANGUAGE_POLICIES:
            raise ValueError(f"small_languages must be 'error' or 'exclude'; got {small_languages!r}")
        # The Rust SamplerConfig (docs/sampler.md) these options describe.
        config = {
            "strategy": rust_strategy,
            "batch_size": int(batch_size),
            "language_weighting": weighting,
            "source_per_batch": bool(source_per_batch),
            "seed": int(seed),
            "english": english,
            "small_languages": small_languages,
        }
        self._init(group_ids, query_langs, passage_langs, config, sources, None)

    def _init(self, group_ids, query_langs, passage_langs, config: dict, sources, state: Optional[dict]) -> None:
        self._core = _polyret.PairSampler(
            _column(group_ids, "group_ids", strings_only=False),
            _column(query_langs, "query_langs", strings_only=True),
            _column(passage_langs, "passage_langs", strings_only=True),
            json.dumps(config),
            sources=None if sources is None else _column(sources, "sources", strings_only=False),
            state=None if state is None else json.dumps(state),
        )
        self.config: dict = json.loads(self._core.config)
        self._start = self._core.position

    @classmethod
    def from_state(
        cls,
        group_ids: Sequence[Any],
        query_langs: Sequence[str],
        passage_langs: Sequence[str],
        state: Mapping[str, Any],
        *,
        sources: Optional[Sequence[Any]] = None,
    ) -> "HybridBatchSampler":
        """A sampler at the position :meth:`state` saved, on the same table (an error otherwise)."""
        sampler = cls.__new__(cls)
        sampler._init(group_ids, query_langs, passage_langs, dict(state["config"]), sources, dict(state["sampler"]))
        return sampler

    def state(self) -> dict:
        """The position after the last batch yielded, with the configuration, as a JSON-ready dict.

        With a ``DataLoader`` that prefetches (``num_workers > 0``), the sampler runs a few
        batches ahead of the training loop: save the state at an epoch boundary, or resume with
        ``set_epoch`` and skipping the batches already trained on.
        """
        return {"config": self.config, "sampler": json.loads(self._core.state())}

    def load_state(self, state: Mapping[str, Any]) -> None:
        """Moves to a position :meth:`state` saved from a sampler with the same table and options."""
        if dict(state["config"]) != self.config:
            raise _polyret.PolyretError(
                f"the state was saved with another sampler configuration ({state['config']}, this one is {self.config})"
            )
        self._core.resume(json.dumps(dict(state["sampler"])))
        self._start = self._core.position

    @property
    def batch_size(self) -> int:
        return self.config["batch_size"]

    @property
    def batches_per_epoch(self) -> int:
        """Batches in one nominal epoch (see ``docs/sampler.md``)."""
        return self._core.batches_per_epoch

    @property
    def position(self) -> int:
        """Index of the next batch since the start of the sequence."""
        return self._core.position

    @property
    def epoch(self) -> int:
        """The epoch the next batch belongs to."""
        return self._core.position // self._core.batches_per_epoch

    @property
    def excluded(self) -> list:
        """Languages left out under ``small_languages="exclude"``, one sentence each."""
        return self._core.excluded()

    def set_epoch(self, epoch: int) -> None:
        """Moves to the first batch of ``epoch``, unless the sampler is already inside it."""
        core, per_epoch = self._core, self._core.batches_per_epoch
        if epoch < 0:
            raise ValueError(f"epoch must be >= 0, got {epoch}")
        if core.position // per_epoch == epoch:
            return
        target = epoch * per_epoch
        if core.position > target:
            core.restart()
        core.skip(target - core.position)
        self._start = target

    def __len__(self) -> int:
        """Batches the current (or next) iteration yields: the rest of the current epoch."""
        per_epoch = self._core.batches_per_epoch
        return per_epoch - self._start % per_epoch

    def __iter__(self) -> Iterator[list]:
        core = self._core
        per_epoch = core.batches_per_epoch
        self._start = core.position
        end = (core.position // per_epoch + 1) * per_epoch
        next_rows = core.next_rows
        while core.position < end:
            yield next_rows()
        self._start = core.position

    def __repr__(self) -> str:
        return (
            f"HybridBatchSampler(rows={self._core.rows}, config={self.config}, position={self.position}, "
            f"batches_per_epoch={self.batches_per_epoch})"
        )


def expand_parallel(group_ids: Sequence[Any], langs: Sequence[str], *, sources: Optional[Sequence[Any]] = None):
    """The pairs of a parallel table (one row per group and language) as an ``n × 2`` int64
    array of (query row, passage row): every row of a group with every row of the same group,
    itself included. The rows with themselves come first, in table order, then the
    cross-lingual pairs; a pair table built in this order gives the parallel table's batches.

    Build the pair table from it, e.g. ``query = texts[pairs[:, 0]]``, ``positive =
    answers[pairs[:, 1]]``, ``query_lang = langs[pairs[:, 0]]``, ``passage_lang =
    langs[pairs[:, 1]]``, ``group = group_ids[pairs[:, 0]]``.
    """
    pairs = _polyret.expand_parallel(
        _column(group_ids, "group_ids", strings_only=False),
        _column(langs, "langs", strings_only=True),
        sources=None if sources is None else _column(sources, "sources", strings_only=False),
    )
    return np.frombuffer(pairs, dtype=np.int64).reshape(-1, 2)
