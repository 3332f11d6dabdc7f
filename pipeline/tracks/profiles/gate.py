"""The degeneracy gate (docs/science.md §3, the trap), one model at a time: memorization in
small models is all-or-nothing over a narrow band, so a model's members only carry a profile
when they spread over the levels of M. A model passes when at least ``gate.min_per_level``
members (30) sit in each of at least ``gate.min_levels`` (3) of the five levels at the main
cell; only passing models enter a verdict, and fewer than ``gate.min_models`` passing models
make the run degenerate. The counts are reported per repetition stratum too, so a pass that
only comes from pooling all-or-nothing strata is visible."""

from __future__ import annotations

import numpy as np
import polars as pl

from pipeline.tracks.profiles.config import GateConfig
from pipeline.tracks.profiles.levels import LABELS, N_LEVELS, level


def level_counts(scores: np.ndarray) -> list[int]:
    """Members per five-level bin."""
    return np.bincount(level(scores), minlength=N_LEVELS).astype(int).tolist()


def model_check(rows: pl.DataFrame, gate: GateConfig) -> dict:
    """One model's main-cell rows (columns M, member, optional repetitions): level counts of
    members, per stratum, the member − non-member gap, and whether it passes."""
    members = rows.filter(pl.col("member"))
    others = rows.filter(~pl.col("member"))
    counts = level_counts(members["M"].to_numpy())
    full_levels = sum(c >= gate.min_per_level for c in counts)
    strata = {}
    if "repetitions" in rows.columns:
        for (reps,), part in members.group_by("repetitions", maintain_order=True):
            strata[f"{int(reps)}x"] = level_counts(part["M"].to_numpy())
        strata = dict(sorted(strata.items(), key=lambda item: int(item[0][:-1])))
    gap = (float(members["M"].mean()) - float(others["M"].mean())
           if members.height and others.height else None)
    return {"levels": dict(zip(LABELS, counts, strict=True)), "strata": strata,
            "populated_levels": int(full_levels), "members": members.height,
            "member_mean_M": float(members["M"].mean()) if members.height else None,
            "nonmember_mean_M": float(others["M"].mean()) if others.height else None,
            "member_gap": gap, "passes": bool(full_levels >= gate.min_levels)}


def judge(main: pl.DataFrame, gate: GateConfig) -> dict:
    """``{"degenerate", "passing_models", "passing", "models": [...], "reason"}`` on the
    main-cell rows of every model (columns model, M, member, optional repetitions)."""
    checks = []
    for (name,), rows in main.group_by("model", maintain_order=True):
        checks.append({"model": name, **model_check(rows, gate)})
    passing = [c["model"] for c in checks if c["passes"]]
    reason = (f"{len(passing)} of {len(checks)} models pass (need {gate.min_models}): a model "
              f"passes with at least {gate.min_per_level} members in each of at least "
              f"{gate.min_levels} of the {N_LEVELS} levels of M")
    return {"degenerate": len(passing) < gate.min_models, "passing_models": len(passing),
            "passing": passing, "models": checks, "reason": reason}
