"""The retention verdicts: each of the paper's statements (``badger2026_claims.csv``,
docs/retention.md) decided from bootstrap intervals over held-out sequences.

The paper's claims are qualitative (its result tables were not available), so the thresholds
are this project's, stated here and in docs/retention.md: near the null floor = CE ratio
(CE of the decoder / CE of the null memory, on the same sequences) at least ``NEAR_FLOOR``;
almost all = token accuracy at least ``ALMOST_ALL``; at the floor = blank-copy accuracy at
most ``FLOOR_MARGIN`` above the no-memory run's; copies well = copy accuracy at least
``COPIES_WELL``; a small cost = causal loss at most ``SMALL_COST`` (relative) above the
causal-only memory model's. A rule reads intervals: *reproduced* when every interval lies on
the claim's side of its threshold, *contradicted* when one lies on the other side,
*inconclusive* when one straddles it, *untestable* without an interval (with the reason).
The untrained encoder is not a causal LM and never enters ``lm_near_floor``; the causal loss
of a run never trained on it (copy, blank-copy) enters no causal comparison.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from pipeline.core.stats import Interval, bootstrap, paired_difference

REPRODUCED, CONTRADICTED = "reproduced", "contradicted"
INCONCLUSIVE, UNTESTABLE = "inconclusive", "untestable"
NEAR_FLOOR = 0.9
ALMOST_ALL = 0.9
FLOOR_MARGIN = 0.05
COPIES_WELL = 0.9
SMALL_COST = 0.05
# Below this many bits of input per memory dimension keeping it all is trivially possible
# (issue 23; the paper: 13).
MIN_BITS_PER_DIMENSION = 8.0
SEED = 0


@dataclass(frozen=True)
class Verdict:
    verdict: str
    reason: str
    evidence: dict = field(default_factory=dict)


# --------------------------------------------------------------------------- intervals


def _ratio_of_sums(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a.sum(axis=1) / b.sum(axis=1)


def column(row: dict, name: str) -> np.ndarray:
    return np.asarray(row[name], dtype=np.float64)


def accuracy_interval(row: dict, prefix: str = "") -> Interval:
    """Token accuracy (correct / scored tokens) over sequences."""
    return bootstrap(_ratio_of_sums, column(row, f"{prefix}seq_correct"),
                     column(row, f"{prefix}seq_scored"), vectorized=True, seed=SEED)


def ce_ratio_interval(row: dict, null: dict) -> Interval:
    """CE of ``row`` / CE of the null memory, paired over the same held-out sequences."""
    return bootstrap(_ratio_of_sums, column(row, "seq_bits"), column(null, "seq_bits"),
                     vectorized=True, seed=SEED)


def accuracy_difference(first: dict, second: dict, prefix: str) -> Interval:
    """Accuracy of ``first`` minus ``second`` on the same sequences."""
    def counts(row: dict) -> list[np.ndarray]:
        return [column(row, f"{prefix}seq_correct"), column(row, f"{prefix}seq_scored")]

    return paired_difference(_ratio_of_sums, counts(first), counts(second), vectorized=True,
                             seed=SEED)


def relative_cost(run: dict, base: dict) -> Interval:
    """Causal loss of ``run`` / causal loss of ``base`` − 1, on the same sequences."""
    return bootstrap(lambda a, b: a.sum(axis=1) / b.sum(axis=1) - 1,
                     column(run, "causal_seq_bits"), column(base, "causal_seq_bits"),
                     vectorized=True, seed=SEED)


# --------------------------------------------------------------------------- rules


def _show(interval: Interval) -> str:
    if not interval.testable:
        return f"untestable ({interval.reason})"
    return f"{interval.estimate:.3f} [{interval.low:.3f}, {interval.high:.3f}]"


def judge(intervals: dict[str, Interval], threshold: float, above: bool, what: str) -> Verdict:
    """Every interval on the claim's side of ``threshold`` (``above`` or below it)."""
    if not intervals:
        return Verdict(UNTESTABLE, f"{what}: not measured")
    relation = "≥" if above else "≤"
    shown = "; ".join(f"{name} {_show(i)}" for name, i in intervals.items())
    reason = f"{what} {relation} {threshold:g}: {shown}"
    if not all(i.testable for i in intervals.values()):
        return Verdict(UNTESTABLE, reason, intervals)
    claim = [(i.low >= threshold) if above else (i.high <= threshold) for i in intervals.values()]
    other = [(i.high < threshold) if above else (i.low > threshold) for i in intervals.values()]
    verdict = (CONTRADICTED if any(other) else REPRODUCED if all(claim) else INCONCLUSIVE)
    return Verdict(verdict, reason, intervals)


