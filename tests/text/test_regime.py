"""The text track's regime checks flag each degenerate regime, and only those; memorization is
read calibrated."""

from __future__ import annotations

import polars as pl

from pipeline.tracks.text.findings import (
    Bounds,
    DoubleDescent,
    EstimatorCheck,
    Extraction,
    GridPoint,
    Plateau,
    PlateauRow,
    References,
    Setting,
    Shape,
)
from pipeline.tracks.text.regime import CLEARLY_BETTER, regime_warnings

SIZES = [64, 256, 1024]


def setting(eval_points: int = 11, steps: int = 5000) -> Setting:
    return Setting(configs=["L1-D8"], dataset_sizes=SIZES, seeds=[0], steps=steps,
                   batch_size=32, lr=0.02, eval_points=eval_points, reference_steps=2000,
                   reference_batch_size=64, reference_lr=0.003, vocab_size=1024, seq_len=64,
                   uniform_bits_per_token=10.0, alpha=3.0, paper_alpha=3.64, confidence=0.95,
                   resamples=1000, heldout_sequences=1054, max_scale=4.0, generated="now",
                   host="here", devices=["cpu"])


def references(oracle: float = 5.0, best: float = 6.0, leaks: list[str] | None = None
               ) -> References:
    return References(pool_sequences=2937, leak_tolerance=0.02, leaks=leaks or [],
                      oracle="oracle-A", oracle_test_bits_per_token=oracle,
                      best_model_test_bits_per_token=best,
                      oracle_lead_share=(best - oracle) / oracle,
                      clearly_better_share=CLEARLY_BETTER, rows=[])


def interval(value: float, half: float = 100.0) -> Bounds:
    return Bounds(estimate=value, low=value - half, high=value + half)


def grid(calibrated: list[float], extract: list[float], refs: str = "oracle") -> list[GridPoint]:
    return [GridPoint(config="L1-D8", params=1000, n_sequences=n, seeds=1, dataset_bits=1e4,
                      raw_bits=c + 500, raw_bits_oracle=c + 500, raw_bits_same_size=c + 900,
                      heldout_scaled_bits=500, calibrated=interval(c),
                      capacity_bits_predicted=3000, identical_capacity_bits=2800, x_alpha=1.0,
                      x_identical=1.0, train_bits_per_token=5.0, test_bits_per_token=6.0,
                      references_used=refs, references_refused="", steps=5000, converged_runs=1,
                      extraction={"extract_train_k8": e, "extract_test_k8": 0.0},
                      greedy_agreement=1.0)
            for n, c, e in zip(SIZES, calibrated, extract, strict=True)]


def shape(peak: float, data_limited: bool = False, resolvable: bool = True,
          no_reference: list[int] | None = None) -> Shape:
    dd = DoubleDescent(position="interior peak", is_peak=True, at_n=256, at_x=1.0,
                       test_loss=7.0, readable_position=None, readable_at_n=None)
    return Shape(config="L1-D8", params=1000, peak_at_n=256, peak_calibrated=interval(peak),
                 peak_raw=peak + 500, identical_capacity_bits=2800, identical_capacity_at_n=256,
                 identical_capacity_data_limited=data_limited, alpha_capacity_bits=3000,
                 peak_calibrated_over_identical=interval(peak).scaled(2800),
                 peak_calibrated_over_alpha=interval(peak).scaled(3000),
                 x_alpha_range=[0.2, 40.0], x_identical_range=[0.5, 12.0],
                 x_resolvable=resolvable, double_descent=dd,
                 no_reference_at_n=no_reference or [])


def plateau(gains: list[float], tolerance: float = 0.05) -> Plateau:
    """Rows of stage text_plateau: the runs around the peak at 2× the steps."""
    return Plateau(tolerance=tolerance, grid_steps=500, rows=[
        PlateauRow(config="L1-D8", n_sequences=256, seed=0, is_peak=i == 0, dataset_bits=1e4,
                   steps_short=500, memorized_bits_short=1000, steps_long=1000,
                   memorized_bits_long=1000 * (1 + g), gain=g, at_plateau=g < tolerance)
        for i, g in enumerate(gains)])


