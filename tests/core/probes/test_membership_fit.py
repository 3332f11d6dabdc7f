"""The bounded, sample-size-weighted membership law: never above 1, and the constants of
well-measured data recovered."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.core.probes.membership import membership_law
from pipeline.core.probes.membership_fit import fit_bounded_membership_law

# The old default's runs (one seed): five points at F1 = 1.0 measured on 8 to 128 sequences,
# where an unweighted least-squares fit predicted 1.017 as x -> 0.
X = np.array([0.834, 1.668, 3.336, 6.672, 13.344, 26.689, 53.378, 106.756, 213.511, 427.023])
F1 = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 0.984, 0.796, 0.638, 0.553, 0.544])
N = 2 * np.array([4, 8, 16, 32, 64, 128, 256, 512, 527, 527])


def test_the_fitted_law_never_exceeds_one() -> None:
    fit = fit_bounded_membership_law(X, F1, N)
    assert fit.converged, fit.reason
    grid = np.concatenate([[0.0], np.geomspace(1e-3, 1e5, 400)])
    assert np.all(fit.predict(grid) <= 1.0) and np.all(fit.predict(grid) >= 0.5)
    assert 0.5 < fit.max_fitted_f1 <= 1.0
    assert fit.max_fitted_f1 == pytest.approx(float(fit.predict(0.0)))  # c2 < 0: falls with x
    lo, hi = fit.conf_int["c1"]
    assert 0.0 <= lo <= fit.params["c1"] <= hi <= 1.0


def test_well_measured_points_recover_the_constants() -> None:
    truth = {"c1": 0.95, "c2": -0.05, "c3": -40.0}
    x = np.linspace(0.0, 120.0, 25)
    f1 = membership_law(x, **truth) + np.random.default_rng(0).normal(0.0, 0.003, x.size)
    fit = fit_bounded_membership_law(x, f1, np.full(x.size, 4000))
    assert fit.converged and fit.at_bound == ()
    for name, value in truth.items():
        assert fit.params[name] == pytest.approx(value, rel=0.1)
        lo, hi = fit.conf_int[name]
        assert lo <= value <= hi


def test_a_point_measured_on_few_sequences_weighs_little() -> None:
    # One wild point on 8 sequences barely moves a law pinned by points on 2,000.
    x = np.linspace(0.0, 120.0, 13)
    truth = membership_law(x, 0.9, -0.05, -40.0)
    n = np.full(x.size, 2000)
    wild = truth.copy()
    wild[-1], n_wild = 1.0, n.copy()
    n_wild[-1] = 8
    clean = fit_bounded_membership_law(x, truth, n)
    noisy = fit_bounded_membership_law(x, wild, n_wild)
    assert noisy.predict(x[-1]) == pytest.approx(clean.predict(x[-1]), abs=0.01)


def test_too_few_points_are_reported_not_raised() -> None:
    few = fit_bounded_membership_law([1.0, 2.0], [0.9, 0.8], [10, 10])
    assert not few.converged and "at least 4" in few.reason
    assert np.isnan(few.max_fitted_f1) and np.isnan(few.predict([1.0])).all()
