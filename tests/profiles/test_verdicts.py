"""The profiles verdict rules on the paper's own numbers (reproduced) and on numbers that
contradict them, the per-model gate, and the predictor's task and margin."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from pipeline.core.stats import Interval
from pipeline.tracks.profiles import evidence
from pipeline.tracks.profiles import verdicts as v
from pipeline.tracks.profiles.config import GateConfig, PredictorConfig
from pipeline.tracks.profiles.gate import judge
from pipeline.tracks.profiles.predictor import select, train_predictor


def _write(frame: pl.DataFrame, path):
    frame.write_csv(path)
    return path


# --------------------------------------------------------------------------- on the paper


@pytest.mark.parametrize("finding", ["full_share_rises_with_size", "zero_share_falls_with_size",
                                     "full_share_falls_with_L", "full_share_rises_with_k"])
def test_share_rules_reproduce_the_papers_table(finding):
    assert v.paper_share_trends()[finding].verdict == v.REPRODUCED


@pytest.mark.parametrize("finding", ["unmemorized_drop_and_jump_at_k", "memorized_flat_at_k",
                                     "memorized_lower_context_entropy"])
def test_boundary_rules_reproduce_the_papers_tables(finding):
    assert v.paper_boundary()[finding].verdict == v.REPRODUCED


def test_predictor_rule_reproduces_the_papers_table():
    assert v.paper_predictor().verdict == v.REPRODUCED


def test_thresholds_come_from_the_papers_tables():
    t = v.boundary_thresholds()
    assert t["paper_zero_jump_min"] == pytest.approx(0.54)   # 70m: 4.27 − 3.73
    assert t["paper_full_jump_max"] == pytest.approx(-0.13)  # 12b: 0.34 − 0.47
    assert t["jump_nats"] == pytest.approx(0.205)
    assert 0.56 < t["ratio"] < 1.03


# --------------------------------------------------------------------------- contradicting


def test_share_rules_contradicted_on_reversed_numbers(tmp_path):
    paper = pl.read_csv(v.PAPER_SHARE)
    reversed_ = paper.with_columns(pl.col(c).reverse() for c in paper.columns if c != "model")
    # Reversed across sizes: the size trends go the other way.
    found = v.paper_share_trends(_write(reversed_, tmp_path / "size.csv"))
    assert found["full_share_rises_with_size"].verdict == v.CONTRADICTED
    assert found["zero_share_falls_with_size"].verdict == v.CONTRADICTED
    # Swap L = 16 and L = 64, k = 32 and k = 96: the axis trends go the other way.
    swapped = paper.with_columns(M1_pct_k32_L16=pl.col("M1_pct_k32_L64"),
                                 M1_pct_k32_L64=pl.col("M1_pct_k32_L16"),
                                 M1_pct_k96_L16=pl.col("M1_pct_k32_L64") / 2)
    found = v.paper_share_trends(_write(swapped, tmp_path / "axes.csv"))
    assert found["full_share_falls_with_L"].verdict == v.CONTRADICTED
    assert found["full_share_rises_with_k"].verdict == v.CONTRADICTED


def test_boundary_rules_contradicted_when_the_levels_swap(tmp_path):
    ent = pl.read_csv(v.PAPER_ENTROPY)
    uni = pl.read_csv(v.PAPER_UNIGRAM)
    swap = pl.when(pl.col("M") == 0).then(1.0).when(pl.col("M") == 1).then(0.0).otherwise(
        pl.col("M")).alias("M")
    found = v.paper_boundary(_write(uni.with_columns(swap), tmp_path / "u.csv"),
                             _write(ent.with_columns(swap), tmp_path / "e.csv"))
    for finding in ("unmemorized_drop_and_jump_at_k", "memorized_flat_at_k",
                    "memorized_lower_context_entropy"):
        assert found[finding].verdict == v.CONTRADICTED, finding


def test_predictor_rule_contradicted_below_the_floor():
    margins = {"a": v.exact(-0.05), "b": v.exact(0.1)}
    assert v.predictor_above_floor(margins).verdict == v.CONTRADICTED
    # A predictor that is its floor on every resample is not above it.
    assert v.predictor_above_floor({"a": v.exact(0.0)}).verdict == v.CONTRADICTED


def test_trend_noise_is_inconclusive_not_a_verdict():
    wide = Interval(0.01, -0.02, 0.04, 0.95, 250, "x")
    found = v.trend({"a→b": wide}, wide, rising=True)
    assert found.verdict == v.INCONCLUSIVE
    missing = Interval(None, None, None, 0.95, 3, "x", reason="3 items")
    assert v.trend({}, missing, rising=True).verdict == v.UNTESTABLE
    assert v.every({"m": missing}, 0.0, True, "x").verdict == v.UNTESTABLE


def test_a_significant_step_against_contradicts_a_trend():
    up, down = v.exact(0.3), Interval(-0.1, -0.15, -0.05, 0.95, 250, "x")
    assert v.trend({"a→b": up, "b→c": down}, v.exact(0.2), True).verdict == v.CONTRADICTED


# --------------------------------------------------------------------------- evidence


def test_paired_size_trend_sees_a_rise_and_not_noise():
    rng = np.random.default_rng(0)
    small = (rng.random(300) < 0.1).astype(float)
    large = np.maximum(small, (rng.random(300) < 0.3)).astype(float)
    found = evidence.size_trend({"s": small, "l": large}, evidence.full, 30)
    assert v.trend(found["steps"], found["overall"], True).verdict == v.REPRODUCED
    same = evidence.size_trend({"s": small, "l": small.copy()}, evidence.full, 30)
    assert v.trend(same["steps"], same["overall"], True).verdict == v.INCONCLUSIVE


def test_level_statistics_need_enough_sequences():
    values = {"jump": np.ones(20), "freq_at_k": np.ones(20), "freq_context": np.ones(20),
              "context_entropy": np.ones(20)}
    found = evidence.boundary_level(values, np.arange(20) < 12, min_n=30)
    assert not found["jump"].testable and "12 items" in found["jump"].reason


def test_transitions_diagonal_beyond_independence():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 17, 400) / 16
    found = evidence.transition_pair(a, a, 30)
    assert found["diagonal_excess"].low > 0.5
    shuffled = evidence.transition_pair(a, rng.permutation(a), 30)
    assert shuffled["diagonal_excess"].covers(0.0)


# --------------------------------------------------------------------------- the gate


def _main(levels_per_model: dict[str, list[float]]) -> pl.DataFrame:
    rows = []
    for name, scores in levels_per_model.items():
        rows += [{"model": name, "M": m, "member": True, "repetitions": 1 + i % 2}
                 for i, m in enumerate(scores)]
        rows += [{"model": name, "M": 0.0, "member": False, "repetitions": 0}] * 10
    return pl.DataFrame(rows)


def test_gate_fails_a_model_with_too_few_sequences_per_level():
    graded = [0.0] * 40 + [0.3] * 35 + [0.5] * 30 + [1.0] * 40
    thin = [0.0] * 100 + [0.5] * 29 + [1.0] * 40  # only two levels hold 30
    result = judge(_main({"a": graded, "b": thin, "c": graded}), GateConfig())
    passes = {c["model"]: c["passes"] for c in result["models"]}
    assert passes == {"a": True, "b": False, "c": True}
    assert result["passing"] == ["a", "c"] and not result["degenerate"]
    b = next(c for c in result["models"] if c["model"] == "b")
    assert b["levels"]["(0.4,0.6]"] == 29 and set(b["strata"]) == {"1x", "2x"}
    assert sum(sum(counts) for counts in b["strata"].values()) == len(thin)
    assert judge(_main({"a": graded, "b": thin}), GateConfig())["degenerate"]


def test_all_or_nothing_models_are_degenerate():
    result = judge(_main({"a": [0.0] * 100 + [1.0] * 100, "b": [1.0] * 200}), GateConfig())
    assert result["degenerate"] and result["passing_models"] == 0


# --------------------------------------------------------------------------- the predictor


def test_predictor_task_is_members_only_and_capped_per_level():
    scores = np.array([0.0] * 500 + [0.5] * 40 + [1.0] * 50 + [0.25] * 5)
    member = np.ones(len(scores), bool)
    member[:100] = False
    chosen = select(scores, 16, PredictorConfig(max_per_level=40, min_per_level=10),
                    np.random.default_rng(0), member)
    assert member[chosen].all()
    counts = np.bincount(np.rint(scores[chosen] * 16).astype(int), minlength=17)
    assert counts[0] == 40 and counts[8] == 40 and counts[16] == 0 and counts[4] == 0


def test_predictor_beats_its_floor_when_the_label_lives_in_the_hidden_state():
    rng = np.random.default_rng(0)
    n, k, length, width = 600, 4, 8, 8
    span = k + length - 1
    hidden = rng.normal(size=(n, span, width)).astype(np.float32)
    # Memorized iff the hidden state's first coordinate is positive: entropy says nothing.
    hits = hidden[:, k - 1:k - 1 + length, 0] > 0
    entropy = rng.uniform(0, 2, (n, span)).astype(np.float32)
    config = PredictorConfig(n_layer=1, n_head=2, epochs=15, lr=1e-2, min_per_level=1,
                             max_per_level=2000)
    result = train_predictor(hidden, entropy, hits, hits.mean(axis=1), k, length, config)
    margin = result["margin"]
    assert result["floors"][result["best_floor"]]["token_accuracy"] < 0.65
    assert margin["low"] > 0.1, margin
