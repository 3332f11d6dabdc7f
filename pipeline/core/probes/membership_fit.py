"""The membership law fitted as a bounded, sample-size-weighted likelihood (issue 22 item 5).

Morris et al.'s law ``F1 = ½ (1 + c1 σ(c2 (x + c3)))`` (:mod:`pipeline.core.probes.membership`)
exceeds 1 wherever ``c1 σ(·) > 1``; the paper's own constants give 1.006 at x = 0, and an
unweighted least-squares fit to a few F1 = 1.0 points measured on 4–64 sequences went to
1.017. Here each point is an F1 measured on ``n`` evaluated sequences and is treated as a
share of ``n`` trials (quasi-binomial likelihood): a point measured on 1,000 sequences
weighs 250 times one measured on 4, and ``c1`` is bounded to [0, 1], so the fitted F1 stays
in [½, 1] at every x (:attr:`BoundedLawFit.max_fitted_f1`).

Intervals: Wald (Student t with ``n_points − 3`` degrees of freedom) from the observed
information, scaled by the Pearson dispersion when it is above 1 (the F1 of a fixed
threshold varies more than a binomial share); a ``c1`` at its bound 1 gets a one-sided
profile-likelihood interval instead (the information matrix says nothing at a bound).
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import brentq, minimize
from scipy.special import expit
from scipy.stats import chi2
from scipy.stats import t as student_t
from statsmodels.tools.numdiff import approx_hess

from pipeline.core.probes.membership import LAW_PARAM_NAMES, PAPER_CONSTANTS, membership_law

C1_BOUNDS = (0.0, 1.0)
_AT_BOUND = 1e-6
_P_FLOOR = 1e-12


def _nan_dict() -> dict[str, float]:
    return dict.fromkeys(LAW_PARAM_NAMES, math.nan)


@dataclass(frozen=True)
class BoundedLawFit:
    """Result of :func:`fit_bounded_membership_law`; ``predict`` gives NaN unless
    ``converged``. ``at_bound`` names the constants that sit at their bound."""

    converged: bool
    reason: str | None
    n_points: int
    params: dict[str, float] = field(default_factory=_nan_dict)
    std_errors: dict[str, float] = field(default_factory=_nan_dict)
    conf_int: dict[str, tuple[float, float]] = field(
        default_factory=lambda: {k: (math.nan, math.nan) for k in LAW_PARAM_NAMES})
    dispersion: float = math.nan
    deviance: float = math.nan
    at_bound: tuple[str, ...] = ()
    confidence: float = 0.95
    method: str = "quasi-binomial likelihood, c1 in [0, 1], weights = evaluated sequences"

    def predict(self, x: float | np.ndarray) -> np.ndarray:
        xs = np.asarray(x, dtype=np.float64)
        if not self.converged:
            return np.full(xs.shape, math.nan)
        return membership_law(xs, **self.params)

    @property
    def max_fitted_f1(self) -> float:
        """The supremum of the fitted law over x ≥ 0 (x counts sequences): at x = 0 when the
        law falls with x, its limit ½ (1 + c1) when it rises."""
        if not self.converged:
            return math.nan
        c1, c2 = self.params["c1"], self.params["c2"]
        return float(max(self.predict(0.0), 0.5 * (1.0 + c1) if c2 > 0 else -math.inf))

    def to_dict(self) -> dict:
        """Flat JSON-friendly summary."""
        out: dict = {"converged": self.converged, "reason": self.reason,
                     "n_points": self.n_points, "dispersion": self.dispersion,
                     "deviance": self.deviance, "at_bound": list(self.at_bound),
                     "confidence": self.confidence, "method": self.method,
                     "max_fitted_f1": self.max_fitted_f1}
        for name in LAW_PARAM_NAMES:
            lo, hi = self.conf_int[name]
            out |= {name: self.params[name], f"{name}_se": self.std_errors[name],
                    f"{name}_ci_low": lo, f"{name}_ci_high": hi}
        return out


def _negative_loglik(theta: np.ndarray, x: np.ndarray, f1: np.ndarray, n: np.ndarray) -> float:
    """Quasi-binomial: ``−Σ n (y log p + (1 − y) log(1 − p))`` with ``p`` the law at x."""
    p = np.clip(membership_law(x, *theta), _P_FLOOR, 1.0 - _P_FLOOR)
    return float(-np.sum(n * (f1 * np.log(p) + (1.0 - f1) * np.log1p(-p))))


def _starts(x: np.ndarray, f1: np.ndarray) -> list[np.ndarray]:
    """The paper's constants (c1 clipped into its bounds) and a start on the data's x range."""
    spread = float(np.ptp(x)) or 1.0
    c2, c3 = -8.0 / spread, -float(np.median(x))
    c1 = min(0.99, max(2.0 * float(f1.max()) - 1.0, 0.05) / float(expit(c2 * (x.min() + c3))))
    paper = [min(PAPER_CONSTANTS["c1"], 0.99), PAPER_CONSTANTS["c2"], PAPER_CONSTANTS["c3"]]
    return [np.array(paper), np.array([c1, c2, c3])]


def _minimize(objective, starts: list[np.ndarray], bounds: list[tuple]) -> np.ndarray | None:
    best = None
    for start in starts:
        for method in ("Nelder-Mead", "L-BFGS-B"):
            result = minimize(objective, start, method=method, bounds=bounds,
                              options={"maxiter": 20_000})
            if np.isfinite(result.fun) and (best is None or result.fun < best.fun):
                best = result
            start = result.x
    return None if best is None else best.x


def _profile_c1_low(x, f1, n, theta, floor, dispersion, confidence) -> float:
    """Lower end of c1's profile-likelihood interval when c1 sits at its bound 1."""
    critical = chi2.ppf(2.0 * confidence - 1.0, 1) * dispersion / 2.0  # one-sided

    def excess(c1: float) -> float:
        inner = _minimize(lambda t: _negative_loglik(np.array([c1, *t]), x, f1, n),
                          [theta[1:]], [(None, None), (None, None)])
        return _negative_loglik(np.array([c1, *inner]), x, f1, n) - floor - critical

    if excess(C1_BOUNDS[0] + 1e-9) < 0:
        return C1_BOUNDS[0]
    return float(brentq(excess, C1_BOUNDS[0] + 1e-9, C1_BOUNDS[1], xtol=1e-4))


