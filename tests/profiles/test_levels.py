"""Level bins and transitions (the gate: test_verdicts.py)."""

from __future__ import annotations

import numpy as np
import polars as pl

from pipeline.tracks.profiles.levels import level, transition_matrix, transitions


def test_bin_edges_are_right_closed():
    assert level(0.2) == 0 and level(0.21) == 1 and level(0.81) == 4
    assert level(0.0) == 0 and level(0.8) == 3 and level(1.0) == 4
    assert level(3 / 16 + 1 / 80) == 0  # 0.2 computed in floating point still counts as ≤ 0.2


def test_a_model_compared_with_itself_gives_the_identity():
    scores = np.random.default_rng(0).integers(0, 17, 500) / 16
    shares, counts = transition_matrix(scores, scores)
    np.testing.assert_array_equal(shares, np.eye(5))
    assert counts.sum() == 500
    main = pl.DataFrame({"seq_id": list(range(500)) * 2, "model": ["a"] * 500 + ["b"] * 500,
                         "M": np.concatenate([scores, scores])})
    table, pairs = transitions(main, ["a", "b"])
    assert [p["diagonal_mass"] for p in pairs] == [1.0, 1.0]
    assert table.height == 2 * 25
