"""Known-answer tests of the membership attacks' scores and their evaluation."""

from __future__ import annotations

import json
import math
import zlib

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from pipeline.core.probes.attacks import (
    evaluate_attack,
    loss_score,
    lowest_k_count,
    min_k_plus_plus_score,
    min_k_score,
    nll_bits,
    reference_score,
    roc_points,
    standardized_logprobs,
    threshold_f1,
    tpr_at_fpr,
    zlib_bits,
    zlib_score,
)

# --------------------------------------------------------------------------- scores


def test_loss_and_nll_from_token_logprobs() -> None:
    logprobs = [np.array([-1.0, -3.0]), np.array([-2.0])]
    np.testing.assert_allclose(loss_score(logprobs), [-2.0, -2.0])
    np.testing.assert_allclose(nll_bits(logprobs), [4.0 / math.log(2), 2.0 / math.log(2)])
    with pytest.raises(ValueError, match="sequence 1 has no scored tokens"):
        loss_score([np.array([-1.0]), np.array([])])


def test_reference_score_is_positive_where_the_target_codes_better() -> None:
    np.testing.assert_allclose(reference_score(np.array([10.0, 30.0]), np.array([25.0, 20.0])),
                               [15.0, -10.0])


def test_zlib_score_divides_the_code_length_by_zlib_bits() -> None:
    texts = ["abc" * 100, "the quick brown fox"]
    bits = zlib_bits(texts)
    assert bits[0] == 8 * len(zlib.compress(("abc" * 100).encode()))
    assert np.array_equal(zlib_bits([t.encode() for t in texts]), bits)
    np.testing.assert_allclose(zlib_score(np.array([100.0, 50.0]), bits), -np.array([100.0,
                               50.0]) / bits)


def test_min_k_is_the_mean_of_the_lowest_tokens() -> None:
    lp = np.array([-1.0, -5.0, -2.0, -8.0, -0.5, -3.0, -4.0, -6.0, -7.0, -0.1])
    assert min_k_score([lp], k=0.2)[0] == pytest.approx(-7.5)   # floor(2.0) = 2 tokens
    assert min_k_score([lp], k=0.25)[0] == pytest.approx(-7.5)  # floor(2.5) = 2
    assert min_k_score([lp], k=0.05)[0] == pytest.approx(-8.0)  # at least one token
    assert min_k_score([lp], k=1.0)[0] == pytest.approx(lp.mean())
    direct = np.sort(lp)[: int(0.3 * lp.size)].mean()
    assert min_k_score([lp], k=0.3)[0] == pytest.approx(direct)
    assert lowest_k_count(3, 0.2) == 1
    with pytest.raises(ValueError):
        lowest_k_count(10, 0.0)


def toy_softmax_model(vocab: int, seed: int) -> np.ndarray:
    """A bigram "model": row t holds the next-token log-probabilities after token t."""
    logits = np.random.default_rng(seed).normal(0, 2, size=(vocab, vocab))
    return logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))


def test_min_k_plus_plus_against_a_direct_computation_on_a_full_softmax() -> None:
    table = toy_softmax_model(vocab=7, seed=0)
    rng = np.random.default_rng(1)
    sequences = [rng.integers(0, 7, size=n) for n in (6, 11, 20)]
    logprobs, entropies, stds, direct = [], [], [], []
    for seq in sequences:
        rows = table[seq[:-1]]                       # predictive log-distribution per step
        lp = rows[np.arange(len(seq) - 1), seq[1:]]
        p = np.exp(rows)
        mu = (p * rows).sum(axis=1)
        var = (p * rows**2).sum(axis=1) - mu**2      # MIMIR's / the authors' route
        z = (lp - mu) / np.sqrt(var)
        direct.append(np.sort(z)[: max(1, int(0.2 * z.size))].mean())
        logprobs.append(lp)
        entropies.append(-mu)
        stds.append(np.sqrt((p * (rows - mu[:, None]) ** 2).sum(axis=1)))
    ours = min_k_plus_plus_score(logprobs, entropies, stds, k=0.2)
    np.testing.assert_allclose(ours, direct, rtol=1e-9)


def test_standardized_logprobs_is_zero_where_the_distribution_is_flat() -> None:
    z = standardized_logprobs(np.array([-math.log(4), -1.0]), np.array([-math.log(4), -2.0]),
                              np.array([0.0, 0.5]))
    np.testing.assert_allclose(z, [0.0, 2.0])


def test_every_score_is_higher_for_members_when_the_model_favours_them() -> None:
    rng = np.random.default_rng(2)
    members = [rng.normal(-1.0, 0.5, size=32) for _ in range(40)]
    nonmembers = [rng.normal(-3.0, 0.5, size=32) for _ in range(40)]
    both = members + nonmembers
    labels = np.r_[np.ones(40), np.zeros(40)]
    flat = [np.ones(32) for _ in both]
    nll = nll_bits(both)
    for score in (loss_score(both), min_k_score(both), reference_score(nll, np.full(80, 200.0)),
                  zlib_score(nll, np.full(80, 500.0)),
                  min_k_plus_plus_score(both, flat, flat)):
        assert roc_auc_score(labels, score) > 0.95


