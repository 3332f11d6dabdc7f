"""The plateau check picks the runs around each peak, and measures the gain between the two
step budgets (stage text_plateau)."""

from __future__ import annotations

import math

import polars as pl
import pytest

from pipeline.tracks.text.plateau import check_run_id, check_steps, relative_gain, runs_around_peak


def totals(memorized: dict[tuple[str, int], list[float]]) -> pl.DataFrame:
    """A scored grid: per (shape, seed) calibrated memorization at N = 8, 16, 32, ..."""
    rows = []
    for (config, seed), bits in memorized.items():
        for i, value in enumerate(bits):
            n = 8 << i
            rows.append({"run_id": f"{config}-N{n}-S{seed}", "config": config, "seed": seed,
                         "n_sequences": n, "calibrated_bits": value})
    # Shuffled, so the choice cannot rely on the file's order.
    return pl.DataFrame(rows).sample(fraction=1.0, shuffle=True, seed=1)


def test_the_peak_and_its_neighbours_are_checked_per_shape_and_seed():
    grid = totals({("A", 0): [100.0, 300.0, 250.0, 90.0],
                   ("A", 1): [100.0, 200.0, 320.0, 150.0],
                   ("B", 0): [400.0, 300.0, 50.0]})
    assert runs_around_peak(grid, set()) == {
        "A-N8-S0": False, "A-N16-S0": True, "A-N32-S0": False,
        "A-N16-S1": False, "A-N32-S1": True, "A-N64-S1": False,
        "B-N8-S0": True, "B-N16-S0": False,
    }


def test_runs_that_stopped_early_fully_memorized_are_left_out():
    grid = totals({("A", 0): [100.0, 300.0, 250.0]})
    assert runs_around_peak(grid, {"A-N8-S0"}) == {"A-N16-S0": True, "A-N32-S0": False}
    assert runs_around_peak(grid, {"A-N8-S0", "A-N16-S0", "A-N32-S0"}) == {}


def test_the_gain_is_the_longer_runs_extra_share():
    assert relative_gain(8000.0, 8400.0) == pytest.approx(0.05)
    assert relative_gain(8000.0, 7600.0) == pytest.approx(-0.05)
    assert relative_gain(0.0, 0.0) == 0.0
    assert math.isinf(relative_gain(0.0, 10.0))


def test_the_check_runs_are_named_and_sized_by_the_factor():
    assert check_run_id("L1-D8-N32-S0", 2.0) == "L1-D8-N32-S0-x2"
    assert check_run_id("L1-D8-N32-S0", 0.5) == "L1-D8-N32-S0-x0.5"
    assert check_steps(2500, 2.0) == 5000
    assert check_steps(2500, 0.5) == 1250
    assert check_steps(3, 0.1) == 1


def test_a_run_without_calibrated_memorization_is_never_the_peak():
    grid = totals({("A", 0): [float("nan"), 300.0, 250.0]})
    assert runs_around_peak(grid, set())["A-N16-S0"] is True
