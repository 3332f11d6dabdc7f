"""The blind baseline: high on two visibly different sources, near 0.5 on a random split of
one source; when to warn."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.tracks.audit.blind import blind_baseline, blind_warning, out_of_fold_scores

NOUNS = ["river", "market", "teacher", "garden", "engine", "letter", "window", "station",
         "doctor", "village"]
VERBS = ["finds", "moves", "opens", "builds", "carries", "watches", "follows", "paints",
         "answers", "visits"]
CODE = ["def", "return", "import", "self", "print", "lambda", "yield", "class", "assert",
        "while"]


def prose(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(f"the {rng.choice(NOUNS)} {rng.choice(VERBS)} a {rng.choice(NOUNS)}."
                     for _ in range(3)) for _ in range(n)]


def code(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return ["\n".join(f"    {rng.choice(CODE)} x{rng.integers(9)}({rng.choice(CODE)})"
                      for _ in range(3)) for _ in range(n)]


def test_two_visibly_different_sources_separate() -> None:
    texts = prose(40, 0) + code(40, 1)
    labels = np.r_[np.ones(40, bool), np.zeros(40, bool)]
    result = blind_baseline(texts, labels, n_resamples=200)
    assert result.auc.estimate > 0.95 and result.auc.low > 0.9


def test_a_random_split_of_one_source_covers_one_half() -> None:
    texts = prose(160, 2)
    labels = np.random.default_rng(3).permutation(np.r_[np.ones(80, bool), np.zeros(80, bool)])
    result = blind_baseline(texts, labels, n_resamples=300)
    assert result.auc.covers(0.5)
    assert abs(result.auc.estimate - 0.5) < 0.12


def test_token_id_strings_keep_one_digit_ids() -> None:
    # Members use ids 1-4, non-members 5-9: only single-digit words tell them apart.
    rng = np.random.default_rng(4)
    texts = ([" ".join(map(str, rng.integers(1, 5, 12))) for _ in range(20)]
             + [" ".join(map(str, rng.integers(5, 10, 12))) for _ in range(20)])
    labels = np.r_[np.ones(20, bool), np.zeros(20, bool)]
    scores = out_of_fold_scores(texts, labels, folds=4)
    assert scores[:20].min() > scores[20:].max()


def test_too_few_texts_are_refused() -> None:
    with pytest.raises(ValueError, match="2 texts of each class"):
        out_of_fold_scores(["a", "b", "c"], np.array([1, 0, 0]))


def test_warning_rules() -> None:
    assert blind_warning(0.52, 0.75) is None
    high = blind_warning(0.7, 0.9)
    assert high.reasons == ("blind_separates",)
    assert "may measure how the two sets differ" in high.message
    close = blind_warning(0.55, 0.58)
    assert close.reasons == ("attacks_not_above_blind",)
    assert "no membership signal beyond what the texts alone give" in close.message
    both = blind_warning(0.8, 0.7)
    assert both.reasons == ("blind_separates", "attacks_not_above_blind")
    assert blind_warning(0.5, None) is None
