"""The degeneracy gate (docs/science.md §3, the trap): memorization in small models is
all-or-nothing over a narrow band, so before any analysis means something, enough models
must show a spread of M at the main cell: some members at M = 1, many at M ≤ 0.2, and
members above non-members."""

from __future__ import annotations

import polars as pl

from pipeline.tracks.profiles.config import GateConfig

_EPS = 1e-9


def model_checks(main: pl.DataFrame, gate: GateConfig) -> list[dict]:
    """Per model, on ``main``-cell rows (columns model, M, member): the three numbers and
    whether each passes."""
    checks = []
    for (name,), rows in main.group_by("model", maintain_order=True):
        members = rows.filter(pl.col("member"))["M"]
        others = rows.filter(~pl.col("member"))["M"]
        full = float((members >= 1 - _EPS).mean()) if len(members) else 0.0
        low = float((members <= 0.2 + _EPS).mean()) if len(members) else 0.0
        gap = (float(members.mean()) - float(others.mean())
               if len(members) and len(others) else 0.0)
        checks.append({
            "model": name, "members_full_share": full, "members_low_share": low,
            "member_gap": gap,
            "passes": bool(full >= gate.min_full_share and low >= gate.min_low_share
                           and gap > gate.min_gap),
        })
    return checks


def judge(main: pl.DataFrame, gate: GateConfig) -> dict:
    """``{"degenerate": bool, "models": [...], "reason": str}``."""
    checks = model_checks(main, gate)
    passing = sum(c["passes"] for c in checks)
    degenerate = passing < gate.min_models
    reason = (f"{passing} of {len(checks)} models pass (need {gate.min_models}): at least "
              f"{gate.min_full_share:.0%} of members at M = 1, {gate.min_low_share:.0%} at "
              f"M ≤ 0.2, and members' mean M above non-members' by > {gate.min_gap}")
    return {"degenerate": degenerate, "passing_models": passing, "models": checks,
            "reason": reason}
