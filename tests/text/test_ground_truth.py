"""The Markov-chain ground truth: exact code lengths against brute force, and the estimator
comparison on a model that is the chain itself."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from pipeline.tracks.text.ground_truth import MarkovChain


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
