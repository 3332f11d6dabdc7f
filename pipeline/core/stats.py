"""Bootstrap confidence intervals, shared by every track that reports a number with an interval.

Percentile bootstrap (Efron & Tibshirani, 1993, *An Introduction to the Bootstrap*): draw
the n items with replacement ``n_resamples`` times from a seeded ``numpy`` Generator,
recompute the statistic on each resample, and report the ``(1 − c)/2`` and ``(1 + c)/2``
quantiles of those values around the statistic of the original data. Four forms:

- :func:`bootstrap`: one statistic over items (sequences, texts). ``strata`` resamples
  each stratum separately, keeping its size (members and non-members of a membership
  evaluation: every resample then has both classes, in the proportions of the design).
- :func:`bootstrap_vector`: several statistics computed together on each resample (an ROC
  curve's AUC and its TPR at two FPRs), one interval each.
- :func:`paired_difference`: ``statistic(first) − statistic(second)`` with the *same* item
  indices on both sides (two attacks on the same sequences), so what the items share cancels.
- :func:`group_bootstrap`: resample whole groups (seeds, documents) and pool their items,
  for items that are not independent within a group.
- :func:`nested_bootstrap`: two stages for items nested in groups (seeds within model
  shapes): draw the groups with replacement, then each drawn group's items with replacement.

A statistic is a function of one or more equal-length columns (``statistic(*columns)``).
With ``vectorized=True`` it receives every column with a leading resample axis,
``[B, n, ...]``, and reduces over axis 1 (e.g. ``lambda x: x.mean(axis=1)``); resamples are
then drawn as one index array ``[B, n]`` (in chunks, so memory stays bounded).

Too few items for an honest interval give an *untestable* :class:`Interval` (``low`` and
``high`` are ``None``, ``reason`` says why) instead of a fake one: below ``min_n`` items (in
the smallest stratum) or ``min_groups`` groups the resamples take so few distinct values that
the quantiles are just the extremes. With g groups there are only ``C(2g − 1, g)`` distinct
resamples (3 for g = 2, 10 for g = 3, 35 for g = 4).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

DEFAULT_CONFIDENCE = 0.95
DEFAULT_RESAMPLES = 1000
# Fewest items (per stratum) and groups for which an interval is reported (module docstring).
MIN_ITEMS = 10
MIN_GROUPS = 5
# Largest index array drawn at once by a vectorized bootstrap (resamples x items).
_CHUNK_ELEMENTS = 4_000_000


@dataclass(frozen=True)
class Interval:
    """A statistic with its bootstrap interval; ``low``/``high`` are ``None`` when untestable.

    ``estimate`` is the statistic on the original data (not the mean of the resamples);
    ``n`` counts items (or groups, for :func:`group_bootstrap`); ``reason`` says why an
    interval is missing.
    """

    estimate: float | None
    low: float | None
    high: float | None
    confidence: float
    n: int
    method: str
    n_resamples: int = 0
    reason: str | None = None

    @property
    def testable(self) -> bool:
        """Whether an interval was computed."""
        return self.low is not None and self.high is not None

    def covers(self, value: float) -> bool | None:
        """``low <= value <= high``; ``None`` when there is no interval."""
        if not self.testable:
            return None
        return self.low <= value <= self.high

    def to_dict(self) -> dict:
        """JSON-friendly fields (``None`` where a value is missing, never NaN)."""
        return asdict(self)


def untestable(estimate: float | None, n: int, method: str, reason: str,
               confidence: float = DEFAULT_CONFIDENCE) -> Interval:
    """An :class:`Interval` without bounds, saying why."""
    finite = estimate is not None and math.isfinite(estimate)
    return Interval(float(estimate) if finite else None, None, None, confidence, n, method,
                    0, reason)


# --------------------------------------------------------------------------- resampling


def _columns(columns: Sequence[np.ndarray]) -> tuple[np.ndarray, ...]:
    arrays = tuple(np.asarray(c) for c in columns)
    if not arrays:
        raise ValueError("the bootstrap needs at least one column of data")
    lengths = {a.shape[0] if a.ndim else -1 for a in arrays}
    if len(lengths) != 1 or -1 in lengths:
        raise ValueError(f"columns must be arrays of equal length, got shapes "
                         f"{[a.shape for a in arrays]}")
    return arrays


def _check_settings(confidence: float, n_resamples: int) -> None:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be positive, got {n_resamples}")


def _strata_positions(n: int, strata: np.ndarray | None) -> list[np.ndarray]:
    """Item positions of each stratum (all items form one stratum without ``strata``)."""
    if strata is None:
        return [np.arange(n)]
    labels = np.asarray(strata)
    if labels.shape != (n,):
        raise ValueError(f"strata must have one label per item ({n}), got shape {labels.shape}")
    return [np.flatnonzero(labels == value) for value in np.unique(labels)]


def resample_indices(rng: np.random.Generator, strata: list[np.ndarray],
                     n_resamples: int) -> np.ndarray:
    """Index array ``[n_resamples, n]``: each stratum's positions drawn with replacement."""
    parts = [positions[rng.integers(0, positions.size, size=(n_resamples, positions.size))]
             for positions in strata]
    return np.concatenate(parts, axis=1)