def both(*parts: Verdict) -> Verdict:
    """All claims at once: the weakest verdict."""
    order = [CONTRADICTED, UNTESTABLE, INCONCLUSIVE, REPRODUCED]
    verdict = min((p.verdict for p in parts), key=order.index)
    evidence = {k: v for p in parts for k, v in p.evidence.items()}
    return Verdict(verdict, "; ".join(p.reason for p in parts), evidence)


def lm_near_floor(ratios: dict[str, Interval]) -> Verdict:
    """Every trained causal LM's CE ratio at least NEAR_FLOOR."""
    return judge(ratios, NEAR_FLOOR, True, "CE ratio of each trained causal LM")


def autoencoder_retains(accuracies: dict[str, Interval]) -> Verdict:
    """Own and fresh decoders regenerate at least ALMOST_ALL of the tokens."""
    return judge(accuracies, ALMOST_ALL, True, "autoencoder token accuracy")


def causal_copies_at_floor(difference: Interval | None) -> Verdict:
    """Causal-only blank-copy accuracy minus the no-memory run's at most FLOOR_MARGIN."""
    found = {"causal-only − no memory": difference} if difference is not None else {}
    return judge(found, FLOOR_MARGIN, False, "blank-copy accuracy above the no-memory floor")


def combined_copies_well(copies: dict[str, Interval], costs: dict[str, Interval]) -> Verdict:
    """Combined and curriculum copy at least COPIES_WELL at a relative causal cost of at most
    SMALL_COST."""
    return both(judge(copies, COPIES_WELL, True, "copy accuracy"),
                judge(costs, SMALL_COST, False, "relative causal cost vs causal-only"))


# --------------------------------------------------------------------------- our tables


def _one(frame: pl.DataFrame) -> dict | None:
    return frame.row(0, named=True) if frame.height else None


def decide(retention: pl.DataFrame, memory: pl.DataFrame, seq_len: int,
           copy_objective: str) -> dict[str, Verdict]:
    """Every claim's verdict from the held-out rows of the two tables (with their per-sequence
    ``seq_*`` columns)."""
    held = retention.filter((pl.col("split") == "heldout") & (pl.col("length") == seq_len))
    null = _one(held.filter(pl.col("kind") == "null (constant)"))
    lms = held.filter(pl.col("kind") == "causal LM").sort("budget")
    ratios = ({f"{r['encoder']}": ce_ratio_interval(r, null) for r in lms.iter_rows(named=True)}
              if null else {})
    autoencoders = {r["kind"]: accuracy_interval(r) for r in held.filter(
        pl.col("kind").str.starts_with("autoencoder")).iter_rows(named=True)}

    mem = memory.filter(pl.col("split") == "heldout")

    def run(objective: str, source: str) -> dict | None:
        return _one(mem.filter((pl.col("objective") == objective) & (pl.col("memory") == source)))

    causal, none = run("causal", "frozen"), run("blank_copy", "none")
    difference = (accuracy_difference(causal, none, "blank_copy_")
                  if causal is not None and none is not None else None)
    copies, costs = {}, {}
    for objective in ("combined", "curriculum"):
        row = run(objective, "frozen")
        if row is None:
            continue
        copies[objective] = accuracy_interval(row, f"{copy_objective}_")
        if causal is not None:
            costs[objective] = relative_cost(row, causal)
    return {"lm_near_floor": lm_near_floor(ratios),
            "autoencoder_retains": autoencoder_retains(autoencoders),
            "causal_copies_at_floor": causal_copies_at_floor(difference),
            "combined_copies_well": combined_copies_well(copies, costs)}
