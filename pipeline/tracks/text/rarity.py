"""Rarity against memorization on one text run, with its confound controlled
(docs/science.md §2.6; issue 22 item 6).

The paper: the most memorized sequences are rare (high TF-IDF). But ``mem_U ≤ NLL_ref`` and
a sequence of rare tokens has a long reference code, so TF-IDF and ``mem_U`` correlate
whatever the model did. Three numbers per run separate the two:

- ``tfidf_spearman_rho``: Spearman ρ of TF-IDF and ``mem_U`` over the training sequences
  (the paper's reading);
- ``tfidf_heldout_rho``: the same ρ over the test non-members, which the model never saw,
  so whatever correlation appears there is the confound's (the held-out control);
- ``tfidf_partial_rho``: ρ over the training sequences with the reference's code length
  held fixed (partial Spearman), the association the confound does not explain.

Per-sequence calibration (``mem_U`` minus the held-out mean) shifts every value alike and
leaves these rank correlations unchanged; the calibrated total says whether the run
memorized anything to correlate (the report reads rarity only where it did).
"""

from __future__ import annotations

import numpy as np
from scipy.stats import spearmanr

from pipeline.core.probes.rarity import partial_spearman, rarity_vs_memorization

NO_RARITY = {"tfidf_spearman_rho": np.nan, "tfidf_spearman_p": np.nan,
             "tfidf_top_over_rest": np.nan, "tfidf_partial_rho": np.nan,
             "tfidf_partial_p": np.nan, "tfidf_heldout_rho": np.nan, "tfidf_heldout_p": np.nan}


def _varies(*columns: np.ndarray) -> bool:
    return all(c.size >= 3 and np.all(np.isfinite(c)) and np.ptp(c) > 0 for c in columns)


def rarity_scores(tfidf: np.ndarray, mem: np.ndarray, reference: np.ndarray,
                  heldout_tfidf: np.ndarray, heldout_mem: np.ndarray) -> dict[str, float]:
    """The run's rarity numbers (module docstring); NaN where a variable is constant (no
    correlation with a constant) or there are fewer than 3 sequences."""
    out = dict(NO_RARITY)
    if _varies(tfidf, mem):
        raw = rarity_vs_memorization(tfidf, mem)
        partial = partial_spearman(tfidf, mem, reference)
        out.update(tfidf_spearman_rho=raw["spearman_rho"], tfidf_spearman_p=raw["spearman_p"],
                   tfidf_top_over_rest=raw["top_over_rest"], tfidf_partial_rho=partial["rho"],
                   tfidf_partial_p=partial["p"])
    if _varies(heldout_tfidf, heldout_mem):
        rho, p = spearmanr(heldout_tfidf, heldout_mem)
        out.update(tfidf_heldout_rho=float(rho), tfidf_heldout_p=float(p))
    return {k: float(v) for k, v in out.items()}
