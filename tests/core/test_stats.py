"""Known-answer tests of the bootstrap intervals: coverage of a known mean, strata, pairs,
groups, and an explicit "untestable" for too little data."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pipeline.core.stats import (
    Interval,
    bootstrap,
    bootstrap_vector,
    group_bootstrap,
    paired_difference,
    resample_indices,
)


def column_mean(x: np.ndarray) -> np.ndarray:
    return x.mean(axis=1)


def test_interval_covers_a_known_mean_about_as_often_as_promised() -> None:
    # 200 samples of 40 normal values with mean 3: a 90% interval should miss about 10%.
    rng = np.random.default_rng(1)
    hits = 0
    for trial in range(200):
        values = rng.normal(3.0, 2.0, size=40)
        interval = bootstrap(column_mean, values, confidence=0.9, n_resamples=400, seed=trial,
                             vectorized=True)
        hits += bool(interval.covers(3.0))
    assert 0.8 <= hits / 200 <= 0.97


def test_vectorized_and_looped_statistics_agree_on_the_estimate_and_roughly_on_bounds() -> None:
    values = np.random.default_rng(0).exponential(size=60)
    fast = bootstrap(column_mean, values, n_resamples=2000, seed=3, vectorized=True)
    slow = bootstrap(np.mean, values, n_resamples=2000, seed=3)
    assert fast.estimate == pytest.approx(values.mean())
    assert slow.estimate == pytest.approx(values.mean())
    assert fast.low == pytest.approx(slow.low, abs=0.05)
    assert fast.high == pytest.approx(slow.high, abs=0.05)
    assert fast.low < values.mean() < fast.high


def test_same_seed_same_interval() -> None:
    values = np.arange(30.0)
    a = bootstrap(column_mean, values, seed=7, vectorized=True)
    b = bootstrap(column_mean, values, seed=7, vectorized=True)
    assert a == b


@pytest.mark.parametrize("n", [0, 1, 9])
def test_too_few_items_give_no_interval(n: int) -> None:
    interval = bootstrap(column_mean, np.ones(n), vectorized=True)
    assert not interval.testable
    assert interval.low is None and interval.high is None
    assert interval.covers(1.0) is None
    assert "fewer than 10" in interval.reason
    assert interval.estimate == (None if n == 0 else 1.0)
    json.dumps(interval.to_dict(), allow_nan=False)


def test_constant_data_give_a_zero_width_interval() -> None:
    interval = bootstrap(column_mean, np.full(20, 2.5), vectorized=True)
    assert (interval.estimate, interval.low, interval.high) == (2.5, 2.5, 2.5)


def test_a_non_finite_statistic_is_untestable_not_nan() -> None:
    values = np.r_[np.ones(19), np.nan]
    interval = bootstrap(np.mean, values, n_resamples=50)
    assert not interval.testable
    assert interval.estimate is None
    json.dumps(interval.to_dict(), allow_nan=False)


def test_strata_keep_their_sizes_in_every_resample() -> None:
    labels = np.array([0] * 3 + [1] * 7)
    strata = [np.flatnonzero(labels == 0), np.flatnonzero(labels == 1)]
    indices = resample_indices(np.random.default_rng(0), strata, 100)
    assert indices.shape == (100, 10)
    assert np.all(labels[indices][:, :3] == 0) and np.all(labels[indices][:, 3:] == 1)


def test_stratified_bootstrap_names_its_method_and_needs_min_n_per_stratum() -> None:
    labels = np.array([1] * 30 + [0] * 5)
    values = np.arange(35.0)
    assert not bootstrap(np.mean, values, strata=labels).testable
    interval = bootstrap(np.mean, values, strata=labels, min_n=5, n_resamples=100)
    assert interval.testable and interval.method == "stratified percentile bootstrap"


def test_bootstrap_vector_gives_one_interval_per_output() -> None:
    values = np.random.default_rng(2).normal(size=50)

    def stats(x: np.ndarray) -> np.ndarray:
        return np.array([x.mean(), x.std()])

    mean, std = bootstrap_vector(stats, values, n_outputs=2, n_resamples=300)
    assert mean.estimate == pytest.approx(values.mean())
    assert std.estimate == pytest.approx(values.std())
    assert mean.covers(values.mean()) and std.covers(values.std())
    with pytest.raises(ValueError, match="expected 3"):
        bootstrap_vector(stats, values, n_outputs=3)


def test_paired_difference_cancels_what_the_items_share() -> None:
    # Items vary a lot (sd 10) but the two measurements differ by 0.1 +- 0.01: the paired
    # interval is narrow around 0.1, an unpaired view could not exclude 0.
    rng = np.random.default_rng(4)
    base = rng.normal(0, 10, size=50)
    second = base + 0.1 + rng.normal(0, 0.01, size=50)
    interval = paired_difference(column_mean, (second,), (base,), vectorized=True)
    assert interval.method == "paired percentile bootstrap"
    assert interval.estimate == pytest.approx(0.1, abs=0.01)
    assert 0.08 < interval.low < interval.high < 0.12


def test_group_bootstrap_counts_groups_and_refuses_too_few() -> None:
    rng = np.random.default_rng(5)
    groups = np.repeat(np.arange(8), 5)
    values = rng.normal(size=8)[groups] + rng.normal(0, 0.1, size=40)
    interval = group_bootstrap(np.mean, values, groups=groups, n_resamples=300)
    assert interval.n == 8 and interval.testable
    assert interval.low <= values.mean() <= interval.high
    # Items within a group are near copies: the group interval is wider than the item one.
    naive = bootstrap(np.mean, values, n_resamples=300)
    assert interval.high - interval.low > naive.high - naive.low
    two = group_bootstrap(np.mean, values[:10], groups=groups[:10])
    assert not two.testable and "2 groups" in two.reason


def test_bad_settings_and_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match="confidence"):
        bootstrap(np.mean, np.ones(20), confidence=1.0)
    with pytest.raises(ValueError, match="equal length"):
        bootstrap(np.mean, np.ones(20), np.ones(19))
    with pytest.raises(ValueError, match="strata"):
        bootstrap(np.mean, np.ones(20), strata=np.ones(3))


def test_interval_is_a_plain_record() -> None:
    interval = Interval(0.5, 0.4, 0.6, 0.95, 10, "percentile bootstrap", 100)
    assert interval.to_dict()["method"] == "percentile bootstrap"
    assert interval.covers(0.6) and not interval.covers(0.61)