# --------------------------------------------------------------------------- evaluation


def test_tpr_at_fpr_on_a_hand_computed_roc() -> None:
    # Sorted by score: M .9, M .8, N .7, M .6, N .5, N .4, M .3, N .2, N .1 (4 members, 5
    # non-members). ROC points: (0,0) (0,.25) (0,.5) (.2,.5) (.2,.75) (.4,.75) (.6,.75)
    # (.6,1) (.8,1) (1,1); AUC = 16/20.
    scores = np.array([0.9, 0.8, 0.6, 0.3, 0.7, 0.5, 0.4, 0.2, 0.1])
    members = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0])
    points = roc_points(scores, members)
    assert list(zip(points["fpr"], points["tpr"], strict=True)) == [
        (0, 0), (0, .25), (0, .5), (.2, .5), (.2, .75), (.4, .75), (.6, .75), (.6, 1), (.8, 1),
        (1, 1)]
    fpr, tpr = points["fpr"].to_numpy(), points["tpr"].to_numpy()
    assert tpr_at_fpr(fpr, tpr, 0.1) == 0.5      # between (0, .5) and (.2, .5)
    assert tpr_at_fpr(fpr, tpr, 0.2) == 0.75     # on the vertical stretch: its top
    assert tpr_at_fpr(fpr, tpr, 0.0) == 0.5
    result = evaluate_attack(scores, members, fprs=(0.2, 0.5), min_n=1, n_resamples=50)
    assert result.auc.estimate == pytest.approx(0.8)
    assert result.tpr_at_fpr[0.2].estimate == 0.75
    assert result.tpr_at_fpr[0.5].estimate == 0.75


def test_tpr_at_fpr_interpolates_a_tied_diagonal() -> None:
    # Members .9, .5; non-members .5, .1: the tie at .5 draws the diagonal (0,.5)-(.5,1).
    points = roc_points(np.array([0.9, 0.5, 0.5, 0.1]), np.array([1, 1, 0, 0]))
    fpr, tpr = points["fpr"].to_numpy(), points["tpr"].to_numpy()
    assert tpr_at_fpr(fpr, tpr, 0.25) == pytest.approx(0.75)
    assert tpr_at_fpr(fpr, tpr, 0.1) == pytest.approx(0.6)


def test_a_perfect_separator_has_auc_one_and_full_tpr() -> None:
    rng = np.random.default_rng(3)
    scores = np.r_[rng.uniform(2, 3, 200), rng.uniform(0, 1, 200)]
    labels = np.r_[np.ones(200), np.zeros(200)]
    result = evaluate_attack(scores, labels, n_resamples=200)
    assert result.auc.estimate == 1.0
    assert result.auc.low == pytest.approx(1.0) and result.auc.high == pytest.approx(1.0)
    assert result.tpr_at_fpr[0.01].estimate == 1.0 and result.tpr_at_fpr[0.01].low == 1.0
    # 200 non-members cannot resolve an FPR of 0.1%: a value, but no interval.
    assert result.tpr_at_fpr[0.001].estimate == 1.0
    assert not result.tpr_at_fpr[0.001].testable
    assert "200 non-members" in result.tpr_at_fpr[0.001].reason
    summary = result.to_dict()
    assert {"auc", "tpr_at_fpr_1pct", "tpr_at_fpr_0p1pct"} <= set(summary)
    json.dumps(summary, allow_nan=False)


def test_labels_independent_of_scores_give_an_interval_around_one_half() -> None:
    rng = np.random.default_rng(4)
    scores = rng.normal(size=600)
    labels = rng.permutation(np.r_[np.ones(300), np.zeros(300)])
    result = evaluate_attack(scores, labels, n_resamples=300)
    assert result.auc.estimate == pytest.approx(0.5, abs=0.06)
    assert result.auc.covers(0.5)
    assert result.n_members == 300 and result.n_nonmembers == 300


def test_bootstrap_auc_matches_roc_auc_score_on_the_data() -> None:
    rng = np.random.default_rng(5)
    scores = np.round(rng.normal(size=100), 1)  # ties
    labels = rng.integers(0, 2, size=100)
    result = evaluate_attack(scores, labels, n_resamples=20)
    assert result.auc.estimate == pytest.approx(roc_auc_score(labels, scores))


def test_evaluation_refuses_one_class_or_non_finite_scores() -> None:
    with pytest.raises(ValueError, match="one member and one non-member"):
        evaluate_attack(np.arange(5.0), np.ones(5))
    with pytest.raises(ValueError, match="not finite"):
        evaluate_attack(np.array([0.0, np.nan]), np.array([1, 0]))


def test_threshold_f1_is_one_for_a_perfect_separator_on_the_scores_scale() -> None:
    scores = np.r_[np.arange(20.0) + 100, np.arange(20.0)]
    labels = np.r_[np.ones(20), np.zeros(20)]
    result = threshold_f1(scores, labels, seed=0)
    assert result["f1"] == 1.0
    assert 19 < result["threshold"] < 100
