"""HybridBatchSampler: composition, no repeated group, length, determinism, resume, errors, and
the same batches as `polyret sample` on the same table."""

import json
import subprocess

import numpy as np
import pytest

import polyret
from conftest import missing

LANGS = ["en", "de", "ar", "zh"]


def parallel_table(groups=40, langs=LANGS):
    """A parallel table, rows ordered language by language: (group id, language) per row."""
    return [(f"g{g}", lang) for lang in langs for g in range(groups)]


def pair_table(groups=40, langs=LANGS):
    """The pair table of `parallel_table`: group, query language, passage language per row."""
    rows = parallel_table(groups, langs)
    pairs = polyret.expand_parallel([g for g, _ in rows], [l for _, l in rows])
    return [(rows[q][0], rows[q][1], rows[p][1]) for q, p in pairs]


def columns(table):
    return [r[0] for r in table], [r[1] for r in table], [r[2] for r in table]


def sampler(table, **options):
    return polyret.HybridBatchSampler(*columns(table), **options)


def test_expand_parallel_puts_each_row_with_itself_first():
    pairs = polyret.expand_parallel(["a", "b", "a"], ["en", "en", "de"])
    assert pairs.dtype == np.int64 and pairs.shape == (5, 2)
    assert pairs.tolist() == [[0, 0], [1, 1], [2, 2], [0, 2], [2, 0]]
    with pytest.raises(polyret.PolyretError, match="`en` twice"):
        polyret.expand_parallel(["a", "a"], ["en", "en"])


@pytest.mark.parametrize(
    "strategy, kinds",
    [
        ("hybrid", {"mono", "cross"}),
        ("x-x-mono", {"mono"}),
        ("x-y", {"cross"}),
        ("x-x", {"mono", "mixed"}),  # a mixed batch may happen to hold one language
        ("en-en", {"mono"}),
    ],
)
def test_batches_follow_the_strategy(strategy, kinds):
    table = pair_table()
    s = sampler(table, strategy=strategy, batch_size=8, seed=3)
    seen = set()
    batches = list(s)
    assert len(batches) == len(s) == s.batches_per_epoch
    for rows in batches:
        assert len(rows) == 8
        groups = [table[r][0] for r in rows]
        assert len(set(groups)) == 8, "never two rows of one group"
        pairs = [(table[r][1], table[r][2]) for r in rows]
        if all(q == p for q, p in pairs):
            kind = "mono" if len({q for q, _ in pairs}) == 1 else "mixed"
        else:
            assert all(q != p for q, p in pairs), f"a batch mixing mono and cross rows: {pairs}"
            kind = "cross"
        if strategy == "en-en":
            assert all(q == "en" for q, _ in pairs)
        seen.add(kind)
    assert seen <= kinds and (strategy != "hybrid" or seen == kinds)


def test_epochs_lengths_and_set_epoch():
    table = pair_table()
    s = sampler(table, batch_size=8, seed=1)
    # Items are (group, query language): 40 × 4 = 160, so 20 batches an epoch.
    assert len(s) == 20
    first, second = list(s), list(s)
    assert len(first) == len(second) == 20 and first != second
    s.set_epoch(0)
    assert list(s) == first
    s.set_epoch(1)
    assert list(s) == second
    fresh = sampler(table, batch_size=8, seed=1)
    fresh.set_epoch(1)
    assert list(fresh) == second and fresh.epoch == 2


def test_same_seed_same_batches_other_seed_other_batches():
    table = pair_table()
    a, b, c = (sampler(table, batch_size=8, seed=s) for s in (5, 5, 6))
    assert list(a) == list(b)
    assert list(a) != list(c)


