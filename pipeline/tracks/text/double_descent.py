"""The x-axis of the double-descent plot: dataset information relative to model capacity.

Morris et al. (2025): test loss peaks where the dataset's information, measured by the
reference model's code length, is about equal to the model's capacity ``alpha * params``.
"""

from __future__ import annotations

import numpy as np


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