def fit_bounded_membership_law(x: np.ndarray, f1: np.ndarray, n: np.ndarray,
                               confidence: float = 0.95) -> BoundedLawFit:
    """Fit (c1, c2, c3) to F1 values measured on ``n`` sequences each (module docstring).

    Never raises on bad data: fewer than 4 finite points, no optimum, or an information
    matrix that does not identify the free constants give ``converged=False`` and the
    reason."""
    xs, ys, ns = (np.asarray(a, dtype=np.float64).ravel() for a in (x, f1, n))
    if not xs.shape == ys.shape == ns.shape:
        return BoundedLawFit(False, f"x, f1 and n differ in length ({xs.size}, {ys.size}, "
                             f"{ns.size})", 0)
    keep = np.isfinite(xs) & np.isfinite(ys) & np.isfinite(ns) & (ns > 0)
    xs, ys, ns = xs[keep], ys[keep], ns[keep]
    k = len(LAW_PARAM_NAMES)
    if xs.size < k + 1:
        return BoundedLawFit(False, f"need at least {k + 1} finite points, got {xs.size}",
                             int(xs.size))
    ys = np.clip(ys, 0.0, 1.0)
    bounds = [C1_BOUNDS, (None, None), (None, None)]
    theta = _minimize(lambda t: _negative_loglik(t, xs, ys, ns), _starts(xs, ys), bounds)
    if theta is None:
        return BoundedLawFit(False, "the optimizer found no finite optimum", int(xs.size))
    return _with_intervals(xs, ys, ns, theta, confidence)


def _with_intervals(x, f1, n, theta, confidence) -> BoundedLawFit:
    """Standard errors and intervals of a fitted ``theta`` (module docstring)."""
    k, df = len(LAW_PARAM_NAMES), x.size - len(LAW_PARAM_NAMES)
    params = dict(zip(LAW_PARAM_NAMES, map(float, theta), strict=True))
    p = np.clip(membership_law(x, *theta), _P_FLOOR, 1.0 - _P_FLOOR)
    dispersion = max(1.0, float(np.sum(n * (f1 - p) ** 2 / (p * (1.0 - p)))) / df)
    floor = _negative_loglik(theta, x, f1, n)
    at_bound = ("c1",) if theta[0] >= C1_BOUNDS[1] - _AT_BOUND else ()
    free = [i for i in range(k) if LAW_PARAM_NAMES[i] not in at_bound]

    def restricted(values: np.ndarray) -> float:
        full = theta.copy()
        full[free] = values
        return _negative_loglik(full, x, f1, n)

    variance = np.full(k, math.nan)
    with np.errstate(all="ignore"):
        hessian = approx_hess(theta[free], restricted)
        with contextlib.suppress(np.linalg.LinAlgError):  # singular: reported just below
            variance[free] = np.diag(np.linalg.inv(hessian)) * dispersion
    common = dict(n_points=int(x.size), params=params, dispersion=dispersion,
                  deviance=2.0 * floor, at_bound=at_bound, confidence=confidence)
    if not (np.all(np.isfinite(variance[free])) and np.all(variance[free] > 0)):
        return BoundedLawFit(False, "information matrix not positive definite: the points do "
                             "not identify the constants", **common)
    q = float(student_t.ppf(0.5 + confidence / 2.0, df))
    se = np.sqrt(variance)
    conf_int = {name: (float(params[name] - q * se[i]), float(params[name] + q * se[i]))
                for i, name in enumerate(LAW_PARAM_NAMES)}
    if at_bound:
        conf_int["c1"] = (_profile_c1_low(x, f1, n, theta, floor, dispersion, confidence),
                          C1_BOUNDS[1])
    else:
        conf_int["c1"] = (float(max(conf_int["c1"][0], C1_BOUNDS[0])),
                          float(min(conf_int["c1"][1], C1_BOUNDS[1])))
    return BoundedLawFit(True, None, std_errors=dict(zip(LAW_PARAM_NAMES, map(float, se),
                                                         strict=True)),
                         conf_int=conf_int, **common)
