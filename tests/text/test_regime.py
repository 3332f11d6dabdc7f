"""The text track's regime checks flag each degenerate regime, and only those."""

from __future__ import annotations

import polars as pl

from pipeline.tracks.text.regime import regime_warnings

SELECTION = {"oracle": "oracle-A", "candidates": [{"run_id": "oracle-A",
                                                   "test_bits_per_token": 5.0}],
             "leaks": [], "leak_tolerance": 0.02}
LEAKY = {**SELECTION, "leaks": ["same-size-L1-D8"]}


def table(memorized: list[float], test_loss: float, extract: list[float]) -> pl.DataFrame:
    return pl.DataFrame({"config": ["L1-D8"] * 3, "n_sequences": [64, 256, 1024],
                         "params": [1000] * 3, "memorized_bits": memorized,
                         "test_loss_bits_per_token": [test_loss] * 3,
                         "extract_train_k8": extract})


def totals(converged: list[bool]) -> pl.DataFrame:
    return pl.DataFrame({"converged": converged})


def plateau(gains: list[float], tolerance: float = 0.05) -> pl.DataFrame:
    """Rows of stage text_plateau: the runs around the peak at 2× the steps."""
    return pl.DataFrame({"gain": gains, "steps_short": [500] * len(gains),
                         "steps_long": [1000] * len(gains),
                         "at_plateau": [g < tolerance for g in gains]})


NO_PLATEAU = plateau([])


def comparison(data_limited: bool = False, resolvable: bool = True) -> list[dict]:
    return [{"config": "L1-D8", "identical_capacity_at_n": 256,
             "identical_capacity_data_limited": data_limited, "x_resolvable": resolvable,
             "x_alpha_range": [0.2, 40.0], "x_identical_range": [0.5, 12.0]}]


def test_a_healthy_run_raises_no_warning():
    healthy = table([2500.0, 3000.0, 2000.0], test_loss=6.0, extract=[0.9, 0.2, 0.01])
    assert regime_warnings(totals([True] * 3), healthy, SELECTION, alpha=3.0, prefixes=[8],
                           eval_points=11, steps=5000, comparison=comparison(),
                           plateau=NO_PLATEAU) == []


def test_each_degenerate_regime_is_named():
    degenerate = table([400.0, 300.0, 0.0], test_loss=5.02, extract=[0.5, 0.0, 0.0])
    warnings = regime_warnings(totals([False] * 3), degenerate, LEAKY, alpha=3.0,
                               prefixes=[8], eval_points=2, steps=500,
                               comparison=comparison(), plateau=NO_PLATEAU)
    heads = [w.split("**")[1] for w in warnings]
    assert heads == ["Under-trained.", "Weak reference.", "Reference knows the scored data.",
                     "Nothing to extract.", "Convergence."]
    assert "same-size-L1-D8 code the grid's members" in warnings[2]
    assert "0.40 bits/param, 13% of α" in warnings[0]
    assert "0 of 3 runs converged, judged on only 2" in warnings[4]


def test_a_peak_far_below_capacity_is_a_step_budget_only_if_longer_runs_gain():
    low = table([400.0, 300.0, 200.0], test_loss=6.0, extract=[0.9, 0.2, 0.01])

    def first_warning(longer: pl.DataFrame) -> str:
        return regime_warnings(totals([False] * 3), low, SELECTION, alpha=3.0, prefixes=[8],
                               eval_points=11, steps=500, comparison=comparison(),
                               plateau=longer)[0]

    at_plateau = first_warning(plateau([0.01, 0.03]))
    assert at_plateau.startswith("**Far below capacity, at its plateau.**")
    assert "Between 500 and 1,000 steps the runs around the peak gain at most +3.0%" in at_plateau
    assert "not the step budget" in at_plateau
    budget = first_warning(plateau([0.01, 0.12]))
    assert budget.startswith("**Under-trained.**") and "gain up to 12.0%" in budget
    assert "Raise `text.train.steps`" in budget
    convergence = regime_warnings(totals([False] * 3), low, SELECTION, alpha=3.0,
                                  prefixes=[8], eval_points=11, steps=500,
                                  comparison=comparison(), plateau=plateau([0.01, 0.12]))[-1]
    assert "0 of 3 runs converged by the last-quarter rule" in convergence
    assert "1 of the 2 runs around the peak, trained again for longer, are at" in convergence


def test_memorization_rising_again_while_the_model_is_worse_than_the_oracle_is_flagged():
    rising = table([3000.0, 1000.0, 2500.0], test_loss=6.0, extract=[0.9, 0.2, 0.01])
    warnings = regime_warnings(totals([True] * 3), rising, SELECTION, alpha=3.0, prefixes=[8],
                               eval_points=11, steps=5000, comparison=comparison(),
                               plateau=NO_PLATEAU)
    assert [w.split("**")[1] for w in warnings] == ["Memorization rising again at the largest N"]
    assert "2.5 kbit at N = 1,024, from 1.0 kbit" in warnings[0]


def test_a_data_limited_yardstick_and_an_unresolvable_x_range_are_flagged():
    healthy = table([2500.0, 3000.0, 2000.0], test_loss=6.0, extract=[0.9, 0.2, 0.01])
    warnings = regime_warnings(totals([True] * 3), healthy, SELECTION, alpha=3.0, prefixes=[8],
                               eval_points=11, steps=5000,
                               comparison=comparison(data_limited=True, resolvable=False),
                               plateau=NO_PLATEAU)
    assert [w.split("**")[1] for w in warnings] == [
        "Identical-architecture capacity is a lower bound.", "Double descent not resolvable."]
    assert "N = 256" in warnings[0]
    assert "0.50–12.0 against the identical" in warnings[1]


def test_the_sizes_from_which_nothing_is_extracted_are_named():
    from pipeline.tracks.text.report import nothing_extracted_note

    table = pl.DataFrame({"n_sequences": [8, 16, 32, 64],
                          "extract_train_k8": [1.0, 0.5, 0.0, 0.0],
                          "extract_train_k16": [1.0, 0.0, 0.0, 0.0]})
    assert "from N = 32 on" in nothing_extracted_note(table, [8, 16])[0]
    extracting = table.with_columns(pl.lit(0.1).alias("extract_train_k8"))
    assert nothing_extracted_note(extracting, [8, 16]) == []
