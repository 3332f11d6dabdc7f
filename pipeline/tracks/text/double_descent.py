"""The double-descent reading: dataset information relative to model capacity, and whether a
test-loss maximum is a peak (docs/science.md §2.3).

Morris et al. (2025): test loss peaks where the dataset's information, measured by the
reference model's code length, is about equal to the model's capacity ``alpha * params``.
A maximum of test loss over the N of a grid counts as that peak only where it is interior,
above both ends, and not worse than a uniform guess (``log2 V`` bits per token): a model
that memorized a few sequences and is confidently wrong on unseen text scores worse than
uniform, and its maximum measures that overconfidence, not the peak (:func:`classify_peak`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

PeakPosition = Literal["interior peak", "overconfidence", "smallest N", "largest N",
                       "not above both ends"]


def dataset_information_bits(ref_nll_bits_per_sequence: np.ndarray) -> float:
    """Dataset information in bits: the reference model's total code length (sum of NLLs)."""
    nll = np.asarray(ref_nll_bits_per_sequence, dtype=np.float64)
    if not np.all(np.isfinite(nll)):
        raise ValueError("reference NLLs must be finite")
    if np.any(nll < 0):
        raise ValueError("reference NLLs (code lengths) cannot be negative")
    return float(nll.sum())


def capacity_ratio(dataset_bits: float, alpha: float, params: float) -> float:
    """``dataset_bits / (alpha * params)``; the paper puts the test-loss peak near 1."""
    if alpha <= 0 or params <= 0:
        raise ValueError("alpha and params must be positive")
    return float(dataset_bits) / (float(alpha) * float(params))


def peak_ratio(ratios: np.ndarray, test_losses: np.ndarray) -> float:
    """The capacity ratio at which test loss is highest (the double-descent peak)."""
    ratios = np.asarray(ratios, dtype=np.float64)
    losses = np.asarray(test_losses, dtype=np.float64)
    if ratios.shape != losses.shape or ratios.size == 0:
        raise ValueError("ratios and test_losses must be non-empty and of equal shape")
    return float(ratios[np.nanargmax(losses)])


@dataclass(frozen=True)
class PeakReading:
    """Where a shape's highest test loss lies and whether it is a double-descent peak."""

    index: int  # into the N-sorted rows
    test_loss: float
    position: PeakPosition
    uniform_bits_per_token: float

    @property
    def is_peak(self) -> bool:
        return self.position == "interior peak"


def classify_peak(test_losses: np.ndarray, vocab_size: int) -> PeakReading:
    """Read the test-loss maximum of a shape's runs sorted by N (module docstring): worse
    than a uniform guess is ``overconfidence``; at the smallest or largest N, or not above
    both ends, it is no peak either."""
    losses = np.asarray(test_losses, dtype=np.float64)
    if losses.ndim != 1 or losses.size == 0 or not np.all(np.isfinite(losses)):
        raise ValueError("test losses must be a non-empty 1-D array of finite values")
    uniform = math.log2(vocab_size)
    top = int(np.argmax(losses))
    if losses[top] > uniform:
        position: PeakPosition = "overconfidence"
    elif top == 0:
        position = "smallest N"
    elif top == losses.size - 1:
        position = "largest N"
    elif not (losses[top] > losses[0] and losses[top] > losses[-1]):
        position = "not above both ends"
    else:
        position = "interior peak"
    return PeakReading(top, float(losses[top]), position, uniform)