def test_state_resumes_exactly_mid_epoch():
    table = pair_table()
    options = dict(alpha=(0.9, 0.1, 30), language_weighting="temperature", temperature=0.5, batch_size=8, seed=2)
    whole = sampler(table, **options)
    expected = list(whole) + list(whole)
    s = sampler(table, **options)
    it = iter(s)
    head = [next(it) for _ in range(7)]
    state = json.loads(json.dumps(s.state()))  # JSON-ready
    resumed = polyret.HybridBatchSampler.from_state(*columns(table), state)
    assert len(resumed) == 13, "the rest of the epoch"
    assert head + list(resumed) + list(resumed) == expected
    s.load_state(state)
    assert list(s) == expected[7:20]
    other = sampler(table, **{**options, "seed": 9})
    with pytest.raises(polyret.PolyretError, match="another sampler configuration"):
        other.load_state(state)
    shorter = pair_table(groups=39)
    with pytest.raises(polyret.PolyretError, match="different groups or a different configuration"):
        polyret.HybridBatchSampler.from_state(*columns(shorter), state)


def test_works_as_a_dataloader_batch_sampler():
    torch = pytest.importorskip("torch")
    table = pair_table()
    s = sampler(table, batch_size=8, seed=4)
    expected = list(sampler(table, batch_size=8, seed=4))
    dataset = torch.arange(len(table))
    loader = torch.utils.data.DataLoader(dataset, batch_sampler=s)
    assert len(loader) == 20
    assert [b.tolist() for b in loader] == expected


def test_errors_name_the_argument_and_the_fix():
    groups, queries, passages = columns(pair_table())
    with pytest.raises(ValueError, match="query_langs has 3 entries, group_ids has"):
        polyret.HybridBatchSampler(groups, queries[:3], passages)
    with pytest.raises(ValueError, match=r"query_langs\[0\]: language code `eng` is written `en`"):
        polyret.HybridBatchSampler(groups, ["eng"] + queries[1:], passages)
    with pytest.raises(ValueError, match=r"passage_langs\[1\]: unknown language code `english`"):
        polyret.HybridBatchSampler(groups, queries, passages[:1] + ["english"] + passages[2:])
    with pytest.raises(TypeError, match=r"query_langs\[0\] must be a str"):
        polyret.HybridBatchSampler(groups, [None] + queries[1:], passages)
    with pytest.raises(ValueError, match="strategy must be one of"):
        polyret.HybridBatchSampler(groups, queries, passages, strategy="hybird")
    with pytest.raises(ValueError, match="alpha applies to strategy='hybrid' only"):
        polyret.HybridBatchSampler(groups, queries, passages, strategy="x-y", alpha=0.3)
    with pytest.raises(polyret.PolyretError, match=r"alpha must be in \[0, 1\], got 1.5"):
        polyret.HybridBatchSampler(groups, queries, passages, alpha=1.5)
    with pytest.raises(polyret.PolyretError, match="en: 40 groups"):
        polyret.HybridBatchSampler(groups, queries, passages, batch_size=64)
    excluding = polyret.HybridBatchSampler(
        groups + ["x1", "x2"], queries + ["sw", "sw"], passages + ["sw", "sw"], batch_size=8, small_languages="exclude"
    )
    assert any("sw: 2 groups" in e for e in excluding.excluded)
    # A parallel table without its cross-lingual pairs serves mono batches only.
    rows = parallel_table()
    diagonal = ([g for g, _ in rows], [l for _, l in rows], [l for _, l in rows])
    assert len(polyret.HybridBatchSampler(*diagonal, strategy="x-x-mono", batch_size=8)) == 20
    with pytest.raises(polyret.PolyretError, match="nor for 479 other pairs.*expand_parallel"):
        polyret.HybridBatchSampler(*diagonal, batch_size=8)
    with pytest.raises(polyret.PolyretError, match=r"rows 0 and 2"):
        polyret.HybridBatchSampler(["a", "b", "a"], ["en", "en", "en"], ["de", "de", "de"], batch_size=1)


def write_pairs(path, rows, split="train", source="toy"):
    """A pairs table as `polyret ingest` writes it (docs/architecture.md)."""
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    n = len(rows)
    table = pa.table(
        {
            "group_id": [g for g, _, _ in rows],
            "query_lang": [q for _, q, _ in rows],
            "query": [f"question {g} {q}" for g, q, _ in rows],
            "positive_lang": [p for _, _, p in rows],
            "positive": [f"answer {g} {p}" for g, _, p in rows],
            "negative": pa.array([None] * n, pa.string()),
            "context": pa.array([None] * n, pa.string()),
            "split": [split] * n,
            "source": [source] * n,
        }
    )
    pq.write_table(table, path)


