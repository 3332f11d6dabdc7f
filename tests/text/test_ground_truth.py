"""The Markov-chain ground truth: exact code lengths against brute force, and the estimator's
relative error with a perfect and with a weakened reference."""

from __future__ import annotations

import itertools

import numpy as np
import polars as pl
import pytest

from pipeline.tracks.text.estimator import estimator_errors, relative_error
from pipeline.tracks.text.ground_truth import MarkovChain, weakened_chain


def tiny_chain() -> MarkovChain:
    return MarkovChain(start=np.array([0.5, 0.3, 0.2]),
                       transitions=np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [0.3, 0.3, 0.4]]))


def test_code_lengths_are_exact_against_a_brute_force_sum():
    chain = tiny_chain()
    sequences = np.array(list(itertools.product(range(3), repeat=4)))
    bits = chain.sequence_bits(sequences)
    # Probability of tokens 2..S given the first; summed over all continuations of each
    # first token, it is 1, and the expected code length is the sum of conditional entropies.
    given_first = 2.0 ** -bits
    for first in range(3):
        assert given_first[sequences[:, 0] == first].sum() == pytest.approx(1.0)
    start = chain.start[sequences[:, 0]]
    expected_bits = float((start * given_first * bits).sum())
    row_entropy = -(chain.transitions * np.log2(chain.transitions)).sum(axis=1)
    by_hand, marginal = 0.0, chain.start
    for _ in range(3):
        by_hand += float(marginal @ row_entropy)
        marginal = marginal @ chain.transitions
    assert expected_bits == pytest.approx(by_hand, rel=1e-12)


def test_samples_follow_the_chain_and_the_entropy_rate_is_stationary():
    chain = tiny_chain()
    tokens = chain.sample(20_000, 8, seed=0)
    pairs = np.zeros((3, 3))
    np.add.at(pairs, (tokens[:, 3:-1].ravel(), tokens[:, 4:].ravel()), 1)
    empirical = pairs / pairs.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(empirical, chain.transitions, atol=0.01)
    bits_per_token = chain.sequence_bits(chain.sample(20_000, 200, seed=1)).mean() / 199
    assert bits_per_token == pytest.approx(chain.entropy_rate_bits(), rel=0.01)


def test_random_chains_are_reproducible_and_peaked():
    a = MarkovChain.random(64, 0.1, seed=3)
    assert np.array_equal(a.transitions, MarkovChain.random(64, 0.1, seed=3).transitions)
    np.testing.assert_allclose(a.transitions.sum(axis=1), 1.0)
    assert a.entropy_rate_bits() < 0.7 * np.log2(64)  # far from uniform: text-like


def _codes(chain: MarkovChain, members: np.ndarray, heldout: np.ndarray,
           reference: MarkovChain) -> pl.DataFrame:
    """A model that memorized 40 bits of each member and codes unseen text like a chain a
    little worse than the truth; its code lengths beside the reference's and the truth's."""
    model = chain.mixed(0.05)
    frames = []
    for member, tokens in ((True, members), (False, heldout)):
        frames.append(pl.DataFrame({
            "member": np.full(len(tokens), member),
            "model_bits": model.sequence_bits(tokens) - (40.0 if member else 0.0),
            "reference_bits": reference.sequence_bits(tokens),
            "true_bits": chain.sequence_bits(tokens)}))
    return pl.concat(frames)


def test_the_estimators_relative_error_with_a_perfect_and_a_weakened_reference():
    chain = MarkovChain.random(32, 0.1, seed=0)
    members, heldout = chain.sample(300, 32, seed=1), chain.sample(600, 32, seed=2)
    perfect = estimator_errors(_codes(chain, members, heldout, chain), "reference_bits",
                               0.95, 300, 0)
    assert perfect["relative_error"] == 0.0 and perfect["relative_error_raw"] == 0.0
    assert perfect["calibrated_true_low"] > 0
    weak, weight = weakened_chain(chain, heldout, 0.10)
    assert 0 < weight < 1
    assert weak.sequence_bits(heldout).mean() == pytest.approx(
        1.10 * chain.sequence_bits(heldout).mean(), rel=1e-6)
    biased = estimator_errors(_codes(chain, members, heldout, weak), "reference_bits",
                              0.95, 300, 0)
    assert biased["reference_excess_share"] == pytest.approx(0.10, rel=1e-6)
    # A reference worse than the truth credits its shortfall to memorization; the held-out
    # control takes back the part it credits to unseen text as well.
    assert biased["relative_error_raw"] > 0.05
    assert abs(biased["relative_error"]) < biased["relative_error_raw"]


def test_no_relative_error_where_the_true_quantity_is_not_above_zero():
    assert relative_error(5.0, 0.0) == (None, "the true quantity is not clearly above 0")
    assert relative_error(5.0, 10.0, true_low=-1.0)[0] is None
    assert relative_error(11.0, 10.0, true_low=2.0) == (pytest.approx(0.1), None)
