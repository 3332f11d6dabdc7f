"""Known answers of the n-gram counts, the boundary curves, the embeddings and the
predictor (which must learn a label defined by an entropy threshold)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import torch

from pipeline.core.errors import ConfigError
from pipeline.tracks.profiles import boundary, embeddings
from pipeline.tracks.profiles.config import PredictorConfig
from pipeline.tracks.profiles.data import ngram_counts
from pipeline.tracks.profiles.predictor import MemorizationPredictor, select, train_predictor


def test_ngram_counts_on_a_toy_corpus():
    corpus = np.array([[1, 2, 1, 2], [2, 1, 3, 3]])
    counts = ngram_counts(corpus)
    uni = {r["token"]: r["count"] for r in counts.filter(pl.col("first") < 0).iter_rows(named=True)}
    bi = {(r["first"], r["token"]): r["count"]
          for r in counts.filter(pl.col("first") >= 0).iter_rows(named=True)}
    assert uni == {1: 3, 2: 3, 3: 2}
    assert bi == {(1, 2): 2, (2, 1): 2, (1, 3): 1, (3, 3): 1}
    table = boundary.NgramTable(counts, vocab_size=5)
    np.testing.assert_allclose(table.unigram_freq(np.array([[1, 3]])), [[3 / 8, 2 / 8]])
    freq = table.bigram_freq(np.array([[1, 2, 4]]))
    assert np.isnan(freq[0, 0]) and freq[0, 1] == pytest.approx(2 / 6) and freq[0, 2] == 0


def test_boundary_summary_measures_the_jump_at_k():
    k, length, n = 4, 4, 6
    tokens = np.tile(np.arange(8), (n, 1))
    scores = np.array([0.0] * 3 + [1.0] * 3)
    entropy = np.ones((n, 7))
    entropy[:3, k - 1:] = 3.0  # predicting index k onwards: the unmemorized become unsure
    table = boundary.NgramTable(ngram_counts(tokens), 8)
    curves = boundary.curves(tokens, scores, entropy, table, [0.0, 0.5, 1.0], k, length)
    summary = boundary.summary(curves, k, length)
    by_level = {r["level"]: r for r in summary.iter_rows(named=True)}
    assert by_level[0.0]["entropy_jump_at_k_nats"] == pytest.approx(2.0)
    assert by_level[1.0]["entropy_jump_at_k_nats"] == pytest.approx(0.0)
    assert by_level[0.5]["sequences"] == 0
    assert by_level[1.0]["unigram_ratio_at_k"] == pytest.approx(1.0)


def test_embeddings_separate_levels_that_differ():
    rng = np.random.default_rng(0)
    k, length, n = 4, 4, 60
    scores = rng.integers(0, length + 1, n) / length
    hidden = rng.normal(size=(n, k + length - 1, 8)) * 0.1
    hidden[:, :, 0] += scores[:, None] * 10  # the level is written on one axis
    result = embeddings.analyse(hidden.astype(np.float16), scores, k, length)
    assert result["silhouette_five_levels"] > 0.5
    dist = result["mean_distance_to_half"]
    assert dist[0] > dist[1] > dist[2] and dist[4] > dist[3] > dist[2]
    assert result["cosine"][2][2] == pytest.approx(1.0)


def test_predictor_learns_an_entropy_threshold_label():
    rng = np.random.default_rng(0)
    n, k, length, width = 400, 4, 8, 8
    entropy = rng.uniform(0, 2, (n, k + length - 1)).astype(np.float32)
    hits = entropy[:, k - 1:k - 1 + length] < 1.0
    scores = hits.mean(axis=1)
    hidden = rng.normal(size=(n, k + length - 1, width)).astype(np.float16)
    config = PredictorConfig(n_layer=1, n_head=2, epochs=20, lr=3e-2, exclude_full=False,
                             min_per_level=1)
    result = train_predictor(hidden, entropy, hits, scores, k, length, config)
    assert result["predictor"]["token_accuracy"] > 0.9
    assert result["floors"]["entropy_threshold"]["token_accuracy"] > 0.95
    assert result["floors"]["all_not_memorized"]["token_accuracy"] < 0.7


def test_cross_batch_flag_makes_sequences_see_each_other():
    torch.manual_seed(0)
    hidden, entropy = torch.randn(3, 5, 8), torch.zeros(3, 5)
    for cross, leaks in ((False, False), (True, True)):
        model = MemorizationPredictor(8, 1, 2, cross_batch=cross).eval()
        changed = hidden.clone()
        changed[1] += 1.0
        same = torch.allclose(model(hidden, entropy)[0], model(changed, entropy)[0])
        assert same != leaks


def test_too_few_levels_stop_the_predictor_naming_the_parameter():
    scores = np.array([0.0] * 30 + [0.5] * 3)
    config = PredictorConfig(min_per_level=10)
    with pytest.raises(ConfigError, match="profiles.predictor.min_per_level"):
        select(scores, 16, config, np.random.default_rng(0))
    chosen = select(scores, 16, PredictorConfig(min_per_level=3), np.random.default_rng(0))
    assert len(chosen) == 33


def test_entropy_threshold_is_the_best_cut():
    from pipeline.tracks.profiles.predictor import best_threshold

    rng = np.random.default_rng(0)
    for _ in range(50):
        h, y = rng.integers(0, 6, 30).astype(float), rng.random(30) < 0.5
        cuts = np.concatenate([[h.min() - 1], np.unique(h)])
        brute = max(((h <= t) == y).mean() for t in cuts)
        assert ((h <= best_threshold(h, y)) == y).mean() == pytest.approx(brute)
