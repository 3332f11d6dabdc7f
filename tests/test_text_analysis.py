"""Known-answer tests for the text-track analysis library (extraction, membership, rarity,
double descent)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from pipeline.text.double_descent import capacity_ratio, dataset_information_bits, peak_ratio
from pipeline.text.extraction import (
    _logits,
    extraction_rates,
    extraction_table,
    greedy_continuation,
)
from pipeline.text.membership import (
    PAPER_CONSTANTS,
    best_f1_threshold,
    fit_membership_law,
    loss_threshold_attack,
    membership_law,
    membership_x,
    paper_table2_comparison,
    split_calibration_evaluation,
    tokens_per_parameter,
)
from pipeline.text.rarity import rarity_vs_memorization, tfidf_scores, top_memorized

_TABLE2_NAME = "morris2025_table2_membership.csv"
_TABLE2_CANDIDATES = [
    Path(__file__).resolve().parents[1] / "pipeline" / "reference" / _TABLE2_NAME,
    Path("/work/shared/reference") / _TABLE2_NAME,
]
TABLE2 = next((p for p in _TABLE2_CANDIDATES if p.exists()), _TABLE2_CANDIDATES[-1])
V = 50


class NextTokenModel(torch.nn.Module):
    """Puts all mass on ``(t + 1) % vocab`` after token t."""

    def __init__(self, vocab: int = V) -> None:
        super().__init__()
        self.vocab = vocab
        self.dummy = torch.nn.Parameter(torch.zeros(()))  # gives the model a device

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        target = (input_ids + 1) % self.vocab
        return torch.nn.functional.one_hot(target, self.vocab).float() * 10.0


def rule_sequences(n: int, length: int, seed: int = 0) -> np.ndarray:
    starts = np.random.default_rng(seed).integers(0, V, size=(n, 1))
    return ((starts + np.arange(length)) % V).astype(np.uint16)


# --------------------------------------------------------------------------- extraction


def test_logits_accepts_tensor_and_object_outputs() -> None:
    ids = torch.tensor([[1, 2, 3]])
    model = NextTokenModel()

    class Wrapped(torch.nn.Module):
        def forward(self, input_ids: torch.Tensor) -> object:
            return type("Out", (), {"logits": model(input_ids)})()

    assert torch.equal(_logits(model, ids), _logits(Wrapped(), ids))


def test_greedy_continuation_follows_rule() -> None:
    prefixes = np.array([[3, 4], [48, 49]], dtype=np.uint16)
    out = greedy_continuation(NextTokenModel(), prefixes, length=4, batch_size=1)
    np.testing.assert_array_equal(out, [[5, 6, 7, 8], [0, 1, 2, 3]])


@pytest.mark.parametrize("method", ["teacher_forced", "greedy"])
def test_extraction_rate_one_on_rule_and_zero_off_rule(method: str) -> None:
    model = NextTokenModel()
    follows = rule_sequences(20, 64)
    rates = extraction_rates(model, follows, batch_size=7, method=method)
    assert rates == {8: 1.0, 16: 1.0, 32: 1.0}

    broken = follows.copy()
    broken[:, -1] = (broken[:, -1] + 1) % V  # last token breaks the rule
    assert extraction_rates(model, broken, method=method) == {8: 0.0, 16: 0.0, 32: 0.0}


@pytest.mark.parametrize("method", ["teacher_forced", "greedy"])
def test_extraction_depends_on_where_the_rule_breaks(method: str) -> None:
    # Rule holds everywhere except at position 21, which lies after prefixes 8 and 16 but
    # inside prefix 32: only k = 32 can extract.
    head = np.arange(0, 21)
    tail = np.arange(30, 30 + 43)
    seq = (np.concatenate([head, tail]) % V)[None, :].astype(np.int32)
    table = extraction_table(NextTokenModel(), seq, (8, 16, 32), method=method)
    assert table.columns == ["extracted_k8", "extracted_k16", "extracted_k32"]
    assert table.row(0) == (False, False, True)


def test_extraction_rejects_prefix_as_long_as_sequence() -> None:
    with pytest.raises(ValueError):
        extraction_rates(NextTokenModel(), rule_sequences(2, 8), prefix_lengths=(8,))


def test_gpt2_greedy_shape_and_self_extraction() -> None:
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    config = GPT2Config(vocab_size=64, n_positions=32, n_embd=16, n_layer=1, n_head=2)
    model = GPT2LMHeadModel(config)
    model.train()
    prefixes = np.random.default_rng(0).integers(0, 64, size=(5, 8)).astype(np.uint16)
    out = greedy_continuation(model, prefixes, length=12, batch_size=2)
    assert out.shape == (5, 12)
    assert out.dtype == np.int64
    assert out.min() >= 0 and out.max() < 64
    assert model.training  # mode restored

    # A sequence made of a prefix and the model's own greedy continuation is extractable.
    sequences = np.concatenate([prefixes, out], axis=1)
    for method in ("teacher_forced", "greedy"):
        assert extraction_rates(model, sequences, (8,), method=method) == {8: 1.0}


# --------------------------------------------------------------------------- membership


def test_attack_perfect_separation_gives_f1_one() -> None:
    rng = np.random.default_rng(1)
    members = rng.uniform(0.0, 1.0, 500)
    nonmembers = rng.uniform(2.0, 3.0, 700)
    result = loss_threshold_attack(members, nonmembers, seed=0)
    assert result["f1"] == 1.0
    assert result["auc"] == 1.0
    assert 1.0 < result["threshold"] < 2.0
    assert result["n_per_class"] == 500  # balanced to the smaller side
    assert result["n_evaluation_per_class"] == 250


def test_attack_identical_distributions_is_chance() -> None:
    rng = np.random.default_rng(2)
    members = rng.normal(3.0, 0.5, 4000)
    nonmembers = rng.normal(3.0, 0.5, 4000)
    result = loss_threshold_attack(members, nonmembers, seed=0)
    assert abs(result["f1"] - 0.5) < 0.05
    assert abs(result["auc"] - 0.5) < 0.05


def test_attack_threshold_uses_calibration_half_only() -> None:
    rng = np.random.default_rng(3)
    members = rng.normal(2.0, 1.0, 1000)
    nonmembers = rng.normal(3.0, 1.0, 1200)
    before = loss_threshold_attack(members, nonmembers, seed=7)

    split = split_calibration_evaluation(members.size, nonmembers.size, seed=7)
    members2, nonmembers2 = members.copy(), nonmembers.copy()
    members2[split.member_evaluation] = rng.normal(10.0, 1.0, split.member_evaluation.size)
    nonmembers2[split.nonmember_evaluation] = -5.0
    after = loss_threshold_attack(members2, nonmembers2, seed=7)
    assert after["threshold"] == before["threshold"]
    assert after["calibration_f1"] == before["calibration_f1"]
    assert after["f1"] != before["f1"]


def test_split_is_balanced_disjoint_and_seeded() -> None:
    a = split_calibration_evaluation(100, 40, seed=5)
    b = split_calibration_evaluation(100, 40, seed=5)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    assert a.member_calibration.size == a.nonmember_calibration.size == 20
    assert a.member_evaluation.size == a.nonmember_evaluation.size == 20
    assert not set(a.member_calibration) & set(a.member_evaluation)


def _brute_force_best_f1(members: np.ndarray, nonmembers: np.ndarray, cap: float) -> float:
    losses = np.concatenate([members, nonmembers])
    best = 0.0
    for threshold in np.concatenate([np.unique(losses), [np.inf]]):
        tp = np.sum(members < threshold)
        flagged = np.sum(losses < threshold)
        if flagged <= math.floor(cap * losses.size):
            best = max(best, 2 * tp / (flagged + members.size))
    return best


@pytest.mark.parametrize("seed", range(5))
def test_best_threshold_matches_brute_force_with_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    members = rng.integers(0, 8, 30).astype(float)  # many ties
    nonmembers = rng.integers(2, 10, 30).astype(float)
    threshold, f1 = best_f1_threshold(members, nonmembers)
    assert f1 == pytest.approx(_brute_force_best_f1(members, nonmembers, 0.5))
    tp = np.sum(members < threshold)
    fp = np.sum(nonmembers < threshold)
    assert 2 * tp / (2 * tp + fp + members.size - tp) == pytest.approx(f1)


def test_law_fit_recovers_constants() -> None:
    truth = dict(PAPER_CONSTANTS)
    x = np.linspace(0.0, 120.0, 25)
    f1 = membership_law(x, **truth) + np.random.default_rng(0).normal(0.0, 0.005, x.size)
    fit = fit_membership_law(x, f1)
    assert fit.converged, fit.reason
    for name, value in truth.items():
        assert fit.params[name] == pytest.approx(value, rel=0.1)
        lo, hi = fit.conf_int[name]
        assert lo <= value <= hi
        assert fit.std_errors[name] > 0
    np.testing.assert_allclose(fit.predict(x), membership_law(x, **truth), atol=0.01)
    assert fit.to_dict()["c1_ci_low"] == fit.conf_int["c1"][0]


def test_law_fit_reports_failure_instead_of_raising() -> None:
    few = fit_membership_law([1.0, 2.0, 3.0], [0.9, 0.8, 0.7])
    assert not few.converged and "at least 4" in few.reason
    assert np.isnan(few.predict([1.0, 2.0])).all()

    # A flat plateau at 0.5 cannot pin down the sigmoid's constants.
    x = np.linspace(500.0, 1000.0, 10)
    flat = fit_membership_law(x, 0.5 + np.random.default_rng(0).normal(0, 0.01, 10))
    assert not flat.converged and flat.reason


@pytest.mark.skipif(not TABLE2.exists(), reason="Table 2 reference CSV not available")
def test_membership_x_reproduces_table2_targets() -> None:
    x = np.linspace(0.0, 120.0, 12)
    noise = np.random.default_rng(1).normal(0.0, 0.005, x.size)
    fit = fit_membership_law(x, membership_law(x, 1.3, -0.03, -30.0) + noise)
    table = paper_table2_comparison(fit, TABLE2)
    assert table.height == 6
    np.testing.assert_allclose(table["paper_law_f1"], table["target_f1"], atol=0.01)
    np.testing.assert_allclose(table["fitted_f1"], fit.predict(table["x"].to_numpy()))


def test_x_and_tokens_per_parameter_arithmetic() -> None:
    assert membership_x(2_000, 1_000_000) == pytest.approx(2.0)
    np.testing.assert_allclose(membership_x(np.array([1e6, 2e6]), 1e6), [1000.0, 2000.0])
    assert tokens_per_parameter(1_000, 64, 640) == pytest.approx(100.0)


# --------------------------------------------------------------------------- rarity


def test_tfidf_ranks_rare_above_common() -> None:
    rng = np.random.default_rng(0)
    common = rng.integers(0, 20, size=(200, 16))  # tokens seen in many sequences
    rare = np.arange(1000, 1016)[None, :]  # tokens seen only here
    scores = tfidf_scores(np.concatenate([common, rare]).astype(np.uint16))
    assert scores.shape == (201,)
    assert scores[-1] > scores[:-1].max()


def test_tfidf_hand_computed() -> None:
    # Docs {0,0,1} and {1,2,2}: n=2, df = [1, 2, 1]
    seqs = np.array([[0, 0, 1], [1, 2, 2]])
    idf = np.log(3 / np.array([2, 3, 2])) + 1
    expected = [(2 * idf[0] + idf[1]) / 2, (idf[1] + 2 * idf[2]) / 2]
    np.testing.assert_allclose(tfidf_scores(seqs), expected)
    sub = [((1 + np.log(2)) * idf[0] + idf[1]) / 2, (idf[1] + (1 + np.log(2)) * idf[2]) / 2]
    np.testing.assert_allclose(tfidf_scores(seqs, sublinear_tf=True), sub)


def test_top_memorized_and_rarity_summary() -> None:
    mem = np.array([5.0, 1.0, 9.0, 3.0, 9.0])
    np.testing.assert_array_equal(top_memorized(mem, 3), [2, 4, 0])
    tfidf = np.arange(100.0)
    summary = rarity_vs_memorization(tfidf, 2 * tfidf + 1)
    assert summary["spearman_rho"] == pytest.approx(1.0)
    assert summary["n_top"] == 10
    assert summary["mean_tfidf_top"] == pytest.approx(np.mean(np.arange(90, 100)))
    assert summary["mean_tfidf_rest"] == pytest.approx(np.mean(np.arange(90)))


# --------------------------------------------------------------------------- double descent


def test_capacity_ratio_arithmetic() -> None:
    bits = dataset_information_bits(np.full(1000, 693.0))
    assert bits == pytest.approx(693_000.0)
    assert capacity_ratio(bits, alpha=3.5, params=198_000) == pytest.approx(1.0)
    assert capacity_ratio(7.0, 3.5, 1) == pytest.approx(2.0)
    with pytest.raises(ValueError):
        capacity_ratio(1.0, 0.0, 10)
    assert peak_ratio(np.array([0.5, 1.0, 2.0]), np.array([3.0, 4.0, 3.5])) == 1.0
