"""polyret.evaluate: the numbers of a plain numpy + pytrec_eval computation, of trec_eval on its
own run files, and of `polyret eval` on the same embeddings; conversions and errors."""

import json
import subprocess
import sys

import numpy as np
import pytest

import polyret
from conftest import REPO, missing

LANGS = ("de", "en", "zh")


def synthetic(groups=30, langs=LANGS, dim=32, seed=0):
    """One query and one document per group and language: a group direction plus a language
    direction plus noise, so retrieval works and prefers the query's language."""
    rng = np.random.default_rng(seed)
    group_vec = rng.normal(size=(groups, dim))
    lang_vec = {lang: rng.normal(size=dim) * 0.7 for lang in langs}

    def side():
        rows = [(g, lang) for lang in langs for g in range(groups)]
        emb = np.stack([group_vec[g] + lang_vec[lang] + rng.normal(size=dim) * 0.8 for g, lang in rows])
        emb /= np.linalg.norm(emb, axis=1, keepdims=True)
        return emb.astype(np.float32), [lang for _, lang in rows], [f"g{g}" for g, _ in rows]

    return side() + side()


def pytrec_eval_or_missing():
    try:
        import pytrec_eval  # noqa: F401
    except ImportError:
        missing("pytrec_eval is not installed (pip install pytrec-eval-terrier)")


def test_numbers_equal_a_numpy_and_pytrec_eval_computation():
    pytrec_eval_or_missing()
    from reference import lareqa_reference

    data = synthetic()
    report = polyret.evaluate(*data)
    expected = lareqa_reference(*data)
    assert set(report["scores"]) == set(expected["scores"]) == {"multilingual", "monolingual", "crosslingual"}
    for setting, scores in expected["scores"].items():
        for key, value in scores.items():
            assert report["scores"][setting]["scores"][key] == pytest.approx(value, abs=1e-9), (setting, key)
    assert report["main_score"] == report["scores"]["multilingual"]["scores"]["map"]
    matrix = report["matrix"]
    for (q, c), value in expected["matrix_map"].items():
        cell = matrix["metrics"]["map"][matrix["query_langs"].index(q)][matrix["corpus_langs"].index(c)]
        assert cell == pytest.approx(value, abs=1e-9), (q, c)
    assert report["bias"]["max_rank_distance"] == pytest.approx(expected["max_rank_distance"], abs=1e-9)
    assert set(report["bias"]["by_query_lang"]) == set(LANGS)


def test_trec_eval_agrees_on_the_exported_runs(tmp_path):
    pytrec_eval_or_missing()
    data = synthetic(groups=25)
    report = polyret.evaluate(*data, out_dir=tmp_path, trec="all", run_cover=True, model_name="toy", per_query=True)
    check = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "check_trec.py"), str(tmp_path)], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "agree with trec_eval" in check.stdout
    written = json.loads((tmp_path / "results.json").read_text())
    for key in ("scores", "matrix", "bias", "main_score", "dataset", "model"):
        assert written[key] == report[key], key
    rankings = sum(s["rankings"] for s in report["scores"].values())
    assert len(report["per_query"]) == rankings
    unit = report["per_query"][0]
    assert {"setting", "qid", "query_lang", "corpus_lang", "num_rel", "map", "ndcg_at_10"} <= set(unit)


