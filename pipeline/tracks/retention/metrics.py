"""The retention metrics, as the project defines them (docs/retention.md).

* token accuracy: share of scored positions where the decoder's argmax is the target (the
  original logs it as "Hamming distance"); padding (``ignore_index``) is never scored;
* cross-entropy in bits per token;
* the two entropy ratios (the paper names one without a formula; docs/science.md §4):
  ``ce_ratio = CE_encoder / CE_null`` (1: the memory tells the decoder nothing it could not
  guess without it; 0: perfect retention) and
  ``retained_fraction = (log2 V − CE_bits) / log2 V`` (the share of a uniform code's bits
  the decoder no longer needs);
* the input's bits per memory dimension, ``n · log2 V / d``: far below the capacity of a
  float, perfect retention is trivial.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

IGNORE = -100
LN2 = math.log(2.0)


def token_accuracy(logits: torch.Tensor, targets: torch.Tensor,
                   ignore_index: int = IGNORE) -> tuple[int, int]:
    """(correct, scored) over the positions whose target is not ``ignore_index``."""
    scored = targets != ignore_index
    correct = (logits.argmax(-1) == targets) & scored
    return int(correct.sum()), int(scored.sum())


def cross_entropy_bits(logits: torch.Tensor, targets: torch.Tensor,
                       ignore_index: int = IGNORE) -> tuple[float, int]:
    """(total bits, scored positions) of the targets under the logits."""
    nats = F.cross_entropy(logits.float().flatten(0, -2), targets.flatten(),
                           ignore_index=ignore_index, reduction="sum")
    return float(nats) / LN2, int((targets != ignore_index).sum())


def ce_ratio(ce_bits: float, null_ce_bits: float) -> float:
    return ce_bits / null_ce_bits if null_ce_bits > 0 else math.nan


def retained_fraction(ce_bits: float, vocab_size: int) -> float:
    return (math.log2(vocab_size) - ce_bits) / math.log2(vocab_size)


def bits_per_dimension(length: int, vocab_size: int, width: int) -> float:
    """``n · log2 V / d``: the input's bits (at a uniform code) per memory dimension."""
    return length * math.log2(vocab_size) / width


def majority_rate(tokens: np.ndarray) -> float:
    """Accuracy of always predicting each position's most frequent token: what a decoder
    that knows nothing about the sequence at hand (the null memory) can reach."""
    rates = []
    for column in np.asarray(tokens).T:
        _, counts = np.unique(column, return_counts=True)
        rates.append(counts.max() / len(column))
    return float(np.mean(rates))
