"""The loss attack on one text run, judged three ways (docs/science.md §2.5).

- F1 of the loss threshold chosen on a calibration half (the paper's score;
  :func:`pipeline.core.probes.membership.loss_threshold_attack`), with a bootstrap interval
  over the evaluation half's sequences (threshold fixed, members and non-members resampled
  separately) and the number of sequences it was measured on;
- ROC AUC and the TPR at 1% and 0.1% FPR (Carlini et al. 2022), on every member and every
  test non-member, with bootstrap intervals (:func:`pipeline.core.probes.attacks.evaluate_attack`).

Each interval is untestable (no bounds, with the reason) where its smallest class has fewer
than ten sequences, or too few non-members to resolve the FPR.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pipeline.core.probes.attacks import evaluate_attack
from pipeline.core.probes.membership import loss_threshold_attack, split_calibration_evaluation
from pipeline.core.stats import Interval, bootstrap


def _f1(predicted: np.ndarray, is_member: np.ndarray) -> np.ndarray:
    """F1 of "member" predictions, vectorized over a leading resample axis."""
    tp = np.sum(predicted & is_member, axis=1)
    flagged, members = predicted.sum(axis=1), is_member.sum(axis=1)
    return np.divide(2.0 * tp, flagged + members, out=np.zeros(tp.shape),
                     where=flagged + members > 0)


def f1_interval(member_nll: np.ndarray, heldout_nll: np.ndarray, attack: dict[str, Any],
                confidence: float, resamples: int, seed: int) -> Interval:
    """F1 on the evaluation half (the split :func:`loss_threshold_attack` drew with the same
    seed) with the threshold it chose, and its stratified bootstrap interval."""
    split = split_calibration_evaluation(len(member_nll), len(heldout_nll), seed,
                                         attack["calibration_fraction"])
    losses = np.concatenate([member_nll[split.member_evaluation],
                             heldout_nll[split.nonmember_evaluation]])
    is_member = np.arange(losses.size) < split.member_evaluation.size
    predicted = losses < attack["threshold"]
    return bootstrap(_f1, predicted, is_member, confidence=confidence, n_resamples=resamples,
                     seed=seed, strata=is_member, vectorized=True)


def _flat(prefix: str, interval: Interval) -> dict[str, Any]:
    return {prefix: interval.estimate, f"{prefix}_low": interval.low,
            f"{prefix}_high": interval.high, f"{prefix}_reason": interval.reason}


def attack_scores(member_nll: np.ndarray, heldout_nll: np.ndarray, seed: int,
                  calibration_fraction: float, confidence: float,
                  resamples: int) -> dict[str, Any]:
    """Every score of the loss attack on one run, flat (``f1``, ``f1_low``, ``f1_high``,
    ``f1_reason``; the same for ``auc``, ``tpr_at_1pct_fpr``, ``tpr_at_0p1pct_fpr``)."""
    attack = loss_threshold_attack(member_nll, heldout_nll, seed=seed,
                                   calibration_fraction=calibration_fraction)
    f1 = f1_interval(member_nll, heldout_nll, attack, confidence, resamples, seed)
    labels = np.concatenate([np.ones(len(member_nll), bool), np.zeros(len(heldout_nll), bool)])
    # Lower loss means member: the score is the negated code length.
    roc = evaluate_attack(-np.concatenate([member_nll, heldout_nll]), labels,
                          confidence=confidence, n_resamples=resamples, seed=seed)
    return {
        **_flat("f1", f1),
        "precision": attack["precision"],
        "recall": attack["recall"],
        "attack_threshold_bits": attack["threshold"],
        "calibration_f1": attack["calibration_f1"],
        "attack_evaluation_per_class": attack["n_evaluation_per_class"],
        **_flat("auc", roc.auc),
        **_flat("tpr_at_1pct_fpr", roc.tpr_at_fpr[0.01]),
        **_flat("tpr_at_0p1pct_fpr", roc.tpr_at_fpr[0.001]),
    }