def _resampled_values(statistic: Callable, columns: tuple[np.ndarray, ...],
                      strata: list[np.ndarray], n_resamples: int, seed: int,
                      vectorized: bool) -> np.ndarray:
    """The statistic on every resample, ``[n_resamples, m]``."""
    rng = np.random.default_rng(seed)
    n = columns[0].shape[0]
    chunk = max(1, _CHUNK_ELEMENTS // max(n, 1)) if vectorized else 256
    values = []
    for start in range(0, n_resamples, chunk):
        indices = resample_indices(rng, strata, min(chunk, n_resamples - start))
        if vectorized:
            values.append(np.asarray(statistic(*(c[indices] for c in columns)), np.float64))
        else:
            values.extend(np.atleast_1d(np.asarray(statistic(*(c[row] for c in columns)),
                                                   np.float64)) for row in indices)
    stacked = np.concatenate(values) if vectorized else np.stack(values)
    return stacked.reshape(n_resamples, -1)


def _estimate(statistic: Callable, columns: tuple[np.ndarray, ...],
              vectorized: bool) -> np.ndarray:
    """The statistic on the original data, as a 1-D array."""
    if vectorized:
        return np.atleast_1d(np.asarray(statistic(*(c[None] for c in columns)), np.float64)[0])
    return np.atleast_1d(np.asarray(statistic(*columns), np.float64))


def percentile_intervals(estimates: np.ndarray, resampled: np.ndarray, confidence: float,
                         n: int, method: str) -> list[Interval]:
    """One :class:`Interval` per column of ``resampled`` ``[B, m]``; a column with a
    non-finite value (or a non-finite estimate) is untestable."""
    intervals = []
    tail = (1.0 - confidence) / 2.0
    for j, estimate in enumerate(estimates):
        column = resampled[:, j]
        bad = int(np.count_nonzero(~np.isfinite(column)))
        if not math.isfinite(estimate) or bad:
            reason = (f"the statistic is not finite on {bad} of {column.size} resamples" if bad
                      else "the statistic is not finite on the data")
            intervals.append(untestable(estimate, n, method, reason, confidence))
            continue
        low, high = np.quantile(column, [tail, 1.0 - tail])
        intervals.append(Interval(float(estimate), float(low), float(high), confidence, n,
                                  method, column.size))
    return intervals


# --------------------------------------------------------------------------- public forms


def bootstrap_vector(statistic: Callable[..., np.ndarray], *columns: np.ndarray,
                     n_outputs: int, confidence: float = DEFAULT_CONFIDENCE,
                     n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0,
                     strata: np.ndarray | None = None, vectorized: bool = False,
                     min_n: int = MIN_ITEMS) -> list[Interval]:
    """Percentile intervals of ``n_outputs`` statistics computed together per resample.

    ``statistic(*columns)`` returns ``n_outputs`` values (``[B, n_outputs]`` when
    vectorized). Untestable (all outputs) when the smallest stratum has fewer than ``min_n``
    items; the estimates are still computed when every stratum has at least one item.
    """
    _check_settings(confidence, n_resamples)
    data = _columns(columns)
    n = data[0].shape[0]
    groups = _strata_positions(n, strata)
    method = "stratified percentile bootstrap" if strata is not None else "percentile bootstrap"
    smallest = min(g.size for g in groups) if n else 0
    if smallest < min_n:
        estimates = _estimate(statistic, data, vectorized) if smallest else [None] * n_outputs
        reason = f"{smallest} items in the smallest stratum, fewer than {min_n}"
        return [untestable(None if e is None else float(e), n, method, reason, confidence)
                for e in estimates]
    estimates = _estimate(statistic, data, vectorized)
    if estimates.size != n_outputs:
        raise ValueError(f"the statistic returned {estimates.size} values, expected {n_outputs}")
    resampled = _resampled_values(statistic, data, groups, n_resamples, seed, vectorized)
    return percentile_intervals(estimates, resampled, confidence, n, method)


def bootstrap(statistic: Callable[..., float], *columns: np.ndarray,
              confidence: float = DEFAULT_CONFIDENCE, n_resamples: int = DEFAULT_RESAMPLES,
              seed: int = 0, strata: np.ndarray | None = None, vectorized: bool = False,
              min_n: int = MIN_ITEMS) -> Interval:
    """Percentile bootstrap interval of one statistic over items.

    Example: ``bootstrap(lambda x: x.mean(axis=1), values, vectorized=True)``.
    """
    return bootstrap_vector(statistic, *columns, n_outputs=1, confidence=confidence,
                            n_resamples=n_resamples, seed=seed, strata=strata,
                            vectorized=vectorized, min_n=min_n)[0]


def paired_difference(statistic: Callable[..., float], first: Sequence[np.ndarray],
                      second: Sequence[np.ndarray], *, confidence: float = DEFAULT_CONFIDENCE,
                      n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0,
                      strata: np.ndarray | None = None, vectorized: bool = False,
                      min_n: int = MIN_ITEMS) -> Interval:
    """Interval of ``statistic(*first) − statistic(*second)`` on the same items.

    Item i of ``first`` and item i of ``second`` are the same item measured two ways; each
    resample draws one set of indices for both, so the interval reflects only how the two
    measurements differ, not how the items vary.
    """
    k = len(first)

    def difference(*columns: np.ndarray) -> np.ndarray:
        return np.asarray(statistic(*columns[:k])) - np.asarray(statistic(*columns[k:]))

    interval = bootstrap(difference, *first, *second, confidence=confidence,
                         n_resamples=n_resamples, seed=seed, strata=strata,
                         vectorized=vectorized, min_n=min_n)
    return _renamed(interval, f"paired {interval.method}")


def group_bootstrap(statistic: Callable[..., float], *columns: np.ndarray,
                    groups: np.ndarray, confidence: float = DEFAULT_CONFIDENCE,
                    n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0,
                    min_groups: int = MIN_GROUPS) -> Interval:
    """Percentile bootstrap over groups: each resample draws the distinct groups with
    replacement and pools all their items (a group drawn twice contributes its items twice).

    ``statistic(*pooled_columns)`` returns one value. ``n`` of the result counts groups.
    """
    _check_settings(confidence, n_resamples)
    data = _columns(columns)
    members = _strata_positions(data[0].shape[0], np.asarray(groups))
    method = "percentile bootstrap over groups"
    estimate = float(statistic(*data)) if data[0].shape[0] else None
    if len(members) < min_groups:
        reason = f"{len(members)} groups, fewer than {min_groups}"
        return untestable(estimate, len(members), method, reason, confidence)
    rng = np.random.default_rng(seed)
    chosen = rng.integers(0, len(members), size=(n_resamples, len(members)))
    resampled = np.array([
        statistic(*(c[np.concatenate([members[g] for g in row])] for c in data))
        for row in chosen
    ], dtype=np.float64)
    return percentile_intervals(np.array([estimate]), resampled[:, None], confidence,
                                len(members), method)[0]


def _renamed(interval: Interval, method: str) -> Interval:
    return Interval(interval.estimate, interval.low, interval.high, interval.confidence,
                    interval.n, method, interval.n_resamples, interval.reason)


def nested_bootstrap(statistic: Callable[..., float], *columns: np.ndarray,
                     groups: np.ndarray, confidence: float = DEFAULT_CONFIDENCE,
                     n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0,
                     min_groups: int = MIN_GROUPS, min_items: int = 2) -> Interval:
    """Two-stage percentile bootstrap: each resample draws the groups with replacement, then
    within each drawn group its items with replacement (Davison & Hinkley 1997, §3.8), so
    the interval holds both the spread between groups and the spread within them.

    ``statistic(*pooled_columns, draw)`` returns one value; ``draw`` labels each pooled item
    with the position (0..g−1) of the group draw it came from, so a group drawn twice counts
    as two groups. Untestable below ``min_groups`` groups or when a group has fewer than
    ``min_items`` items. ``n`` of the result counts groups.
    """
    _check_settings(confidence, n_resamples)
    data = _columns(columns)
    members = _strata_positions(data[0].shape[0], np.asarray(groups))
    method = "nested percentile bootstrap (groups, then items within each)"
    draw0 = np.concatenate([np.full(m.size, g) for g, m in enumerate(members)]) if members \
        else np.zeros(0, int)
    order = np.concatenate(members) if members else np.zeros(0, int)
    estimate = float(statistic(*(c[order] for c in data), draw0)) if order.size else None
    smallest = min((m.size for m in members), default=0)
    if len(members) < min_groups or smallest < min_items:
        reason = (f"{len(members)} groups, fewer than {min_groups}" if len(members) < min_groups
                  else f"{smallest} items in the smallest group, fewer than {min_items}")
        return untestable(estimate, len(members), method, reason, confidence)
    rng = np.random.default_rng(seed)
    values = np.empty(n_resamples)
    for b in range(n_resamples):
        chosen = rng.integers(0, len(members), size=len(members))
        picks = [members[g][rng.integers(0, members[g].size, size=members[g].size)]
                 for g in chosen]
        draw = np.concatenate([np.full(p.size, i) for i, p in enumerate(picks)])
        index = np.concatenate(picks)
        values[b] = statistic(*(c[index] for c in data), draw)
    return percentile_intervals(np.array([estimate]), values[:, None], confidence,
                                len(members), method)[0]
