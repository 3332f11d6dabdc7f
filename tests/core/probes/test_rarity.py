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
    expected = [(2 * idf[0] + idf[1]) / 3, (idf[1] + 2 * idf[2]) / 3]
    np.testing.assert_allclose(tfidf_scores(seqs), expected, rtol=1e-12)


def test_tfidf_matches_dense_hand_computation() -> None:
    rng = np.random.default_rng(3)
    seqs = rng.integers(0, 40, size=(60, 12))
    vocab = 50  # ids 40..49 never occur
    counts = np.zeros((seqs.shape[0], vocab))
    for i, row in enumerate(seqs):
        np.add.at(counts[i], row, 1.0)
    idf = np.log((1 + seqs.shape[0]) / (1 + (counts > 0).sum(axis=0))) + 1
    expected = (counts / seqs.shape[1] * idf).sum(axis=1)
    got = tfidf_scores(seqs, vocab_size=vocab)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=0)


def test_repetition_is_not_rarity() -> None:
    # The case: one common token repeated must rank least rare, and repeating the
    # rarest tokens must not rank above a sequence of distinct rare tokens.
    rng = np.random.default_rng(0)
    pool = rng.zipf(1.3, size=(300, 64)) % 500
    common = np.bincount(pool.ravel()).argmax()
    repeated_common = np.full((1, 64), common)
    rarest = np.argsort(np.bincount(pool.ravel(), minlength=500))
    rarest = rarest[np.bincount(pool.ravel(), minlength=500)[rarest] > 0][:64]
    distinct_rare = rarest[None, :]
    repeated_rare = np.full((1, 64), rarest[-1])  # the least rare of those 64
    scores = tfidf_scores(np.concatenate([pool, repeated_common, distinct_rare, repeated_rare]),
                          vocab_size=500)
    assert scores[300] == scores.min()
    assert scores[301] > scores[302]
    assert scores[301] > np.median(scores[:300]) > scores[300]


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


def test_partial_spearman_removes_a_shared_confound() -> None:
    from pipeline.core.probes.rarity import partial_spearman

    rng = np.random.default_rng(0)
    confound = rng.normal(size=3000)
    x = confound + 0.5 * rng.normal(size=3000)
    y = confound + 0.5 * rng.normal(size=3000)
    assert abs(partial_spearman(x, y, confound)["rho"]) < 0.05
    linked = partial_spearman(x, x + y, confound)
    assert linked["rho"] > 0.3 and linked["p"] < 1e-6
    assert np.isnan(partial_spearman(x[:3], y[:3], confound[:3])["rho"])


def test_held_out_sequences_are_scored_with_the_members_idf() -> None:
    from pipeline.core.probes.rarity import idf_weights

    members = np.array([[0, 0, 1, 2], [0, 1, 1, 3], [0, 0, 0, 2]])
    heldout = np.array([[3, 3, 3, 3], [0, 0, 0, 0]])
    idf = idf_weights(members, 4)
    np.testing.assert_allclose(tfidf_scores(heldout, idf=idf), [idf[3], idf[0]])
    np.testing.assert_allclose(tfidf_scores(members, 4, idf=idf), tfidf_scores(members, 4))