def estimator(error: float | None = 0.01) -> EstimatorCheck:
    return EstimatorCheck(
        chain_bits_per_token=3.4, entropy_rate_bits=3.4, reference_bits_per_token=3.43,
        reference_excess_bits_per_token=0.03, tolerance=0.05, close_reference_bits=0.05,
        applies=True, within_tolerance=None if error is None else abs(error) <= 0.05,
        max_relative_error=error, max_relative_error_raw=0.15, weak_excess_share=0.2,
        weak_mixing_weight=0.1, weak_reference_relative_error=0.3,
        weak_reference_relative_error_raw=1.0, rows=[], sensitivity=[])


def warnings(*, calibrated=(2500.0, 3000.0, 2000.0), extract=(0.9, 0.2, 0.01), peak=2500.0,
             converged=(True, True, True), eval_points=11, gains=(), refs=None, **shape_args
             ) -> list[str]:
    return regime_warnings(
        setting=setting(eval_points), references=refs or references(),
        grid=grid(list(calibrated), list(extract)), shapes=[shape(peak, **shape_args)],
        plateau=plateau(list(gains)), extraction=Extraction(prefixes=[8], gap=[],
                                                            nothing_from_n=None,
                                                            greedy_agreement_min=1.0),
        estimator=estimator(), totals=pl.DataFrame({"converged": list(converged)}))


def heads(found: list[str]) -> list[str]:
    return [w.split("**")[1] for w in found]


def test_a_healthy_run_raises_no_warning():
    assert warnings() == []


def test_each_degenerate_regime_is_named():
    found = warnings(peak=400.0, calibrated=(400.0, 300.0, 0.0), extract=(0.5, 0.0, 0.0),
                     converged=(False,) * 3, eval_points=2,
                     refs=references(oracle=5.0, best=5.02, leaks=["same-size-L1-D8"]))
    assert heads(found) == ["Under-trained.", "Weak oracle.", "Reference knows the scored data.",
                            "Nothing to extract.", "Convergence."]
    assert "peaks at 0.40 bits/param, 13% of α" in found[0]
    assert "a lead of 0.4%, under the 5%" in found[1]
    assert "same-size-L1-D8 code the grid's members" in found[2]
    assert "0 of 3 runs converged, judged on only 2" in found[4]


def test_a_peak_far_below_capacity_is_a_step_budget_only_if_longer_runs_gain():
    low = dict(peak=400.0, calibrated=(400.0, 300.0, 200.0))
    at_plateau = warnings(**low, gains=(0.01, 0.03))[0]
    assert at_plateau.startswith("**Far below capacity, at its plateau.**")
    assert "Between 500 and 1,000 steps the runs around the peak gain at most +3.0%" in at_plateau
    budget = warnings(**low, gains=(0.01, 0.12))[0]
    assert budget.startswith("**Under-trained.**") and "gain up to 12.0%" in budget
    assert "Raise `text.train.steps`" in budget
    convergence = warnings(**low, gains=(0.01, 0.12), converged=(False,) * 3)[-1]
    assert "0 of 3 runs converged by the last-quarter rule" in convergence
    assert "1 of the 2 runs around the peak, trained again for longer, are at" in convergence


def test_calibrated_memorization_rising_again_beyond_its_intervals_is_flagged():
    # Raw sums rising with N are not flagged: the held-out control takes them out.
    assert warnings(calibrated=(3000.0, 1000.0, 1150.0)) == []
    found = warnings(calibrated=(3000.0, 1000.0, 2500.0))
    assert heads(found) == ["Calibrated memorization rising again at the largest N"]
    assert "2.5 kbit at N = 1,024, above 1.0 at N = 256" in found[0]


def test_a_data_limited_yardstick_an_unresolvable_x_range_and_no_reference_are_flagged():
    found = warnings(data_limited=True, resolvable=False, no_reference=[1024])
    assert heads(found) == ["Identical-architecture capacity is a lower bound.",
                            "Double descent not resolvable.",
                            "No reference may judge L1-D8 at N = 1,024."]
    assert "N = 256" in found[0] and "0.50–12.0 against the identical" in found[1]


def test_a_failed_estimator_check_is_flagged():
    found = regime_warnings(
        setting=setting(), references=references(), grid=grid([2500.0, 3000.0, 2000.0],
                                                               [0.9, 0.2, 0.01]),
        shapes=[shape(2500.0)], plateau=plateau([]),
        extraction=Extraction(prefixes=[8], gap=[], nothing_from_n=None,
                              greedy_agreement_min=1.0),
        estimator=estimator(0.15), totals=pl.DataFrame({"converged": [True] * 3}))
    assert heads(found) == ["Estimator check failed."]
    assert "15.0% off the true value" in found[0]
