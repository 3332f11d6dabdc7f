"""A blind baseline: how well the member and non-member texts separate without the model.

Membership attacks are judged on a member set and a non-member set. When the two were
collected differently (other dates, sources, formatting), a classifier that never queries
the model separates them, and an attack's AUC then measures the split, not what the model
memorized (Duan et al. 2024; Das, Zhang & Tramèr 2024; Maini et al. 2024).

The baseline: TF-IDF of word 1–2-grams and character 2–4-grams (within word boundaries),
logistic regression, stratified k-fold cross-validation; every text is scored by the model
of the fold that did not train on it, and the ROC AUC of these out-of-fold scores is
evaluated like an attack (:func:`pipeline.core.probes.attacks.evaluate_attack`: interval
from a bootstrap over texts; it does not include the variation of refitting the folds).

:func:`blind_warning` says when the report should warn: the blind AUC above about 0.6, or
within a margin of the best attack's AUC.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import Pipeline, make_union

from pipeline.core.probes.attacks import AttackEvaluation, evaluate_attack
from pipeline.core.stats import DEFAULT_CONFIDENCE, DEFAULT_RESAMPLES

DEFAULT_FOLDS = 5
WARN_AUC = 0.6
WARN_MARGIN = 0.05


def text_classifier(seed: int = 0) -> Pipeline:
    """TF-IDF word and character n-grams into a logistic regression.

    Words are runs of word characters of any length (scikit-learn's default drops
    one-character words, which would drop most token ids of pre-tokenized input).
    """
    features = make_union(
        TfidfVectorizer(analyzer="word", ngram_range=(1, 2), token_pattern=r"(?u)\b\w+\b",
                        sublinear_tf=True),
        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True),
    )
    return Pipeline([("features", features),
                     ("classifier", LogisticRegression(max_iter=2000, random_state=seed))])


def out_of_fold_scores(texts: Sequence[str], is_member: np.ndarray, *, folds: int = DEFAULT_FOLDS,
                       seed: int = 0) -> np.ndarray:
    """P(member) of every text from the fold model that did not see it.

    Uses ``min(folds, smallest class)`` folds; each class needs at least 2 texts.
    """
    labels = np.asarray(is_member).astype(bool)
    if len(texts) != labels.size:
        raise ValueError(f"{len(texts)} texts but {labels.size} membership labels")
    smallest = int(min(labels.sum(), (~labels).sum()))
    if smallest < 2:
        raise ValueError(f"the blind baseline needs 2 texts of each class, got {smallest}")
    splitter = StratifiedKFold(n_splits=min(folds, smallest), shuffle=True, random_state=seed)
    scores = cross_val_predict(text_classifier(seed), np.asarray(texts, dtype=object), labels,
                               cv=splitter, method="predict_proba")
    return scores[:, 1]


def blind_baseline(texts: Sequence[str], is_member: np.ndarray, *, folds: int = DEFAULT_FOLDS,
                   seed: int = 0, confidence: float = DEFAULT_CONFIDENCE,
                   n_resamples: int = DEFAULT_RESAMPLES) -> AttackEvaluation:
    """Cross-validated ROC AUC (and TPR at low FPR) of the text-only classifier, with
    intervals, in the same form as an attack's evaluation."""
    scores = out_of_fold_scores(texts, is_member, folds=folds, seed=seed)
    return evaluate_attack(scores, is_member, confidence=confidence, n_resamples=n_resamples,
                           seed=seed)


@dataclass(frozen=True)
class BlindWarning:
    """Why the membership numbers may measure the split rather than the model."""

    reasons: tuple[str, ...]
    message: str


def blind_warning(blind_auc: float, best_attack_auc: float | None, *,
                  threshold: float = WARN_AUC, margin: float = WARN_MARGIN) -> BlindWarning | None:
    """A warning when the blind AUC exceeds ``threshold`` (``"blind_separates"``) or the best
    attack's AUC is less than ``margin`` above it (``"attacks_not_above_blind"``); else ``None``.
    """
    reasons, sentences = [], []
    if blind_auc > threshold:
        reasons.append("blind_separates")
        sentences.append(f"a classifier that never sees the model separates members from "
                         f"non-members (AUC {blind_auc:.3f} > {threshold:g})")
    if best_attack_auc is not None and best_attack_auc < blind_auc + margin:
        reasons.append("attacks_not_above_blind")
        sentences.append(f"the best attack's AUC ({best_attack_auc:.3f}) is not {margin:g} "
                         f"above the blind baseline's ({blind_auc:.3f})")
    if not reasons:
        return None
    verdict = ("the membership numbers may measure how the two sets differ, not what the "
               "model memorized" if "blind_separates" in reasons else
               "the attacks show no membership signal beyond what the texts alone give")
    message = "; ".join(sentences) + ": " + verdict
    return BlindWarning(tuple(reasons), message[0].upper() + message[1:] + ".")