def test_qrels_in_every_form_and_ids_subsets_languages():
    q_emb, q_lang, q_group, d_emb, d_lang, d_group = synthetic(groups=10)
    by_group = polyret.evaluate(q_emb, q_lang, q_group, d_emb, d_lang, d_group)
    triples = [(i, j, 1) for i in range(len(q_group)) for j in range(len(d_group)) if q_group[i] == d_group[j]]
    as_dict = {}
    for i, j, g in triples:
        as_dict.setdefault(f"q{i}", {})[f"d{j}"] = g
    columns = {"qid": [f"q{i}" for i, _, _ in triples], "docid": [f"d{j}" for _, j, _ in triples], "rel": [1] * len(triples)}
    for qrels in (triples, as_dict, columns):
        report = polyret.evaluate(q_emb, q_lang, q_group, d_emb, d_lang, d_group, qrels)
        assert report["scores"] == by_group["scores"]
    # Own ids: a document with the query's id is never retrieved, nor relevant.
    shared = [f"x{i}" for i in range(len(q_group))]
    own = polyret.evaluate(q_emb, q_lang, q_group, d_emb, d_lang, d_group, query_ids=shared, doc_ids=shared)
    assert all(u["num_rel"] == 2 for u in polyret.evaluate(
        q_emb, q_lang, q_group, d_emb, d_lang, d_group, query_ids=shared, doc_ids=shared, per_query=True
    )["per_query"] if u["setting"] == "multilingual")
    assert "monolingual" not in own["scores"], "the only same-language copy is the query's own document"
    # Subsets: queries rank only their subset's documents.
    subset = [lang if lang != "en" else "de" for lang in q_lang]
    split = polyret.evaluate(
        q_emb, q_lang, q_group, d_emb, d_lang, d_group, query_subset=subset, doc_subset=[
            lang if lang != "en" else "de" for lang in d_lang
        ]
    )
    assert split["matrix"]["metrics"]["map"][LANGS.index("de")][LANGS.index("zh")] is None
    only = polyret.evaluate(q_emb, q_lang, q_group, d_emb, d_lang, d_group, langs=["de", "en"])
    assert only["dataset"]["languages"] == ["de", "en"]
    # Zero copy where possible, copies otherwise: the same numbers either way.
    fortran = polyret.evaluate(np.asfortranarray(q_emb), q_lang, q_group, d_emb[::1], d_lang, d_group)
    assert fortran["scores"] == by_group["scores"]


def test_errors_name_the_argument():
    q_emb, q_lang, q_group, d_emb, d_lang, d_group = synthetic(groups=5)
    with pytest.raises(TypeError, match=r"query_emb must be a C-contiguous 2-D numpy float32 array.*float64.*astype"):
        polyret.evaluate(q_emb.astype(np.float64), q_lang, q_group, d_emb, d_lang, d_group)
    with pytest.raises(TypeError, match=r"doc_emb must be a C-contiguous 2-D numpy float32 array.*1-D"):
        polyret.evaluate(q_emb, q_lang, q_group, d_emb[0], d_lang, d_group)
    with pytest.raises(TypeError, match=r"doc_emb must be .* got list"):
        polyret.evaluate(q_emb, q_lang, q_group, d_emb.tolist(), d_lang, d_group)
    with pytest.raises(ValueError, match="query_emb has dimension 32, doc_emb 16"):
        polyret.evaluate(q_emb, q_lang, q_group, d_emb[:, :16].copy(), d_lang, d_group)
    with pytest.raises(ValueError, match="doc_group has 14 entries, doc_emb has 15"):
        polyret.evaluate(q_emb, q_lang, q_group, d_emb, d_lang, d_group[1:])
    with pytest.raises(ValueError, match=r"query_lang\[0\]: unknown language code `xx`"):
        polyret.evaluate(q_emb, ["xx"] + q_lang[1:], q_group, d_emb, d_lang, d_group)
    with pytest.raises(ValueError, match="unknown TREC export"):
        polyret.evaluate(q_emb, q_lang, q_group, d_emb, d_lang, d_group, trec="some")
    with pytest.raises(polyret.PolyretError, match="language fr is not in the set"):
        polyret.evaluate(q_emb, q_lang, q_group, d_emb, d_lang, d_group, langs=["fr"])
    bad = d_emb.copy()
    bad[3, 0] = np.nan
    with pytest.raises(polyret.PolyretError, match="non-finite embedding.*d3"):
        polyret.evaluate(q_emb, q_lang, q_group, bad, d_lang, d_group)
    with pytest.raises(polyret.PolyretError, match="unknown qid|qrels"):
        polyret.evaluate(q_emb, q_lang, q_group, d_emb, d_lang, d_group, [("nope", "d0", 1)])


