"""Known-answer tests of TF-IDF rarity and its relation to memorization."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.core.probes.rarity import rarity_vs_memorization, tfidf_scores, top_memorized


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