def cli_batches(polyret_bin, pairs_path, out, *flags):
    subprocess.run(
        [str(polyret_bin), "sample", "--pairs", str(pairs_path), "--out", str(out), *flags],
        check=True,
        capture_output=True,
    )
    with open(out, encoding="utf-8") as f:
        return [[(p["group_id"], p["query_lang"], p["passage_lang"]) for p in json.loads(line)["pairs"]] for line in f]


def python_batches(table, n, **options):
    s = polyret.HybridBatchSampler(*columns(table), **options)
    batches = []
    while len(batches) < n:
        batches += [[table[r] for r in rows] for rows in s]
    return batches[:n]


@pytest.mark.parametrize(
    "flags, options",
    [
        (["--strategy", "hybrid", "--alpha", "0.5"], {"strategy": "hybrid", "alpha": 0.5}),
        (["--strategy", "x-y", "--weighting", "proportional"], {"strategy": "x-y", "language_weighting": "proportional"}),
        (
            ["--alpha", "0.9", "--alpha-end", "0.2", "--alpha-ramp", "40", "--weighting", "temperature", "--temperature", "0.3"],
            {"alpha": (0.9, 0.2, 40), "language_weighting": "temperature", "temperature": 0.3},
        ),
        (["--strategy", "x-x"], {"strategy": "x-x"}),
    ],
)
def test_same_batches_as_polyret_sample(polyret_bin, tmp_path, flags, options):
    """`polyret sample` on a parallel table and the sampler on its expansion draw the same pairs;
    on a table of single pairs, the same table gives the same batches."""
    rows = parallel_table(groups=30)
    write_pairs(tmp_path / "parallel.parquet", [(g, l, l) for g, l in rows])
    common = ["--batch-size", "6", "--batches", "60", "--seed", "11"]
    expected = cli_batches(polyret_bin, tmp_path / "parallel.parquet", tmp_path / "a.jsonl", *common, *flags)
    assert python_batches(pair_table(groups=30), 60, batch_size=6, seed=11, **options) == expected

    rng = np.random.default_rng(0)
    singles = [(f"p{i}", LANGS[rng.integers(4)], LANGS[rng.integers(4)]) for i in range(400)]
    write_pairs(tmp_path / "singles.parquet", singles)
    expected = cli_batches(polyret_bin, tmp_path / "singles.parquet", tmp_path / "b.jsonl", *common, *flags)
    assert python_batches(singles, 60, batch_size=6, seed=11, **options) == expected


def test_same_batches_as_polyret_sample_on_xquad(polyret_bin, data_dir, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    path = data_dir / "xquad-pairs" / "pairs.parquet"
    if not path.is_file():
        missing(f"no {path}")
    table = pq.read_table(path, columns=["group_id", "query_lang", "split", "source"]).to_pydict()
    train = [i for i, s in enumerate(table["split"]) if s == "train"]
    groups = [table["group_id"][i] for i in train]
    langs = [table["query_lang"][i] for i in train]
    sources = [table["source"][i] for i in train]
    flags = ["--batch-size", "32", "--batches", "300", "--seed", "7", "--source-per-batch"]
    expected = cli_batches(polyret_bin, path, tmp_path / "x.jsonl", *flags)
    pairs = polyret.expand_parallel(groups, langs, sources=sources)
    pair_rows = [(groups[q], langs[q], langs[p]) for q, p in pairs.tolist()]
    s = polyret.HybridBatchSampler(
        *columns(pair_rows), sources=[sources[q] for q in pairs[:, 0]], batch_size=32, seed=7, source_per_batch=True
    )
    got = []
    while len(got) < 300:
        got += [[pair_rows[r] for r in rows] for rows in s]
    assert got[:300] == expected
