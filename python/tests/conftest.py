"""Shared fixtures: the repository's data, model and `polyret` binary, which tests that need them
skip without (and fail without under CI, as the Rust tests do)."""

import os
import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "python" / "benchmarks"))  # reference.py, shared with the benchmark


def missing(what: str) -> None:
    """Skips the test, or fails it under CI, where everything must be present."""
    if os.environ.get("CI"):
        pytest.fail(f"{what} (CI must provide it)")
    pytest.skip(what)


@pytest.fixture(scope="session")
def polyret_bin() -> Path:
    """The `polyret` CLI: $POLYRET_BIN, else the release build in $CARGO_TARGET_DIR or target/."""
    candidates = [os.environ.get("POLYRET_BIN")]
    candidates += [os.path.join(d, "release", "polyret") for d in (os.environ.get("CARGO_TARGET_DIR"), REPO / "target") if d]
    candidates.append(shutil.which("polyret"))
    for c in candidates:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return Path(c)
    missing("no polyret binary: cargo build --release -p polyret (or set POLYRET_BIN)")


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = REPO / "data" / "parquet"
    if not (path / "catalog.json").is_file():
        missing(f"no benchmark data in {path}: cargo xtask fetch-data")
    return path


@pytest.fixture(scope="session")
def model_dir() -> Path:
    path = REPO / "models" / "multilingual-e5-small"
    if not (path / "config.json").is_file():
        missing(f"no model in {path}: cargo xtask fetch-model")
    return path
