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
    np.testing.assert_allclose(tfidf_scores(seqs), expected, rtol=1e-12)
    sub = [((1 + np.log(2)) * idf[0] + idf[1]) / 2, (idf[1] + (1 + np.log(2)) * idf[2]) / 2]
    np.testing.assert_allclose(tfidf_scores(seqs, sublinear_tf=True), sub, rtol=1e-12)


@pytest.mark.parametrize("sublinear_tf", [False, True])
def test_tfidf_matches_dense_hand_computation(sublinear_tf: bool) -> None:
    rng = np.random.default_rng(3)
    seqs = rng.integers(0, 40, size=(60, 12))
    vocab = 50  # ids 40..49 never occur
    counts = np.zeros((seqs.shape[0], vocab))
    for i, row in enumerate(seqs):
        np.add.at(counts[i], row, 1.0)
    present = counts > 0
    idf = np.log((1 + seqs.shape[0]) / (1 + present.sum(axis=0))) + 1
    tf = np.where(present, 1 + np.log(np.where(present, counts, 1)), 0) if sublinear_tf else counts
    expected = (tf * idf).sum(axis=1) / present.sum(axis=1)
    got = tfidf_scores(seqs, vocab_size=vocab, sublinear_tf=sublinear_tf)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=0)


def test_tfidf_rejects_ids_outside_vocab() -> None:
    with pytest.raises(ValueError, match="vocab_size"):
        tfidf_scores(np.array([[0, 5]]), vocab_size=5)


def test_top_memorized_and_rarity_summary() -> None:
    mem = np.array([5.0, 1.0, 9.0, 3.0, 9.0])
    np.testing.assert_array_equal(top_memorized(mem, 3), [2, 4, 0])
    tfidf = np.arange(100.0)
    summary = rarity_vs_memorization(tfidf, 2 * tfidf + 1)
    assert summary["spearman_rho"] == pytest.approx(1.0)
    assert summary["n_top"] == 10
    assert summary["mean_tfidf_top"] == pytest.approx(np.mean(np.arange(90, 100)))
    assert summary["mean_tfidf_rest"] == pytest.approx(np.mean(np.arange(90)))
