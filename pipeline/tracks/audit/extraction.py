"""Greedy extraction over a grid of prefix lengths k and continuation lengths L.

From the first k tokens of a sequence the model decodes L tokens greedily, with
end-of-sequence suppressed so that exactly L come out (Chen et al. 2024; EleutherAI's
Pythia evaluation is the cell k = 32, L = 32). Per sequence and cell:

- ``exact``: every one of the L tokens is the true one (extractable from a k-token prefix,
  Carlini et al. 2023);
- ``match``: Chen et al.'s ``M = (1/L) Σ_i [generated_i = true_i]``, a position-wise share,
  not a longest-prefix match (docs/science.md §3).

Decoding is the core's batched greedy decoder
(:func:`pipeline.core.probes.extraction.greedy_continuation`). Greedy decoding is
deterministic, so the first L tokens of a longer decoding are the L-token decoding: each k
is decoded once, to its longest L. A sequence takes part in a cell only if it has at least
k + L tokens.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence

import numpy as np
import polars as pl
import torch

from pipeline.core.probes.extraction import greedy_continuation
from pipeline.tracks.audit.logprobs import vocab_size

SEQ_ID, PREFIX, LENGTH, EXACT, MATCH = "seq_id", "k", "L", "exact", "match"
GRID_SCHEMA = {SEQ_ID: pl.Int64, PREFIX: pl.Int32, LENGTH: pl.Int32, EXACT: pl.Boolean,
               MATCH: pl.Float64}


class SuppressTokens(torch.nn.Module):
    """The model with some token ids made impossible (logit −∞), e.g. end-of-sequence, so
    that greedy decoding emits exactly the requested number of tokens."""

    def __init__(self, model: torch.nn.Module, token_ids: Sequence[int]):
        super().__init__()
        self.model, self.token_ids = model, list(token_ids)
        self.keeps_logits = "logits_to_keep" in inspect.signature(model.forward).parameters
        self.train(model.training)

    def forward(self, input_ids: torch.Tensor, logits_to_keep: int = 0) -> torch.Tensor:
        """Logits with the suppressed ids at −∞; ``logits_to_keep`` goes to models that take it."""
        if logits_to_keep and self.keeps_logits:
            out = self.model(input_ids, logits_to_keep=logits_to_keep)
        else:
            out = self.model(input_ids)
        logits = out if isinstance(out, torch.Tensor) else out.logits
        if self.token_ids:
            logits = logits.clone()
            logits[..., self.token_ids] = float("-inf")
        return logits


def eos_token_ids(model: torch.nn.Module, vocab_size: int) -> list[int]:
    """End-of-sequence ids from the model's generation config or config, within the vocabulary."""
    eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if eos is None:
        eos = getattr(getattr(model, "config", None), "eos_token_id", None)
    ids = [] if eos is None else [eos] if isinstance(eos, int) else list(eos)
    return [i for i in ids if 0 <= i < vocab_size]


def _cells(prefix_lengths: Sequence[int], lengths: Sequence[int]) -> dict[int, list[int]]:
    """Each prefix length with its continuation lengths, both ascending and positive."""
    ks, ls = sorted({int(k) for k in prefix_lengths}), sorted({int(n) for n in lengths})
    if not ks or not ls or ks[0] < 1 or ls[0] < 1:
        raise ValueError("prefix and continuation lengths must be positive and non-empty")
    return {k: ls for k in ks}


def _true_continuations(sequences: list[np.ndarray], k: int, length: int) -> np.ndarray:
    """``[n, length]`` true tokens after the prefix, −1 past a sequence's end."""
    out = np.full((len(sequences), length), -1, dtype=np.int64)
    for row, s in enumerate(sequences):
        tail = s[k:k + length]
        out[row, :tail.size] = tail
    return out


def _prefix_rows(model: torch.nn.Module, sequences: list[np.ndarray], seq_ids: np.ndarray,
                 k: int, lengths: list[int], batch_size: int) -> list[pl.DataFrame]:
    """The grid rows of one prefix length."""
    size = np.array([s.size for s in sequences])
    eligible = np.flatnonzero(size >= k + lengths[0])
    if eligible.size == 0:
        return []
    chosen = [sequences[i] for i in eligible]
    longest = max(n for n in lengths if (size[eligible] >= k + n).any())
    prefixes = np.stack([s[:k] for s in chosen])
    generated = greedy_continuation(model, prefixes, longest, batch_size=batch_size)
    hits = generated == _true_continuations(chosen, k, longest)
    rows = []
    for n in (n for n in lengths if n <= longest):
        keep = size[eligible] >= k + n
        cell = hits[keep, :n]
        rows.append(pl.DataFrame({SEQ_ID: seq_ids[eligible][keep], PREFIX: k, LENGTH: n,
                                  EXACT: cell.all(axis=1), MATCH: cell.mean(axis=1)},
                                 schema=GRID_SCHEMA))
    return rows


def extraction_grid(model: torch.nn.Module, sequences: Sequence[np.ndarray],
                    seq_ids: Sequence[int] | None = None, *,
                    prefix_lengths: Sequence[int] = (32,), lengths: Sequence[int] = (32,),
                    batch_size: int = 64, suppress: Sequence[int] | None = None) -> pl.DataFrame:
    """Per sequence and cell (k, L): ``exact`` and ``match`` (module docstring).

    ``suppress``: token ids greedy decoding may not emit; by default the model's
    end-of-sequence ids (:func:`eos_token_ids`). Rows are sorted by k, L and ``seq_id``.
    """
    arrays = [np.asarray(s, dtype=np.int64).ravel() for s in sequences]
    ids = np.arange(len(arrays)) if seq_ids is None else np.asarray(seq_ids, np.int64)
    if ids.size != len(arrays):
        raise ValueError(f"{ids.size} seq_ids for {len(arrays)} sequences")
    if suppress is None:
        suppress = eos_token_ids(model, vocab_size(model))
    decoder = SuppressTokens(model, suppress)
    rows = [row for k, ls in _cells(prefix_lengths, lengths).items()
            for row in _prefix_rows(decoder, arrays, ids, k, ls, batch_size)]
    frame = pl.concat(rows) if rows else pl.DataFrame(schema=GRID_SCHEMA)
    return frame.sort(PREFIX, LENGTH, SEQ_ID)


def extraction_summary(grid: pl.DataFrame, membership: pl.DataFrame) -> pl.DataFrame:
    """Per cell and side (``member`` true/false): ``n``, ``exact_share`` and ``mean_match``.

    ``membership`` maps ``seq_id`` to the boolean ``member`` (the audit frame).
    """
    return (grid.join(membership.select(SEQ_ID, "member"), on=SEQ_ID, how="inner")
            .group_by(PREFIX, LENGTH, "member")
            .agg(pl.len().alias("n"), pl.col(EXACT).mean().alias("exact_share"),
                 pl.col(MATCH).mean().alias("mean_match"))
            .sort(PREFIX, LENGTH, "member", descending=[False, False, True]))
