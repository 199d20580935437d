"""polyret.st without torch: the batch_sampler factory sentence-transformers calls, and the
LAReQA evaluator on a stand-in model (when sentence-transformers is installed)."""

import pickle

import numpy as np
import pytest

import polyret
import polyret.st
from test_sampler import pair_table


class Table:
    """The part of a datasets.Dataset the factory uses; `visible` plays with_format(columns=…)."""

    def __init__(self, columns, visible=None):
        self.columns, self.visible = columns, visible

    @property
    def column_names(self):
        return list(self.columns)

    def with_format(self, type=None):
        return Table(self.columns)

    def __getitem__(self, column):
        if self.visible is not None and column not in self.visible:
            raise KeyError(column)
        return self.columns[column]


def test_batch_sampler_reads_hidden_columns_and_is_picklable():
    rows = pair_table()
    dataset = Table(
        {"anchor": [f"q{i}" for i in range(len(rows))], "group": [r[0] for r in rows],
         "ql": [r[1] for r in rows], "pl": [r[2] for r in rows]},
        visible=["anchor"],
    )
    make = polyret.st.batch_sampler("group", "ql", "pl", strategy="x-y")
    make = pickle.loads(pickle.dumps(make))  # the trainer pickles its arguments with each checkpoint
    sampler = make(dataset, batch_size=8, drop_last=False, valid_label_columns=["label"], generator=None, seed=5)
    assert isinstance(sampler, polyret.HybridBatchSampler)
    assert sampler.config["seed"] == 5 and sampler.batch_size == 8
    assert all(rows[r][1] != rows[r][2] for batch in sampler for r in batch)
    assert polyret.st.batch_sampler("group", "ql", "pl", seed=1)(dataset, 8).config["seed"] == 1
    with pytest.raises(ValueError, match="no column 'group_id'"):
        polyret.st.batch_sampler()(dataset, 8)
    with pytest.raises(TypeError, match="no batch_size="):
        polyret.st.batch_sampler(batch_size=4)


class Model:
    """A stand-in SentenceTransformer: one-hot of the text's group, whatever the prompt."""

    prompts = {"query": "query: ", "document": "", "passage": "passage: "}

    def __init__(self):
        self.prompt_names = []

    def encode(self, texts, prompt_name=None, normalize_embeddings=True, **_):
        self.prompt_names.append(prompt_name)
        out = np.zeros((len(texts), 8), dtype=np.float32)
        for i, t in enumerate(texts):
            out[i, int(t.split()[1]) % 8] = 1.0
        return out

    class model_card_data:
        @staticmethod
        def set_evaluation_metrics(*args):
            pass


def test_lareqa_evaluator_in_a_training_loop():
    pytest.importorskip("sentence_transformers")
    langs = ["de", "en"]
    queries = {"text": [f"q {g}" for g in range(6) for _ in langs], "lang": langs * 6,
               "group_id": [str(g) for g in range(6) for _ in langs]}
    corpus = {"text": [f"d {g}" for g in range(6) for _ in langs], "lang": langs * 6,
              "group_id": [str(g) for g in range(6) for _ in langs]}
    evaluator = polyret.st.LAReQAEvaluator(queries, corpus, name="toy")
    model = Model()
    metrics = evaluator(model)
    assert model.prompt_names == ["query", "passage"], "the passage prompt, not the empty document one"
    assert evaluator.primary_metric == "toy_multilingual_map"
    # Every copy of the answer has the one-hot of its group: all rank first.
    assert metrics["toy_multilingual_map"] == metrics["toy_crosslingual_map"] == 1.0
    assert {"toy_monolingual_map", "toy_crosslingual_ndcg_at_10", "toy_max_rank_distance"} <= set(metrics)
    assert evaluator.last_report["main_score"] == metrics["toy_multilingual_map"]
