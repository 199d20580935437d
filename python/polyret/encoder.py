"""A sentence encoder on Polyret's CPU path (Burn's Flex backend), numpy out."""

from __future__ import annotations

import os
from typing import Sequence, Union

import numpy as np

from . import _polyret


class Encoder:
    """A model directory (HF + sentence-transformers layout, e.g. ``models/multilingual-e5-small``
    after ``cargo xtask fetch-model``) loaded on ``backend``: ``"flex"`` (the fast CPU path),
    ``"ndarray"`` or ``"wgpu"``. Pooling, normalisation and the role prompts come from the
    directory, as ``polyret encode`` reads them."""

    def __init__(self, model_dir: Union[str, os.PathLike], backend: str = "flex") -> None:
        self._core = _polyret.Encoder(os.fspath(model_dir), backend)

    @property
    def dim(self) -> int:
        """Width of an embedding."""
        return self._core.dim

    @property
    def fingerprint(self) -> str:
        """Identifies the weights and settings: equal fingerprints give equal embeddings."""
        return self._core.fingerprint

    @property
    def backend(self) -> str:
        return self._core.backend

    def encode(self, texts: Sequence[str], role: str = "passage") -> np.ndarray:
        """Embeddings of ``texts`` as a ``len(texts) × dim`` float32 array; ``role`` is ``"query"``
        or ``"passage"`` (E5 prefixes them differently). The GIL is released while encoding."""
        if isinstance(texts, str):
            raise TypeError("texts must be a sequence of str, not one str")
        texts = list(texts)
        values = self._core.encode(texts, role)
        return np.frombuffer(values, dtype=np.float32).reshape(len(texts), self._core.dim)

    def __repr__(self) -> str:
        return f"Encoder(dim={self.dim}, backend={self.backend!r})"
