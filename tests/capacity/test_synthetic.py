"""Synthetic data: uniform tokens, deterministic bytes, fixed-size list column."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from pipeline.core.errors import ArtifactError
from pipeline.core.io import read_tokens, write_tokens
from pipeline.tracks.capacity.synthetic import uniform_tokens


def test_same_params_give_byte_identical_parquet(tmp_path):
    for name in ("a", "b"):
        write_tokens(uniform_tokens(100, 16, 2048, seed=3), "uint16", tmp_path / f"{name}.parquet")
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()


def test_tokens_are_a_fixed_size_integer_list(tmp_path):
    tokens = uniform_tokens(10, 8, 300, seed=0)
    write_tokens(tokens, "uint16", tmp_path / "t.parquet")
    schema = pl.read_parquet_schema(tmp_path / "t.parquet")
    assert schema["tokens"] == pl.Array(pl.UInt16, 8)
    np.testing.assert_array_equal(read_tokens(tmp_path / "t.parquet"), tokens)


def test_seed_and_size_each_change_the_data():
    base = uniform_tokens(64, 8, 256, seed=0)
    assert not np.array_equal(base, uniform_tokens(64, 8, 256, seed=1))
    assert not np.array_equal(base[:32], uniform_tokens(32, 8, 256, seed=0))


def test_tokens_are_uniform():
    tokens = uniform_tokens(4000, 64, 16, seed=0)
    counts = np.bincount(tokens.ravel(), minlength=16)
    expected = tokens.size / 16
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < 45  # 15 degrees of freedom; p ≈ 1e-4
    assert tokens.min() == 0 and tokens.max() == 15


def test_corrupt_or_missing_input_names_the_file(tmp_path):
    with pytest.raises(ArtifactError, match="missing"):
        read_tokens(tmp_path / "nope.parquet")
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    with pytest.raises(ArtifactError, match="bad.parquet"):
        read_tokens(tmp_path / "bad.parquet")
