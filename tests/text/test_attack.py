"""The loss attack on a text run: F1 with its interval, AUC and TPR at low FPR."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.tracks.text.attack import attack_scores


def scores(members: np.ndarray, heldout: np.ndarray) -> dict:
    return attack_scores(members, heldout, seed=0, calibration_fraction=0.5, confidence=0.95,
                         resamples=300)


def test_labels_independent_of_the_losses_give_auc_one_half():
    rng = np.random.default_rng(0)
    result = scores(rng.normal(400, 20, 500), rng.normal(400, 20, 1000))
    assert result["auc_low"] < 0.5 < result["auc_high"]
    assert result["f1_low"] < 0.5 < result["f1_high"]
    assert result["tpr_at_1pct_fpr"] < 0.05


def test_a_perfect_separator_has_auc_one_and_f1_one():
    rng = np.random.default_rng(1)
    result = scores(rng.normal(100, 5, 300), rng.normal(400, 5, 1000))
    assert result["auc"] == 1.0 and result["f1"] == 1.0
    assert result["tpr_at_1pct_fpr"] == 1.0 and result["tpr_at_0p1pct_fpr"] == 1.0
    assert result["attack_evaluation_per_class"] == 150


def test_few_sequences_give_no_interval_with_the_reason():
    rng = np.random.default_rng(2)
    result = scores(rng.normal(100, 5, 8), rng.normal(400, 5, 50))
    assert result["f1"] == pytest.approx(1.0) and result["f1_low"] is None
    assert "fewer than 10" in result["f1_reason"]
    assert "cannot resolve FPR 0.001" in result["tpr_at_0p1pct_fpr_reason"]
