"""The held-out calibration of summed memorization: the mean over several targets."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.core.probes.calibration import calibrated_memorization, mean_calibrated_memorization


def test_the_mean_over_targets_is_the_mean_of_their_calibrated_totals() -> None:
    rng = np.random.default_rng(0)
    runs = [(rng.exponential(5, 40) + 3, rng.exponential(5, 100)),
            (rng.exponential(5, 40) + 1, rng.exponential(5, 60))]
    single = [calibrated_memorization(m, n, n_resamples=200).calibrated.estimate
              for m, n in runs]
    mean = mean_calibrated_memorization(runs, n_resamples=500)
    assert mean.estimate == pytest.approx(np.mean(single))
    assert mean.low < mean.estimate < mean.high


def test_targets_that_memorized_nothing_cover_zero_and_real_excess_does_not() -> None:
    rng = np.random.default_rng(1)

    def clamped(size: int, shift: float = 0.0) -> np.ndarray:
        return np.maximum(0.0, rng.normal(-5, 8, size) + shift)

    nothing = [(clamped(200), clamped(300)) for _ in range(2)]
    assert mean_calibrated_memorization(nothing, n_resamples=500).covers(0.0)
    excess = [(clamped(200, 6.0), clamped(300)) for _ in range(2)]
    assert mean_calibrated_memorization(excess, n_resamples=500).low > 0


def test_a_target_with_too_few_sequences_has_no_interval_and_empty_sets_are_refused() -> None:
    result = mean_calibrated_memorization([(np.ones(5), np.ones(50)), (np.ones(50), np.ones(50))])
    assert not result.testable and "fewer than 10" in result.reason
    with pytest.raises(ValueError, match="needs members and non-members"):
        mean_calibrated_memorization([(np.ones(5), np.array([]))])
    with pytest.raises(ValueError, match="not finite"):
        mean_calibrated_memorization([(np.array([1.0, np.nan]), np.ones(3))])