def test_load_benchmark_reads_catalog_tables(data_dir):
    pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    bench = polyret.load_benchmark("xquad-r", data_dir)
    assert bench.name == "xquad-r"
    assert bench.queries.column_names == ["qid", "lang", "text", "group_id", "subset"]
    assert bench.corpus.num_rows == pq.read_table(data_dir / "xquad-r" / "corpus.parquet").num_rows
    assert bench.qrels.schema.field("rel").type == "int32"
    assert polyret.load_benchmark("multi30k", data_dir).name == "multi30k-test_2016"
    with pytest.raises(polyret.PolyretError, match="no-such-set"):
        polyret.load_benchmark("no-such-set", data_dir)


def test_load_benchmark_without_catalog_says_how_to_fetch(tmp_path):
    with pytest.raises(polyret.PolyretError, match="catalog.json.*fetch-data"):
        polyret.load_benchmark("xquad-r", tmp_path)


def small_benchmark(data_dir, out, langs=("de", "en", "zh"), per_lang=25):
    """The first queries of XQuAD-R in three languages, their relevant documents and every
    seventh other document of those languages, written as an evaluation set directory."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    bench = polyret.load_benchmark("xquad-r", data_dir)
    query_langs = bench.queries["lang"].to_pylist()
    keep = [i for lang in langs for i in [i for i, l in enumerate(query_langs) if l == lang][:per_lang]]
    queries = bench.queries.take(keep)
    qrels = bench.qrels.filter(pc.is_in(bench.qrels["qid"], value_set=queries["qid"]))
    wanted = set(qrels["docid"].to_pylist())
    rows = zip(bench.corpus["docid"].to_pylist(), bench.corpus["lang"].to_pylist())
    corpus = bench.corpus.take([i for i, (d, l) in enumerate(rows) if l in langs and (d in wanted or i % 7 == 0)])
    qrels = qrels.filter(pc.is_in(qrels["docid"], value_set=corpus["docid"]))
    out.mkdir()
    for name, table in (("queries", queries), ("corpus", corpus), ("qrels", qrels)):
        pq.write_table(table, out / f"{name}.parquet")
    return out


def test_same_numbers_as_polyret_eval_on_the_same_embeddings(polyret_bin, data_dir, model_dir, tmp_path):
    pytest.importorskip("pyarrow")
    bench_dir = small_benchmark(data_dir, tmp_path / "xquad-r-small")
    out = tmp_path / "cli"
    subprocess.run(
        [str(polyret_bin), "eval", "--model", str(model_dir), "--benchmark", str(bench_dir), "--out", str(out),
         "--no-cache", "--trec", "none", "--name", "e5"],
        check=True,
        capture_output=True,
    )
    cli = json.loads((out / "results.json").read_text())

    bench = polyret.load_benchmark(bench_dir)
    encoder = polyret.Encoder(model_dir)
    q, d = bench.queries.to_pydict(), bench.corpus.to_pydict()
    report = polyret.evaluate(
        encoder.encode(q["text"], role="query"),
        q["lang"],
        q["group_id"],
        encoder.encode(d["text"], role="passage"),
        d["lang"],
        d["group_id"],
        bench.qrels,
        query_ids=q["qid"],
        doc_ids=d["docid"],
        query_subset=q["subset"],
        doc_subset=d["subset"],
        name=bench.name,
        model_name="e5",
    )
    for key in ("scores", "main_score", "matrix", "bias"):
        assert report[key] == cli[key], key
    for key in ("queries", "documents", "qrels", "languages"):
        assert report["dataset"][key] == cli["dataset"][key], key
