"""Known-answer tests of the double-descent axis (dataset bits / capacity)."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.tracks.text.double_descent import (
    capacity_ratio,
    classify_peak,
    dataset_information_bits,
    peak_ratio,
)


def test_capacity_ratio_arithmetic() -> None:
    bits = dataset_information_bits(np.full(1000, 693.0))
    assert bits == pytest.approx(693_000.0)
    assert capacity_ratio(bits, alpha=3.5, params=198_000) == pytest.approx(1.0)
    assert capacity_ratio(7.0, 3.5, 1) == pytest.approx(2.0)
    with pytest.raises(ValueError):
        capacity_ratio(1.0, 0.0, 10)
    assert peak_ratio(np.array([0.5, 1.0, 2.0]), np.array([3.0, 4.0, 3.5])) == 1.0


def test_identical_capacity_ratio_known_answer() -> None:
    import polars as pl

    from pipeline.tracks.text.summary import with_identical_capacity, x_span

    table = pl.DataFrame({
        "config": ["A"] * 3, "params": [1000] * 3, "n_sequences": [10, 100, 1000],
        "dataset_bits_oracle": [300.0, 3000.0, 30000.0],
        "capacity_ratio": [300 / 3600, 3000 / 3600, 30000 / 3600]})
    identical = pl.DataFrame({"config": ["A"] * 2, "n_sequences": [50, 100],
                              "capacity_bits": [2000.0] * 2, "capacity_at_n": [100] * 2,
                              "capacity_data_limited": [False] * 2})
    table = with_identical_capacity(table, identical)
    assert table["capacity_ratio_identical"].to_list() == [0.15, 1.5, 15.0]
    span = x_span(table)
    assert span["x_identical_range"] == [0.15, 15.0]
    assert not span["x_resolvable"]  # 15 < 30 against the identical architecture


def test_a_test_loss_maximum_worse_than_a_uniform_guess_is_overconfidence() -> None:
    # The old default: 134 bits/token at N = 16 against 10 for a uniform guess (V = 1,024).
    losses = np.array([52.0, 134.0, 60.5, 24.9, 12.8, 9.05, 7.42, 7.05, 6.99, 6.96])
    reading = classify_peak(losses, vocab_size=1024)
    assert reading.position == "overconfidence" and reading.index == 1 and not reading.is_peak
    assert reading.uniform_bits_per_token == pytest.approx(10.0)
    assert classify_peak(losses[5:], 1024).position == "smallest N"


def test_only_an_interior_maximum_above_both_ends_is_a_peak() -> None:
    assert classify_peak(np.array([6.0, 8.0, 7.0]), 1024).is_peak
    assert classify_peak(np.array([9.0, 8.0, 7.0]), 1024).position == "smallest N"
    assert classify_peak(np.array([6.0, 7.0, 8.0]), 1024).position == "largest N"
    assert classify_peak(np.array([8.0, 8.0, 7.0]), 1024).position == "smallest N"
    assert classify_peak(np.array([7.0, 8.0, 8.0]), 1024).position == "not above both ends"
