"""Known-answer tests of the loss-threshold membership attack and the F1 law fit."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest

from pipeline.core.probes.membership import (
    PAPER_CONSTANTS,
    best_f1_threshold,
    fit_membership_law,
    loss_threshold_attack,
    membership_law,
    membership_x,
    paper_table2_comparison,
    split_calibration_evaluation,
    tokens_per_parameter,
)

_TABLE2_NAME = "morris2025_table2_membership.csv"
_TABLE2_CANDIDATES = [
    Path(__file__).resolve().parents[3] / "pipeline" / "reference" / _TABLE2_NAME,
    Path("/work/shared/reference") / _TABLE2_NAME,
]
TABLE2 = next((p for p in _TABLE2_CANDIDATES if p.exists()), _TABLE2_CANDIDATES[-1])


def test_attack_perfect_separation_gives_f1_one() -> None:
    rng = np.random.default_rng(1)
    members = rng.uniform(0.0, 1.0, 500)
    nonmembers = rng.uniform(2.0, 3.0, 700)
    result = loss_threshold_attack(members, nonmembers, seed=0)
    assert result["f1"] == 1.0
    assert result["auc"] == 1.0
    assert 1.0 < result["threshold"] < 2.0
    assert result["n_per_class"] == 500  # balanced to the smaller side
    assert result["n_evaluation_per_class"] == 250


def test_attack_identical_distributions_is_chance() -> None:
    rng = np.random.default_rng(2)
    members = rng.normal(3.0, 0.5, 4000)
    nonmembers = rng.normal(3.0, 0.5, 4000)
    result = loss_threshold_attack(members, nonmembers, seed=0)
    assert abs(result["f1"] - 0.5) < 0.05
    assert abs(result["auc"] - 0.5) < 0.05


def test_attack_threshold_uses_calibration_half_only() -> None:
    rng = np.random.default_rng(3)
    members = rng.normal(2.0, 1.0, 1000)
    nonmembers = rng.normal(3.0, 1.0, 1200)
    before = loss_threshold_attack(members, nonmembers, seed=7)

    split = split_calibration_evaluation(members.size, nonmembers.size, seed=7)
    members2, nonmembers2 = members.copy(), nonmembers.copy()
    members2[split.member_evaluation] = rng.normal(10.0, 1.0, split.member_evaluation.size)
    nonmembers2[split.nonmember_evaluation] = -5.0
    after = loss_threshold_attack(members2, nonmembers2, seed=7)
    assert after["threshold"] == before["threshold"]
    assert after["calibration_f1"] == before["calibration_f1"]
    assert after["f1"] != before["f1"]


def test_split_is_balanced_disjoint_and_seeded() -> None:
    a = split_calibration_evaluation(100, 40, seed=5)
    b = split_calibration_evaluation(100, 40, seed=5)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    assert a.member_calibration.size == a.nonmember_calibration.size == 20
    assert a.member_evaluation.size == a.nonmember_evaluation.size == 20
    assert not set(a.member_calibration) & set(a.member_evaluation)


@pytest.mark.parametrize("seed", range(6))
def test_attack_metrics_match_hand_computation(seed: int) -> None:
    rng = np.random.default_rng(seed)
    if seed % 2:  # integer losses: many ties, exercising the half-credit AUC
        members = rng.integers(0, 6, 90).astype(float)
        nonmembers = rng.integers(1, 7, 130).astype(float)
    else:
        members = rng.normal(2.0, 1.0, 90)
        nonmembers = rng.normal(2.6, 1.0, 130)
    result = loss_threshold_attack(members, nonmembers, seed=seed, max_member_fraction=None)

    split = split_calibration_evaluation(members.size, nonmembers.size, seed=seed)
    m, n = members[split.member_evaluation], nonmembers[split.nonmember_evaluation]
    diff = m[:, None] - n[None, :]
    auc = (np.sum(diff < 0) + 0.5 * np.sum(diff == 0)) / diff.size
    tp = int(np.sum(m < result["threshold"]))
    fp = int(np.sum(n < result["threshold"]))
    fn, tn = m.size - tp, n.size - fp
    assert (result["tp"], result["fp"], result["fn"], result["tn"]) == (tp, fp, fn, tn)
    assert result["auc"] == pytest.approx(auc, abs=1e-12)
    assert result["f1"] == pytest.approx(2 * tp / (2 * tp + fp + fn), abs=1e-12)
    assert result["precision"] == pytest.approx(tp / (tp + fp) if tp + fp else 0.0, abs=1e-12)
    assert result["recall"] == pytest.approx(tp / (tp + fn), abs=1e-12)
    assert result["accuracy"] == pytest.approx((tp + tn) / (m.size + n.size), abs=1e-12)


def test_attack_flagging_nobody_scores_zero_without_warning() -> None:
    # Members never have the lower loss, so the best cut flags nobody (threshold = the
    # lowest calibration loss) and nothing in the evaluation half lies below it either.
    members = np.array([5.0, 6.0, 7.0, 8.0])
    nonmembers = np.full(4, 4.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = loss_threshold_attack(members, nonmembers, seed=0)
    assert result["tp"] == result["fp"] == 0
    assert result["f1"] == result["precision"] == result["recall"] == 0.0
    assert result["auc"] == 0.0


def _brute_force_best_f1(members: np.ndarray, nonmembers: np.ndarray, cap: float) -> float:
    losses = np.concatenate([members, nonmembers])
    best = 0.0
    for threshold in np.concatenate([np.unique(losses), [np.inf]]):
        tp = np.sum(members < threshold)
        flagged = np.sum(losses < threshold)
        if flagged <= math.floor(cap * losses.size):
            best = max(best, 2 * tp / (flagged + members.size))
    return best


@pytest.mark.parametrize("seed", range(5))
def test_best_threshold_matches_brute_force_with_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    members = rng.integers(0, 8, 30).astype(float)  # many ties
    nonmembers = rng.integers(2, 10, 30).astype(float)
    threshold, f1 = best_f1_threshold(members, nonmembers)
    assert f1 == pytest.approx(_brute_force_best_f1(members, nonmembers, 0.5))
    tp = np.sum(members < threshold)
    fp = np.sum(nonmembers < threshold)
    assert 2 * tp / (2 * tp + fp + members.size - tp) == pytest.approx(f1)


def test_law_fit_recovers_constants() -> None:
    truth = dict(PAPER_CONSTANTS)
    x = np.linspace(0.0, 120.0, 25)
    f1 = membership_law(x, **truth) + np.random.default_rng(0).normal(0.0, 0.005, x.size)
    fit = fit_membership_law(x, f1)
    assert fit.converged, fit.reason
    for name, value in truth.items():
        assert fit.params[name] == pytest.approx(value, rel=0.1)
        lo, hi = fit.conf_int[name]
        assert lo <= value <= hi
        assert fit.std_errors[name] > 0
    np.testing.assert_allclose(fit.predict(x), membership_law(x, **truth), atol=0.01)
    assert fit.to_dict()["c1_ci_low"] == fit.conf_int["c1"][0]


def test_law_fit_reports_failure_instead_of_raising() -> None:
    few = fit_membership_law([1.0, 2.0, 3.0], [0.9, 0.8, 0.7])
    assert not few.converged and "at least 4" in few.reason
    assert np.isnan(few.predict([1.0, 2.0])).all()

    # A flat plateau at 0.5 cannot pin down the sigmoid's constants.
    x = np.linspace(500.0, 1000.0, 10)
    flat = fit_membership_law(x, 0.5 + np.random.default_rng(0).normal(0, 0.01, 10))
    assert not flat.converged and flat.reason


@pytest.mark.skipif(not TABLE2.exists(), reason="Table 2 reference CSV not available")
def test_membership_x_reproduces_table2_targets() -> None:
    x = np.linspace(0.0, 120.0, 12)
    noise = np.random.default_rng(1).normal(0.0, 0.005, x.size)
    fit = fit_membership_law(x, membership_law(x, 1.3, -0.03, -30.0) + noise)
    table = paper_table2_comparison(fit, TABLE2)
    assert table.height == 6
    np.testing.assert_allclose(table["paper_law_f1"], table["target_f1"], atol=0.01)
    np.testing.assert_allclose(table["fitted_f1"], fit.predict(table["x"].to_numpy()))


def test_x_and_tokens_per_parameter_arithmetic() -> None:
    assert membership_x(2_000, 1_000_000) == pytest.approx(2.0)
    np.testing.assert_allclose(membership_x(np.array([1e6, 2e6]), 1e6), [1000.0, 2000.0])
    assert tokens_per_parameter(1_000, 64, 640) == pytest.approx(100.0)
