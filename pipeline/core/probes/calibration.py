"""Summed memorization calibrated by a held-out control (issue 22; docs/science.md §2.2c).

Morris et al. (2025) estimate unintended memorization of a sequence x as
``mem_U(x) = max(0, NLL_ref(x) − NLL_target(x))`` bits (:mod:`pipeline.core.scoring`), and of
a set as the sum. The ``max(0, ·)`` makes every term non-negative, so the sum grows with the
number of sequences even where the target memorized nothing. The held-out control applies
the same estimator, with the same reference, to non-members:

    calibrated = Σ_members mem_U − (N_members / N_nonmembers) · Σ_nonmembers mem_U

with a bootstrap interval over sequences (members and non-members resampled separately).
A target that saw neither set has calibrated memorization 0 within its interval.

:func:`calibrated_memorization` calibrates one target; :func:`mean_calibrated_memorization`
the mean over several targets (seeds of one grid point), each with its own members and
non-members, resampled within each target's own two strata.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.core.stats import (
    DEFAULT_CONFIDENCE,
    DEFAULT_RESAMPLES,
    MIN_ITEMS,
    Interval,
    bootstrap,
)


@dataclass(frozen=True)
class CalibratedMemorization:
    """The members' summed memorization, the non-members' (raw and scaled to the members'
    count) and their difference, the calibrated memorization, with its interval (bits)."""

    n_members: int
    n_nonmembers: int
    members_bits: float
    nonmembers_bits: float
    nonmembers_scaled_bits: float
    calibrated: Interval

    @property
    def scale(self) -> float:
        """``N_members / N_nonmembers``, the factor applied to the non-members' sum."""
        return self.n_members / self.n_nonmembers

    def to_dict(self) -> dict:
        """JSON-friendly fields; ``calibrated`` as an :class:`Interval` dict."""
        return {"n_members": self.n_members, "n_nonmembers": self.n_nonmembers,
                "members_bits": self.members_bits, "nonmembers_bits": self.nonmembers_bits,
                "nonmembers_scaled_bits": self.nonmembers_scaled_bits, "scale": self.scale,
                "calibrated": self.calibrated.to_dict()}


def _as_bits(values: np.ndarray, name: str) -> np.ndarray:
    bits = np.asarray(values, dtype=np.float64).ravel()
    if not np.all(np.isfinite(bits)):
        raise ValueError(f"{name}: {np.count_nonzero(~np.isfinite(bits))} values are not finite")
    return bits


def _mean_statistic(scales: np.ndarray, n_targets: int):
    """Vectorized ``mean over targets of (Σ members − scale · Σ non-members)`` over a resample
    axis; an item's stratum ``2 t + 1`` marks target t's members, ``2 t`` its non-members."""

    def statistic(bits: np.ndarray, stratum: np.ndarray) -> np.ndarray:
        target, member = stratum // 2, stratum % 2 == 1
        weight = np.where(member, 1.0, -scales[target])
        return (weight * bits).sum(axis=1) / n_targets

    return statistic


def mean_calibrated_memorization(
        runs: Sequence[tuple[np.ndarray, np.ndarray]], *,
        confidence: float = DEFAULT_CONFIDENCE, n_resamples: int = DEFAULT_RESAMPLES,
        seed: int = 0, min_n: int = MIN_ITEMS) -> Interval:
    """The mean over targets of their calibrated memorization, with a bootstrap interval.

    ``runs`` holds one ``(member_bits, nonmember_bits)`` pair of per-sequence ``mem_U`` per
    target. Each target's members and non-members are resampled separately (stratified), so
    the interval is over sequences with each target's design kept; it is untestable when any
    target has fewer than ``min_n`` members or non-members.
    """
    if not runs:
        raise ValueError("calibration needs at least one target")
    pairs = [(_as_bits(m, "members"), _as_bits(n, "non-members")) for m, n in runs]
    for members, nonmembers in pairs:
        if members.size == 0 or nonmembers.size == 0:
            raise ValueError(f"calibration needs members and non-members, got {members.size} "
                             f"and {nonmembers.size}")
    bits = np.concatenate([np.concatenate(pair) for pair in pairs])
    strata = np.concatenate([np.concatenate([np.full(m.size, 2 * t + 1), np.full(n.size, 2 * t)])
                             for t, (m, n) in enumerate(pairs)])
    scales = np.array([m.size / n.size for m, n in pairs])
    return bootstrap(_mean_statistic(scales, len(pairs)), bits, strata, confidence=confidence,
                     n_resamples=n_resamples, seed=seed, strata=strata, vectorized=True,
                     min_n=min_n)


def calibrated_memorization(member_bits: np.ndarray, nonmember_bits: np.ndarray, *,
                            confidence: float = DEFAULT_CONFIDENCE,
                            n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0,
                            min_n: int = MIN_ITEMS) -> CalibratedMemorization:
    """Calibrated memorization (module docstring) of per-sequence ``mem_U`` values in bits.

    Untestable (no interval) when either set has fewer than ``min_n`` sequences. The
    caller decides how far the non-members may be scaled up (``scale`` in the result).
    """
    members, nonmembers = _as_bits(member_bits, "members"), _as_bits(nonmember_bits, "non-members")
    interval = mean_calibrated_memorization([(members, nonmembers)], confidence=confidence,
                                            n_resamples=n_resamples, seed=seed, min_n=min_n)
    scaled = members.size / nonmembers.size * float(nonmembers.sum())
    return CalibratedMemorization(int(members.size), int(nonmembers.size), float(members.sum()),
                                  float(nonmembers.sum()), scaled, interval)
