"""Memorization levels and how sequences move between them across model sizes.

Five right-closed levels (docs/science.md §3): M ≤ 0.2, (0.2, 0.4], (0.4, 0.6], (0.6, 0.8],
> 0.8. A transition matrix is row-normalised: entry (i, j) is the share of the sequences at
level i in model A that are at level j in model B.
"""

from __future__ import annotations

import numpy as np
import polars as pl

EDGES = (0.2, 0.4, 0.6, 0.8)
LABELS = ("≤0.2", "(0.2,0.4]", "(0.4,0.6]", "(0.6,0.8]", ">0.8")
N_LEVELS = len(LABELS)
# M is a multiple of 1/L; compare with a little slack so 0.2 computed as 3.2/16 is "≤ 0.2".
_EPS = 1e-9


def level(m: np.ndarray | float) -> np.ndarray:
    """Level index 0..4 of each M (right-closed bins)."""
    return np.searchsorted(np.asarray(EDGES) + _EPS, np.asarray(m, dtype=float), side="left")


def transition_matrix(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row-normalised P(level in B | level in A) and the counts, for the same sequences'
    scores ``a`` and ``b``. A row with no sequences is NaN."""
    counts = np.zeros((N_LEVELS, N_LEVELS), dtype=np.int64)
    np.add.at(counts, (level(a), level(b)), 1)
    totals = counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = np.where(totals > 0, counts / np.maximum(totals, 1), np.nan)
    return shares, counts


def diagonal_mass(counts: np.ndarray) -> float:
    """Share of all sequences that keep their level."""
    total = counts.sum()
    return float(np.trace(counts) / total) if total else float("nan")


def transitions(main: pl.DataFrame, models: list[str]) -> tuple[pl.DataFrame, list[dict]]:
    """Matrices for each consecutive pair of models (smaller → larger and back) on the
    ``main``-cell scores (columns seq_id, model, M): a long table and one summary per pair."""
    wide = main.pivot(on="model", index="seq_id", values="M").sort("seq_id")
    rows, summaries = [], []
    for small, large in zip(models, models[1:], strict=False):
        for source, target, direction in ((small, large, "up"), (large, small, "down")):
            shares, counts = transition_matrix(wide[source].to_numpy(), wide[target].to_numpy())
            for i in range(N_LEVELS):
                for j in range(N_LEVELS):
                    rows.append({"source": source, "target": target, "direction": direction,
                                 "from_level": LABELS[i], "to_level": LABELS[j],
                                 "count": int(counts[i, j]), "share": float(shares[i, j])})
            top = counts[-1].sum()
            summaries.append({
                "source": source, "target": target, "direction": direction,
                "diagonal_mass": diagonal_mass(counts),
                "mean_row_diagonal": float(np.nanmean(np.diag(shares))),
                "top_level_sequences": int(top),
                "top_level_stay": float(counts[-1, -1] / top) if top else None,
            })
    return pl.DataFrame(rows), summaries
