"""Membership-inference attack scores from per-token log-probabilities, and how they are judged.

Every score here follows one convention: **higher means "more likely a member"**, so each
can go straight into ``roc_auc_score(is_member, score)``. The inputs are what one forward
pass gives (no model is needed here): per sequence, the natural-log probability of each
scored token, ``log p(x_t | x_<t)``, and for min-k%++ the mean and standard deviation of
``log p(v | x_<t)`` under the predictive distribution ``v ~ p(· | x_<t)``. Sequences may
differ in length, so per-token inputs are sequences of 1-D arrays, one per text.

Attacks (definitions and citations in docs/audit.md):

- LOSS (Yeom et al. 2018): the mean token log-probability, i.e. minus the mean NLL (nats).
- reference (Carlini et al. 2021; MIMIR's ``ref``): ``NLL_ref − NLL_target`` of the whole
  sequence in bits, which is Morris et al.'s ``mem_U`` before its ``max(0, ·)``.
- zlib (Carlini et al. 2021): ``−NLL_target / zlib_bits``, both code lengths of the same text
  in bits.
- min-k% (Shi et al. 2024): the mean of the lowest k% token log-probabilities.
- min-k%++ (Zhang et al. 2024): the mean of the lowest k% of ``(log p(x_t) − μ_t) / σ_t``.

Evaluation (Carlini et al. 2022): ROC AUC and the TPR at low FPRs, from scikit-learn's
``roc_curve``/``roc_auc_score``, with stratified bootstrap intervals over sequences
(:mod:`pipeline.core.stats`), and the F1 of a threshold chosen on a calibration half
(:mod:`pipeline.core.probes.membership`).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
from sklearn.metrics import auc, roc_auc_score, roc_curve

from pipeline.core.probes.membership import loss_threshold_attack
from pipeline.core.stats import (
    DEFAULT_CONFIDENCE,
    DEFAULT_RESAMPLES,
    MIN_ITEMS,
    Interval,
    bootstrap_vector,
    untestable,
)

LN2 = math.log(2.0)
DEFAULT_K = 0.2  # the share of lowest tokens min-k% and min-k%++ average (both papers' default)
LOW_FPRS: tuple[float, ...] = (0.01, 0.001)
ATTACKS: tuple[str, ...] = ("loss", "reference", "zlib", "min_k", "min_k_plus_plus")

TokenArrays = Sequence[np.ndarray]


# --------------------------------------------------------------------------- scores


def _each(arrays: TokenArrays, name: str) -> list[np.ndarray]:
    """Float64 copies of per-sequence arrays; an empty sequence cannot be scored."""
    out = [np.asarray(a, dtype=np.float64).ravel() for a in arrays]
    for i, a in enumerate(out):
        if a.size == 0:
            raise ValueError(f"{name}: sequence {i} has no scored tokens")
    return out


def nll_bits(logprobs: TokenArrays) -> np.ndarray:
    """Code length ``−log2 p(x)`` of each sequence's scored tokens, in bits."""
    return np.array([-a.sum() / LN2 for a in _each(logprobs, "logprobs")])


def loss_score(logprobs: TokenArrays) -> np.ndarray:
    """LOSS: mean token log-probability (nats), i.e. minus the mean per-token NLL."""
    return np.array([a.mean() for a in _each(logprobs, "logprobs")])


def reference_score(target_nll_bits: np.ndarray, reference_nll_bits: np.ndarray) -> np.ndarray:
    """Reference-calibrated loss: ``NLL_ref − NLL_target`` per sequence (bits).

    Totals, not per-token means: both are code lengths of the same tokens. MIMIR's ``ref``
    subtracts per-token means; the ranking is the same when every sequence has the same
    number of scored tokens.
    """
    target = np.asarray(target_nll_bits, dtype=np.float64)
    reference = np.asarray(reference_nll_bits, dtype=np.float64)
    if target.shape != reference.shape:
        raise ValueError(f"target {target.shape} and reference {reference.shape} differ")
    return reference - target


def zlib_bits(texts: Sequence[str | bytes]) -> np.ndarray:
    """Length in bits of each text's ``zlib.compress`` (UTF-8, zlib's default level)."""
    return np.array([8.0 * len(zlib.compress(t.encode("utf-8") if isinstance(t, str) else t))
                     for t in texts])


