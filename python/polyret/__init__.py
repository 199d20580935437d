"""Polyret for Python: multilingual dense retrieval tools with a Rust core.

- :class:`HybridBatchSampler` — contrastive training batches that are monolingual in one
  language (probability α) or cross-lingual, never with two rows of one group; a PyTorch
  ``batch_sampler`` (``polyret.st.batch_sampler`` for sentence-transformers).
  :func:`expand_parallel` makes a pair table's pairs from parallel rows.
- :func:`evaluate` — LAReQA-style evaluation of query and document embeddings: the query ×
  corpus language matrix, monolingual / cross-lingual / multilingual trec_eval measures and
  language bias, as ``polyret eval`` reports them. :func:`load_benchmark` reads Polyret's
  benchmarks; ``polyret.st.LAReQAEvaluator`` evaluates during sentence-transformers training.
- :class:`Encoder` — a sentence encoder on Polyret's fast CPU path, numpy out.

Importing ``polyret`` imports neither torch nor sentence-transformers.
"""

from ._polyret import PolyretError, __version__
from .encoder import Encoder
from .evaluation import Benchmark, evaluate, load_benchmark
from .sampler import HybridBatchSampler, expand_parallel

__all__ = [
    "Benchmark",
    "Encoder",
    "HybridBatchSampler",
    "PolyretError",
    "__version__",
    "evaluate",
    "expand_parallel",
    "load_benchmark",
]
