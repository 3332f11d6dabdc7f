"""The rules of the audit's known-answer checks (docs/audit.md §8): an estimate with its
interval against bounds, and a coverage count against the binomial its confidence implies.

Three verdicts, never two: an interval entirely on the right side of a bound is ``as
expected``; one entirely on the wrong side is ``not as expected``; one that straddles a bound,
or no interval at all (too few sequences), is ``untestable``, with the reason.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel
from scipy.stats import binom

Verdict = Literal["as expected", "not as expected", "untestable"]


class Estimate(BaseModel):
    """A number with its bootstrap interval (``low``/``high`` null: untestable, ``reason``)."""

    estimate: float | None
    low: float | None
    high: float | None
    confidence: float
    n: int
    reason: str | None = None

    @classmethod
    def of(cls, interval: dict) -> Estimate:
        return cls(**{name: interval.get(name) for name in cls.model_fields})

    @property
    def testable(self) -> bool:
        return self.low is not None and self.high is not None


class Check(BaseModel):
    """A known-answer rule and what the data said."""

    name: str
    rule: str
    verdict: Verdict
    detail: str


def _interval(estimate: Estimate) -> str:
    return f"{estimate.estimate:.3f} [{estimate.low:.3f}, {estimate.high:.3f}]"


def compare(estimates: dict[str, Estimate], low: float, high: float) -> tuple[Verdict, str]:
    """Every interval inside ``[low, high]``: as expected; one entirely outside it: not as
    expected (named); otherwise an interval straddles a bound and more sequences are needed
    to decide: untestable (named)."""
    if not all(e.testable for e in estimates.values()):
        return "untestable", _why_untestable(estimates)
    outside = {n: e for n, e in estimates.items() if e.high < low or e.low > high}
    if outside:
        return "not as expected", "; ".join(f"{n}: {_interval(e)}" for n, e in outside.items())
    straddling = {n: e for n, e in estimates.items() if e.low < low or e.high > high}
    if straddling:
        name, e = next(iter(straddling.items()))
        return "untestable", (f"{name}: {_interval(e)} straddles the bound: too few sequences "
                              "to decide")
    return "as expected", "; ".join(f"{n}: {_interval(e)}" for n, e in estimates.items())


def at_least(estimates: dict[str, Estimate], bound: float) -> tuple[Verdict, str]:
    """Every interval at or above ``bound`` (:func:`compare`)."""
    return compare(estimates, bound, math.inf)


def within(estimates: dict[str, Estimate], low: float, high: float) -> tuple[Verdict, str]:
    """Every interval inside ``[low, high]`` (:func:`compare`)."""
    return compare(estimates, low, high)


def above(estimate: Estimate, value: float) -> tuple[Verdict, str]:
    """The whole interval above ``value`` (:func:`compare`)."""
    return compare({"interval": estimate}, math.nextafter(value, math.inf), math.inf)


def coverage_floor(splits: int, confidence: float) -> int:
    """The fewest intervals out of ``splits`` that may cover a true value when each covers it
    with probability ``confidence``: the 1% quantile of that binomial."""
    return int(binom.ppf(0.01, splits, confidence))


def coverage(covering: int, testable: int, splits: int, least: int,
             reason: str | None = None) -> tuple[Verdict, str]:
    """At least ``least`` of ``splits`` intervals cover the true value; untestable when some
    splits gave no interval (``reason``)."""
    found = f"{covering} of {testable} intervals cover 0"
    if testable < splits:
        return "untestable", f"{found}; {reason or 'too few sequences'}"
    return ("as expected" if covering >= least else "not as expected"), found


def _why_untestable(estimates: dict[str, Estimate]) -> str:
    name, estimate = next((n, e) for n, e in estimates.items() if not e.testable)
    return f"{name}: {estimate.reason or 'no interval'}"
