"""polyret.Encoder: the embeddings `polyret encode` writes for the same texts."""

import json
import subprocess

import numpy as np
import pytest

import polyret

TEXTS = [
    ("Wie viele Punkte gab die Verteidigung ab?", "query"),
    ("Die Verteidigung gab 308 Punkte ab.", "passage"),
    ("防守放弃了多少分？", "query"),
    ("The defense gave up 308 points, the fewest in the league.", "passage"),
    ("¿Cuántos puntos cedió la defensa?", "query"),
]


def test_same_embeddings_as_polyret_encode(polyret_bin, model_dir, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    (tmp_path / "texts.jsonl").write_text("".join(json.dumps({"text": t, "role": r}) + "\n" for t, r in TEXTS))
    subprocess.run(
        [str(polyret_bin), "encode", "--model", str(model_dir), "--input", str(tmp_path / "texts.jsonl"),
         "--out", str(tmp_path / "emb.parquet")],
        check=True,
        capture_output=True,
    )
    cli = np.array(pq.read_table(tmp_path / "emb.parquet")["embedding"].to_pylist(), dtype=np.float32)

    encoder = polyret.Encoder(model_dir)
    assert encoder.backend == "flex" and encoder.dim == cli.shape[1] == 384
    ours = np.zeros_like(cli)
    for role in ("query", "passage"):
        rows = [i for i, (_, r) in enumerate(TEXTS) if r == role]
        embedded = encoder.encode([TEXTS[i][0] for i in rows], role=role)
        assert embedded.dtype == np.float32 and embedded.shape == (len(rows), 384) and embedded.flags.c_contiguous
        ours[rows] = embedded
    assert np.array_equal(ours, cli)
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    # Prompts differ by role (E5: "query: " / "passage: ").
    assert not np.array_equal(encoder.encode([TEXTS[0][0]], role="passage"), ours[:1])
    assert encoder.encode([], role="query").shape == (0, 384)
    with pytest.raises(ValueError, match='role must be "query" or "passage"'):
        encoder.encode(["x"], role="document")


def test_a_missing_model_is_an_error_naming_the_directory(tmp_path):
    with pytest.raises(polyret.PolyretError, match=f"loading model {tmp_path / 'none'}"):
        polyret.Encoder(tmp_path / "none")
    with pytest.raises(ValueError, match="backend"):
        polyret.Encoder(tmp_path, backend="cuda")
