"""The bootstrap intervals the profiles verdicts rest on (:mod:`pipeline.tracks.profiles.verdicts`),
computed over member sequences with :mod:`pipeline.core.stats`.

Only gate-passing models enter. Comparisons of the same sequences (one model against the
next, one (k, L) cell against another) are paired bootstraps over sequences; a level-wise
statistic (the boundary effect at M = 0 or M = 1, the top level's transitions) is computed
only on levels holding at least ``gate.min_per_level`` sequences, and is *untestable* (with
the count) below that. Every interval is stored as a plain dict in the analysis summary.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from pipeline.core.stats import Interval, bootstrap, paired_difference
from pipeline.tracks.profiles.levels import N_LEVELS, level

_EPS = 1e-9
SEED = 0


def _mean(x: np.ndarray) -> np.ndarray:
    return x.mean(axis=1)


def full(scores: np.ndarray) -> np.ndarray:
    """1.0 where M = 1, else 0.0 (a share is the mean of this)."""
    return (scores >= 1 - _EPS).astype(np.float64)


def zero(scores: np.ndarray) -> np.ndarray:
    """1.0 where M = 0."""
    return (scores <= _EPS).astype(np.float64)


def paired_share_change(before: np.ndarray, after: np.ndarray, min_n: int) -> Interval:
    """Share after − share before, on the same sequences (0/1 indicators)."""
    return paired_difference(_mean, [after], [before], vectorized=True, seed=SEED, min_n=min_n)


def size_trend(wide: dict[str, np.ndarray], indicator, min_n: int) -> dict:
    """Consecutive and end-to-end changes of a share across the models of ``wide`` (name →
    M of the same members, smallest model first)."""
    names = list(wide)
    if len(names) < 2:
        return {"steps": {}, "overall": None}
    steps = {f"{a}→{b}": paired_share_change(indicator(wide[a]), indicator(wide[b]), min_n)
             for a, b in zip(names, names[1:], strict=False)}
    overall = paired_share_change(indicator(wide[names[0]]), indicator(wide[names[-1]]), min_n)
    return {"steps": steps, "overall": overall}


def boundary_values(tokens: np.ndarray, entropy: np.ndarray, unigram: np.ndarray,
                    k: int) -> dict[str, np.ndarray]:
    """Per sequence: the entropy jump at the first continuation token (nats; entropy[:, p]
    predicts token p + 1, so token k is predicted at p = k − 1), the mean entropy over the
    context, and the true token's 1-gram frequency at k and averaged over the context."""
    freq = unigram[tokens[:, :k + 1]]
    return {"jump": entropy[:, k - 1] - entropy[:, k - 2],
            "context_entropy": entropy[:, :k - 1].mean(axis=1),
            "freq_at_k": freq[:, k], "freq_context": freq[:, :k].mean(axis=1)}


def boundary_level(values: dict[str, np.ndarray], mask: np.ndarray, min_n: int) -> dict:
    """The entropy jump (mean) and the 1-gram ratio (ratio of means, as the paper's table)
    of the sequences in ``mask``."""
    jump = bootstrap(_mean, values["jump"][mask], vectorized=True, seed=SEED, min_n=min_n)
    ratio = bootstrap(lambda a, b: a.mean(axis=1) / b.mean(axis=1), values["freq_at_k"][mask],
                      values["freq_context"][mask], vectorized=True, seed=SEED, min_n=min_n)
    return {"jump": jump, "ratio": ratio, "sequences": int(mask.sum())}


def context_entropy_difference(values: np.ndarray, memorized: np.ndarray,
                               min_n: int) -> Interval:
    """Mean over memorized − mean over unmemorized (two groups of sequences, each resampled
    within itself)."""
    group = memorized.astype(np.float64)

    def difference(x: np.ndarray, g: np.ndarray) -> np.ndarray:
        return (x * g).sum(axis=1) / g.sum(axis=1) - (x * (1 - g)).sum(axis=1) / (1 - g).sum(
            axis=1)

    return bootstrap(difference, values, group, strata=memorized, vectorized=True, seed=SEED,
                     min_n=min_n)


def _diagonal_excess(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    diagonal = (a == b).mean(axis=1)
    chance = sum((a == j).mean(axis=1) * (b == j).mean(axis=1) for j in range(N_LEVELS))
    return diagonal - chance


def transition_pair(source: np.ndarray, target: np.ndarray, min_n: int) -> dict:
    """Diagonal mass above the independence baseline, and the share of the source's top
    level staying top in the target, with the top level's count."""
    a, b = level(source).astype(np.int64), level(target).astype(np.int64)
    excess = bootstrap(_diagonal_excess, a, b, vectorized=True, seed=SEED, min_n=min_n)
    top = a == N_LEVELS - 1
    stays = bootstrap(_mean, (b[top] == N_LEVELS - 1).astype(np.float64), vectorized=True,
                      seed=SEED, min_n=min_n)
    return {"diagonal_excess": excess, "top_level_stay": stays,
            "top_level_sequences": int(top.sum())}


def member_scores(grid: pl.DataFrame, names: list[str], k: int, length: int) -> dict:
    """Name → members' M at (k, length), in seq_id order."""
    cell = grid.filter((pl.col("k") == k) & (pl.col("L") == length) & pl.col("member"))
    wide = cell.pivot(on="model", index="seq_id", values="M").sort("seq_id")
    return {n: wide[n].to_numpy() for n in names if n in wide.columns}


def axis_trends(grid: pl.DataFrame, names: list[str], k: int, length: int,
                lengths: list[int], contexts: list[int], min_n: int) -> dict:
    """Per model: the M = 1 share at the longest L minus the shortest (at k), and at the
    longest k minus the shortest (at L), paired over members."""
    out = {"L": {}, "k": {}}
    for name in names:
        shortest = member_scores(grid, [name], k, lengths[0])[name]
        longest = member_scores(grid, [name], k, lengths[-1])[name]
        out["L"][name] = paired_share_change(full(shortest), full(longest), min_n)
        fewest = member_scores(grid, [name], contexts[0], length)[name]
        most = member_scores(grid, [name], contexts[-1], length)[name]
        out["k"][name] = paired_share_change(full(fewest), full(most), min_n)
    return out


def serialize(value):
    """Intervals (nested in dicts) as plain dicts."""
    if isinstance(value, Interval):
        return value.to_dict()
    if isinstance(value, dict):
        return {key: serialize(v) for key, v in value.items()}
    return value
