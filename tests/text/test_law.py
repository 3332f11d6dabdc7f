"""The ≥ 100 tokens/param claim as a rule: reproduced on the paper's numbers, contradicted on
contradicting ones, untested where no run reaches it."""

from __future__ import annotations

import polars as pl

from pipeline.core.probes.membership import membership_x, paper_law
from pipeline.tracks.text.law import (
    CLAIM_F1_LEVEL,
    claim_verdict,
    claim_x,
    judge_claim,
    run_verdict,
)


def runs(tokens_per_param: list[float], f1: list[tuple[float, float, float]]) -> pl.DataFrame:
    return pl.DataFrame({"run_id": [f"r{i}" for i in range(len(f1))],
                         "tokens_per_param": tokens_per_param, "f1": [f[0] for f in f1],
                         "f1_low": [f[1] for f in f1], "f1_high": [f[2] for f in f1]})


def test_the_claim_is_reproduced_on_the_papers_numbers():
    # The paper's law at 100 tokens/param (S = 64) with Table 2's typical spread (±0.013).
    f1 = float(paper_law(claim_x(64)))
    assert abs(f1 - 0.5) < 1e-3
    assert claim_x(64) == membership_x(100 * 1000 / 64, 1000)
    claim = judge_claim(runs([150.0, 20.0], [(f1, f1 - 0.013, f1 + 0.013), (0.8, 0.7, 0.9)]))
    assert claim.verdict == "reproduced" and [r["run_id"] for r in claim.runs] == ["r0"]


def test_contradicting_numbers_contradict_it_and_straddling_ones_are_inconclusive():
    assert run_verdict(0.65, 0.75) == "contradicted"
    assert run_verdict(0.52, 0.58) == "inconclusive"
    assert run_verdict(0.49, CLAIM_F1_LEVEL) == "reproduced"
    assert run_verdict(None, None) == "untestable"
    assert claim_verdict(["reproduced", "contradicted"]) == "contradicted"
    assert claim_verdict(["reproduced", "inconclusive"]) == "inconclusive"
    assert claim_verdict(["untestable"]) == "untestable"


def test_without_a_run_at_100_tokens_per_param_the_claim_is_untested():
    claim = judge_claim(runs([5.0, 27.3], [(0.6, 0.55, 0.65), (0.54, 0.5, 0.58)]))
    assert claim.verdict == "untested" and claim.runs == []
    assert claim.closest["run_id"] == "r1" and claim.closest["tokens_per_param"] == 27.3