def zlib_score(target_nll_bits: np.ndarray, compressed_bits: np.ndarray) -> np.ndarray:
    """zlib ratio, negated: ``−NLL_target / zlib_bits`` (both in bits, so a ratio below 1
    means the model codes the text more compactly than zlib)."""
    nll = np.asarray(target_nll_bits, dtype=np.float64)
    compressed = np.asarray(compressed_bits, dtype=np.float64)
    if nll.shape != compressed.shape:
        raise ValueError(f"NLL {nll.shape} and zlib lengths {compressed.shape} differ")
    return -nll / compressed


def lowest_k_count(n_tokens: int, k: float) -> int:
    """How many tokens "the lowest k%" of ``n_tokens`` is: ``floor(k · n)`` as in both papers'
    code, but at least one, so a short sequence still gets a score."""
    if not 0 < k <= 1:
        raise ValueError(f"k must lie in (0, 1], got {k}")
    return max(1, int(k * n_tokens))


def _mean_lowest(values: np.ndarray, k: float) -> float:
    count = lowest_k_count(values.size, k)
    return float(np.partition(values, count - 1)[:count].mean())


def min_k_score(logprobs: TokenArrays, k: float = DEFAULT_K) -> np.ndarray:
    """min-k%: the mean of each sequence's lowest ``k`` share of token log-probabilities."""
    return np.array([_mean_lowest(a, k) for a in _each(logprobs, "logprobs")])


def standardized_logprobs(logprobs: np.ndarray, mean_logprob: np.ndarray,
                          std_logprob: np.ndarray) -> np.ndarray:
    """min-k%++'s per-token ``z_t = (log p(x_t) − μ_t) / σ_t``.

    ``μ_t = Σ_v p(v) log p(v)`` (minus the entropy) and ``σ_t`` the standard deviation of
    ``log p(v)`` under ``p``. Where ``σ_t = 0`` (a uniform distribution over its support)
    every token in the support has ``log p = μ_t``; ``z_t`` is then 0.
    """
    lp, mu, sigma = (np.asarray(a, dtype=np.float64) for a in
                     (logprobs, mean_logprob, std_logprob))
    return np.divide(lp - mu, sigma, out=np.zeros_like(lp), where=sigma > 0)


def min_k_plus_plus_score(logprobs: TokenArrays, entropies: TokenArrays,
                          std_logprobs: TokenArrays, k: float = DEFAULT_K) -> np.ndarray:
    """min-k%++: the mean of each sequence's lowest ``k`` share of ``z_t``.

    ``entropies`` are the predictive distributions' entropies in nats (``μ_t = −H_t``) and
    ``std_logprobs`` their ``σ_t``, per token, aligned with ``logprobs``.
    """
    lps = _each(logprobs, "logprobs")
    hs, sds = _each(entropies, "entropies"), _each(std_logprobs, "std_logprobs")
    if not len(lps) == len(hs) == len(sds):
        raise ValueError("logprobs, entropies and std_logprobs hold different sequence counts")
    return np.array([_mean_lowest(standardized_logprobs(lp, -h, sd), k)
                     for lp, h, sd in zip(lps, hs, sds, strict=True)])


# --------------------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class AttackEvaluation:
    """ROC AUC and TPR at low FPRs of one attack, each with its bootstrap interval."""

    n_members: int
    n_nonmembers: int
    auc: Interval
    tpr_at_fpr: dict[float, Interval]

    def to_dict(self) -> dict:
        """JSON-friendly summary: ``auc``, ``tpr_at_fpr_1pct``, ``tpr_at_fpr_0p1pct`` (no dots
        in keys, which DVC uses to flatten nested metrics)."""
        out = {"n_members": self.n_members, "n_nonmembers": self.n_nonmembers,
               "auc": self.auc.to_dict()}
        for fpr, interval in self.tpr_at_fpr.items():
            out[f"tpr_at_fpr_{100 * fpr:g}pct".replace(".", "p")] = interval.to_dict()
        return out


def _labels(scores: np.ndarray, is_member: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=np.float64).ravel()
    y = np.asarray(is_member).ravel().astype(bool)
    if s.shape != y.shape:
        raise ValueError(f"{s.size} scores but {y.size} membership labels")
    if not np.all(np.isfinite(s)):
        raise ValueError(f"{np.count_nonzero(~np.isfinite(s))} scores are not finite")
    if y.all() or not y.any():
        raise ValueError("an attack is judged on at least one member and one non-member")
    return s, y


