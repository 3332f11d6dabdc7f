"""The boundary effect: what happens at the first generated token.

For the sequences at each level of M (exact values such as 0, 0.25, 0.5, 1), at every token
index across context and continuation: the corpus frequency of the true token (1-gram, and
the 2-gram it ends), and the entropy of the model's next-token distribution when predicting
that index, teacher-forced over the context and free-running over the continuation (the
traces of :mod:`pipeline.tracks.profiles.score`). Token index t counts from 0, so with k = 32 index
32 is the first continuation token, as in the paper's tables.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl

LN2 = math.log(2.0)
_EPS = 1e-9


class NgramTable:
    """Relative corpus frequencies of 1-grams and 2-grams from the data stage's counts."""

    def __init__(self, counts: pl.DataFrame, vocab_size: int):
        uni = counts.filter(pl.col("first") < 0)
        bi = counts.filter(pl.col("first") >= 0)
        self.unigram = np.zeros(vocab_size)
        self.unigram[uni["token"].to_numpy()] = uni["count"].to_numpy() / uni["count"].sum()
        total = bi["count"].sum()
        self.bigram = dict(zip(zip(bi["first"].to_list(), bi["token"].to_list(), strict=True),
                               (bi["count"].to_numpy() / total).tolist(), strict=True))

    def unigram_freq(self, tokens: np.ndarray) -> np.ndarray:
        """``[n, S]`` relative frequency of each token."""
        return self.unigram[tokens]

    def bigram_freq(self, tokens: np.ndarray) -> np.ndarray:
        """``[n, S]`` relative frequency of the 2-gram ending at each token; NaN at index 0."""
        out = np.full(tokens.shape, np.nan)
        for i, row in enumerate(tokens.tolist()):
            out[i, 1:] = [self.bigram.get(pair, 0.0) for pair in zip(row[:-1], row[1:],
                                                                     strict=True)]
        return out


def curves(tokens: np.ndarray, scores: np.ndarray, entropy: np.ndarray, ngrams: NgramTable,
           levels: list[float], k: int, length: int) -> pl.DataFrame:
    """One row per (level, token index 0..k+L−1): sequences, mean 1-gram and 2-gram
    frequency of the true token, and mean entropy predicting it (nats and bits; none at
    index 0, which nothing predicts)."""
    span = k + length
    tokens = tokens[:, :span]
    uni, bi = ngrams.unigram_freq(tokens), ngrams.bigram_freq(tokens)
    # entropy[:, p] is the entropy when predicting token p + 1.
    ent = np.concatenate([np.full((len(entropy), 1), np.nan), entropy[:, :span - 1]], axis=1)
    rows = []
    for m in levels:
        mask = np.abs(scores - m) < _EPS
        n = int(mask.sum())
        for t in range(span):
            h = float(np.nanmean(ent[mask, t])) if n and t > 0 else None
            rows.append({"level": m, "index": t, "sequences": n,
                         "region": "context" if t < k else "continuation",
                         "unigram_freq": float(uni[mask, t].mean()) if n else None,
                         "bigram_freq": float(np.nanmean(bi[mask, t])) if n and t > 0 else None,
                         "entropy_nats": h, "entropy_bits": h / LN2 if h is not None else None})
    return pl.DataFrame(rows)


def summary(table: pl.DataFrame, k: int, length: int) -> pl.DataFrame:
    """Per level: frequency at the first continuation token relative to the context mean,
    and the entropy jumps at k and at k + L/2 (nats and bits)."""
    rows = []
    for (m,), t in table.group_by("level", maintain_order=True):
        if t["sequences"][0] == 0:
            rows.append({"level": m, "sequences": 0})
            continue
        at = {i: r for i, r in zip(t["index"].to_list(), t.iter_rows(named=True), strict=True)}
        context = t.filter(pl.col("index") < k)
        mid = k + length // 2
        jump = at[k]["entropy_nats"] - at[k - 1]["entropy_nats"]
        mid_jump = at[mid]["entropy_nats"] - at[mid - 1]["entropy_nats"]
        rows.append({
            "level": m, "sequences": t["sequences"][0],
            "unigram_context_mean": float(context["unigram_freq"].mean()),
            "unigram_ratio_at_k": at[k]["unigram_freq"] / float(context["unigram_freq"].mean()),
            "bigram_ratio_at_k": at[k]["bigram_freq"] / float(context["bigram_freq"].mean()),
            "entropy_context_mean_nats": float(context["entropy_nats"].mean()),
            "entropy_at_k_minus_1_nats": at[k - 1]["entropy_nats"],
            "entropy_at_k_nats": at[k]["entropy_nats"],
            "entropy_jump_at_k_nats": jump, "entropy_jump_at_k_bits": jump / LN2,
            "entropy_jump_at_mid_nats": mid_jump, "entropy_jump_at_mid_bits": mid_jump / LN2,
        })
    return pl.DataFrame(rows)
