"""The membership law on the text runs, Table 2, and the "F1 ≈ 0.5 at ≥ 100 tokens per
parameter" claim as a rule (docs/science.md §2.5).

The law is fitted bounded and weighted by each run's evaluated sequences
(:func:`pipeline.core.probes.membership_fit.fit_bounded_membership_law`). The claim is tested
only on runs that reach 100 tokens per parameter, each by its F1 interval against the
paper's own level for "close to chance": Table 2 sets its target F1 to 0.55 at 7 tokens per
parameter, the paper's last row before the claim, and measures 0.546 and 0.534 there. A run's
F1 interval entirely at or below 0.55 reproduces the claim, entirely above it contradicts it,
across it is inconclusive; without an interval the run is untestable. With no run at 100
tokens per parameter the claim is untested, whatever the fitted law says there (the law
approaches ½ at large x by its form, so its value there tests nothing).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import polars as pl

from pipeline.core.layout import REFERENCE
from pipeline.core.probes.membership import paper_law, paper_table2_comparison
from pipeline.core.probes.membership_fit import BoundedLawFit, fit_bounded_membership_law
from pipeline.tracks.text.findings import MembershipLaw

TABLE2 = REFERENCE / "morris2025_table2_membership.csv"
PAPER_TABLE2_SEQ_LEN = 64
CLAIM_TOKENS_PER_PARAM = 100.0  # the paper: F1 ≈ 0.5 from here on
CLAIM_F1_LEVEL = 0.55  # Table 2's target F1 at 7 tokens/param, the paper's "close to chance"

Verdict = Literal["reproduced", "contradicted", "inconclusive", "untestable", "untested"]


def fit_law(totals: pl.DataFrame, confidence: float) -> BoundedLawFit:
    """The bounded law on every run: x, F1, and 2 × the sequences evaluated per class."""
    return fit_bounded_membership_law(totals["membership_x"].to_numpy(),
                                      totals["f1"].to_numpy(),
                                      2 * totals["attack_evaluation_per_class"].to_numpy(),
                                      confidence)


def run_verdict(f1_low: float | None, f1_high: float | None) -> Verdict:
    """One run at ≥ 100 tokens/param, judged by its F1 interval (module docstring)."""
    if f1_low is None or f1_high is None:
        return "untestable"
    if f1_high <= CLAIM_F1_LEVEL:
        return "reproduced"
    return "contradicted" if f1_low > CLAIM_F1_LEVEL else "inconclusive"


def claim_verdict(verdicts: list[Verdict]) -> Verdict:
    """All runs reproduce it: reproduced; any contradicts it: contradicted; no run: untested;
    no run with an interval: untestable; otherwise inconclusive."""
    if not verdicts:
        return "untested"
    if "contradicted" in verdicts:
        return "contradicted"
    if all(v == "untestable" for v in verdicts):
        return "untestable"
    return "reproduced" if all(v == "reproduced" for v in verdicts) else "inconclusive"


@dataclass(frozen=True)
class ClaimTest:
    verdict: Verdict
    runs: list[dict[str, Any]]  # the runs at ≥ 100 tokens/param, each with its verdict
    closest: dict[str, Any]     # the run with the most tokens per parameter


def judge_claim(totals: pl.DataFrame) -> ClaimTest:
    """The claim on the runs that reach it (module docstring)."""
    def described(row: dict[str, Any]) -> dict[str, Any]:
        return {"run_id": row["run_id"], "tokens_per_param": row["tokens_per_param"],
                "f1": row["f1"], "f1_low": row["f1_low"], "f1_high": row["f1_high"],
                "verdict": run_verdict(row["f1_low"], row["f1_high"])}

    reached = [described(r) for r in totals.filter(
        pl.col("tokens_per_param") >= CLAIM_TOKENS_PER_PARAM).iter_rows(named=True)]
    closest = described(totals.sort("tokens_per_param").row(-1, named=True))
    return ClaimTest(claim_verdict([r["verdict"] for r in reached]), reached, closest)


def claim_x(seq_len: int) -> float:
    """The law's x at 100 tokens per parameter: 1000 · |D| / params with |D| = 100 · params /
    S sequences."""
    return 1000.0 * CLAIM_TOKENS_PER_PARAM / seq_len


def table2(fit: BoundedLawFit) -> pl.DataFrame:
    return paper_table2_comparison(fit, TABLE2, seq_len=PAPER_TABLE2_SEQ_LEN)


def law_curve(fit: BoundedLawFit, x: np.ndarray, seq_len: int) -> pl.DataFrame:
    """The fitted law and the paper's constants along ``x``."""
    return pl.DataFrame({"membership_x": x, "tokens_per_param": x * seq_len / 1000.0,
                         "fitted_f1": fit.predict(x), "paper_law_f1": paper_law(x)})


def law_of(membership: MembershipLaw) -> BoundedLawFit:
    """The fitted law as the findings state it (for drawing; no refit)."""
    params = {c.name: c.value for c in membership.constants}
    usable = membership.converged and all(v is not None for v in params.values())
    return BoundedLawFit(usable, membership.reason, membership.n_points,
                         params=params if usable else BoundedLawFit(False, None, 0).params)