def tpr_at_fpr(fpr: np.ndarray, tpr: np.ndarray, target: float) -> float:
    """TPR where the ROC curve, drawn as straight lines between its points, reaches FPR
    ``target``.

    ``fpr``/``tpr`` as ``roc_curve`` returns them (FPR non-decreasing). On a vertical
    stretch at exactly ``target`` the highest TPR counts; otherwise the segment from the
    last point with FPR below ``target`` to the first above it is interpolated linearly:
    the TPR a randomized choice between those two thresholds achieves at that FPR.
    """
    fpr, tpr = np.asarray(fpr, np.float64), np.asarray(tpr, np.float64)
    exact = fpr == target
    if exact.any():
        return float(tpr[exact].max())
    above = int(np.searchsorted(fpr, target, side="right"))
    if above == 0:
        return float(tpr[0])
    if above == fpr.size:
        return float(tpr[-1])
    lo, hi = above - 1, above
    share = (target - fpr[lo]) / (fpr[hi] - fpr[lo])
    return float(tpr[lo] + share * (tpr[hi] - tpr[lo]))


def roc_points(scores: np.ndarray, is_member: np.ndarray) -> pl.DataFrame:
    """Every point of the ROC curve (``fpr``, ``tpr``, ``threshold``), for plots."""
    s, y = _labels(scores, is_member)
    fpr, tpr, thresholds = roc_curve(y, s, drop_intermediate=False)
    return pl.DataFrame({"fpr": fpr, "tpr": tpr, "threshold": thresholds})


def _roc_summary(fprs: Sequence[float]):
    """A statistic ``(scores, labels) -> [AUC, TPR at each FPR]`` from one ``roc_curve``."""

    def summary(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
        fpr, tpr, _ = roc_curve(labels, scores, drop_intermediate=False)
        return np.array([auc(fpr, tpr), *(tpr_at_fpr(fpr, tpr, f) for f in fprs)])

    return summary


def evaluate_attack(scores: np.ndarray, is_member: np.ndarray, *,
                    fprs: Sequence[float] = LOW_FPRS, confidence: float = DEFAULT_CONFIDENCE,
                    n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0,
                    min_n: int = MIN_ITEMS) -> AttackEvaluation:
    """ROC AUC (``roc_auc_score``) and TPR at each FPR in ``fprs``, with intervals.

    The bootstrap resamples members and non-members separately (their counts fixed). A TPR
    at FPR ``f`` has no interval when there are fewer than ``1/f`` non-members: the ROC curve
    then has no point between FPR 0 and ``1/n`` and the value is an interpolation only.
    """
    s, y = _labels(scores, is_member)
    intervals = bootstrap_vector(_roc_summary(fprs), s, y, n_outputs=1 + len(fprs),
                                 confidence=confidence, n_resamples=n_resamples, seed=seed,
                                 strata=y, min_n=min_n)
    n_non = int(np.count_nonzero(~y))
    auc_interval = intervals[0]
    auc_interval = Interval(float(roc_auc_score(y, s)), auc_interval.low, auc_interval.high,
                            auc_interval.confidence, auc_interval.n, auc_interval.method,
                            auc_interval.n_resamples, auc_interval.reason)
    tprs = {}
    for f, interval in zip(fprs, intervals[1:], strict=True):
        if n_non * f < 1:
            interval = untestable(interval.estimate, interval.n, interval.method,
                                  f"{n_non} non-members cannot resolve FPR {f:g}", confidence)
        tprs[float(f)] = interval
    return AttackEvaluation(int(y.sum()), n_non, auc_interval, tprs)


def threshold_f1(scores: np.ndarray, is_member: np.ndarray, seed: int,
                 calibration_fraction: float = 0.5) -> dict:
    """F1 of "member if score > threshold", the threshold chosen on a calibration half and
    F1 measured on the other (:func:`pipeline.core.probes.membership.loss_threshold_attack`
    on the negated scores, so its balanced split and chance level 0.5 apply)."""
    s, y = _labels(scores, is_member)
    result = loss_threshold_attack(-s[y], -s[~y], seed, calibration_fraction)
    # The threshold was found on negated scores; state it on the scores' own scale.
    result["threshold"] = -result["threshold"]
    return result
