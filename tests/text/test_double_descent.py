"""Known-answer tests of the double-descent axis (dataset bits / capacity)."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.tracks.text.double_descent import capacity_ratio, dataset_information_bits, peak_ratio


def test_capacity_ratio_arithmetic() -> None:
    bits = dataset_information_bits(np.full(1000, 693.0))
    assert bits == pytest.approx(693_000.0)
    assert capacity_ratio(bits, alpha=3.5, params=198_000) == pytest.approx(1.0)
    assert capacity_ratio(7.0, 3.5, 1) == pytest.approx(2.0)
    with pytest.raises(ValueError):
        capacity_ratio(1.0, 0.0, 10)
    assert peak_ratio(np.array([0.5, 1.0, 2.0]), np.array([3.0, 4.0, 3.5])) == 1.0


def test_capacity_comparison_known_answer() -> None:
    import polars as pl

    from pipeline.tracks.text.summary import capacity_comparison, with_identical_capacity

    table = pl.DataFrame({
        "config": ["A"] * 3, "params": [1000] * 3, "n_sequences": [10, 100, 1000],
        "dataset_bits": [300.0, 3000.0, 30000.0], "memorized_bits": [290.0, 1800.0, 900.0],
        "capacity_bits_predicted": [3600.0] * 3,
        "capacity_ratio": [300 / 3600, 3000 / 3600, 30000 / 3600]})
    identical = pl.DataFrame({"config": ["A"] * 2, "n_sequences": [50, 100],
                              "capacity_bits": [2000.0] * 2, "capacity_at_n": [100] * 2,
                              "capacity_data_limited": [False] * 2})
    table = with_identical_capacity(table, identical)
    assert table["capacity_ratio_identical"].to_list() == [0.15, 1.5, 15.0]
    (row,) = capacity_comparison(table, identical)
    assert row["peak_memorized_bits"] == 1800.0 and row["peak_at_n"] == 100
    assert row["peak_over_identical"] == 0.9 and row["peak_over_alpha"] == 0.5
    assert row["x_identical_range"] == [0.15, 15.0]
    assert not row["x_resolvable"]  # 15 < 30 against the identical architecture


def test_test_loss_worse_than_a_uniform_guess_is_named_overconfidence() -> None:
    import polars as pl

    from pipeline.tracks.text.report import overconfidence_note

    table = pl.DataFrame({"n_sequences": [8, 64, 512],
                          "test_loss_bits_per_token": [40.0, 9.0, 7.0]})
    (note, _) = overconfidence_note(table, vocab_size=1024)
    assert note.startswith("At N = 8 the test loss is above a uniform guess (10.0 bits/token)")
    assert overconfidence_note(table.filter(pl.col("n_sequences") > 8), 1024) == []
