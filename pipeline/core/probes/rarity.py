"""Rarity of text samples by TF-IDF over token ids, and its relation to memorization.

Morris et al. (2025) find the most memorized text samples are rare ones (high TF-IDF).
Each sequence is a document whose terms are its token ids.

Score definition (an open choice; the paper does not give one): the TF-IDF weights of a
sequence's tokens with the term frequency taken as the token's *share* of the sequence,
summed: ``Σ_t (count(t, d) / S) · idf(t)``, which is the mean IDF over the sequence's S token
positions, with sklearn's smoothed ``idf(t) = ln((1 + n) / (1 + df(t))) + 1``. A sequence made
of rare tokens scores high; repeating a token never raises the score above that token's IDF,
so 64 copies of the commonest token rank least rare (raw counts averaged over distinct
tokens, the earlier definition, ranked exactly that sequence rarest; docs/science.md §2.6).

scikit-learn computes the IDF (``TfidfTransformer(smooth_idf=True)`` fitted on the sparse
token-id count matrix; token ids are already the terms, so no tokenizer is needed).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.stats import rankdata, spearmanr
from scipy.stats import t as student_t
from sklearn.feature_extraction.text import TfidfTransformer


def _count_matrix(sequences: np.ndarray, vocab_size: int | None) -> sp.csr_matrix:
    """Sparse ``[n, V]`` matrix of token counts per sequence."""
    n, s = sequences.shape
    cols = sequences.ravel().astype(np.int64)
    v = int(cols.max()) + 1 if vocab_size is None else int(vocab_size)
    if cols.min(initial=0) < 0 or cols.max(initial=-1) >= v:
        raise ValueError("token ids must lie in [0, vocab_size)")
    rows = np.repeat(np.arange(n, dtype=np.int64), s)
    data = np.ones(cols.size, dtype=np.float64)
    # COO -> CSR sums duplicate (row, col) pairs, giving counts.
    counts = sp.coo_matrix((data, (rows, cols)), shape=(n, v)).tocsr()
    counts.sum_duplicates()
    return counts


def _integer_sequences(sequences: np.ndarray) -> np.ndarray:
    seqs = np.asarray(sequences)
    if seqs.ndim != 2 or not np.issubdtype(seqs.dtype, np.integer):
        raise ValueError("sequences must be a 2-D integer array [n, S]")
    return seqs


def idf_weights(sequences: np.ndarray, vocab_size: int) -> np.ndarray:
    """sklearn's smoothed IDF of every token id over ``sequences``, shape ``[vocab_size]``."""
    counts = _count_matrix(_integer_sequences(sequences), vocab_size)
    return TfidfTransformer(smooth_idf=True).fit(counts).idf_


def tfidf_scores(sequences: np.ndarray, vocab_size: int | None = None,
                 idf: np.ndarray | None = None) -> np.ndarray:
    """Mean IDF over each sequence's token positions (see module docstring), shape ``[n]``;
    the IDF is fitted on ``sequences`` unless ``idf`` (from :func:`idf_weights` on another
    set, e.g. the member pool for held-out sequences) is given."""
    seqs = _integer_sequences(sequences)
    if seqs.size == 0:
        return np.zeros(seqs.shape[0], dtype=np.float64)
    counts = _count_matrix(seqs, vocab_size if idf is None else len(idf))
    if idf is None:
        idf = TfidfTransformer(smooth_idf=True).fit(counts).idf_
    return np.asarray(counts @ idf).ravel() / seqs.shape[1]


def top_memorized(mem_bits: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` most memorized samples, most memorized first (ties: lower index)."""
    mem = np.asarray(mem_bits, dtype=np.float64)
    k = max(0, min(int(k), mem.size))
    order = np.argsort(-mem, kind="stable")
    return order[:k]


def rarity_vs_memorization(
    tfidf: np.ndarray, mem_bits: np.ndarray, top_fraction: float = 0.1
) -> dict[str, float]:
    """Spearman correlation of TF-IDF with memorization, and top-decile vs rest means.

    The top group is the ``ceil(top_fraction * n)`` most memorized samples (by
    :func:`top_memorized`), the rest are all others.
    """
    tfidf = np.asarray(tfidf, dtype=np.float64)
    mem = np.asarray(mem_bits, dtype=np.float64)
    if tfidf.shape != mem.shape or tfidf.ndim != 1:
        raise ValueError("tfidf and mem_bits must be 1-D arrays of equal length")
    n = mem.size
    if n < 3:
        raise ValueError("need at least 3 samples")
    if not 0 < top_fraction < 1:
        raise ValueError("top_fraction must lie in (0, 1)")
    rho, p = spearmanr(tfidf, mem)
    n_top = min(n - 1, max(1, int(np.ceil(top_fraction * n))))
    is_top = np.zeros(n, dtype=bool)
    is_top[top_memorized(mem, n_top)] = True
    top_mean = float(tfidf[is_top].mean())
    rest_mean = float(tfidf[~is_top].mean())
    return {
        "n": float(n),
        "spearman_rho": float(rho),
        "spearman_p": float(p),
        "n_top": float(n_top),
        "mean_tfidf_top": top_mean,
        "mean_tfidf_rest": rest_mean,
        "top_over_rest": top_mean / rest_mean if rest_mean != 0 else float("nan"),
    }


def partial_spearman(x: np.ndarray, y: np.ndarray, control: np.ndarray) -> dict[str, float]:
    """Spearman correlation of ``x`` and ``y`` with ``control`` held fixed: the Pearson
    correlation of the ranks' residuals after a least-squares line on the control's ranks,
    with its two-sided p-value (t with n − 3 degrees of freedom). NaN where undefined (fewer
    than 4 samples, or a variable constant once the control is removed)."""
    columns = [np.asarray(c, dtype=np.float64).ravel() for c in (x, y, control)]
    n = columns[0].size
    if any(c.size != n for c in columns):
        raise ValueError("x, y and control must be 1-D arrays of equal length")
    nan = {"n": float(n), "rho": float("nan"), "p": float("nan")}
    if n < 4:
        return nan
    ranks = [rankdata(c) for c in columns]
    design = np.column_stack([np.ones(n), ranks[2]])
    residuals = [r - design @ np.linalg.lstsq(design, r, rcond=None)[0] for r in ranks[:2]]
    scale = float(np.linalg.norm(residuals[0]) * np.linalg.norm(residuals[1]))
    if scale <= 1e-12 * n * n:
        return nan
    rho = float(np.clip(residuals[0] @ residuals[1] / scale, -1.0, 1.0))
    df = n - 3
    t = rho * np.sqrt(df / max(1e-300, 1.0 - rho * rho))
    return {"n": float(n), "rho": rho, "p": float(2.0 * student_t.sf(abs(t), df))}
