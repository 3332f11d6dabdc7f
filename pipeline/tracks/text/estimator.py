"""How far the memorization estimator is off, where the truth is known (docs/science.md §2.2a).

Given per-sequence code lengths of a model, a reference and the truth on a model's training
sequences (``member``) and on held-out sequences, :func:`estimator_errors` gives ``mem_U``
raw (summed over the members) and calibrated (minus the held-out total scaled to N,
:mod:`pipeline.core.probes.calibration`), each estimated with the reference and computed with
the truth, and the errors relative to the true quantity:

    relative error = (estimated − true) / true

A relative error is stated only where the true quantity is clearly positive (the calibrated
one's interval above 0); elsewhere it is None with the reason.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from pipeline.core.probes.calibration import calibrated_memorization
from pipeline.core.scoring import unintended_memorization

TOLERANCE = 0.05  # |relative error| allowed where the reference is this close to the truth:
CLOSE_REFERENCE_BITS = 0.05  # bits per token above the truth on held-out draws


def _memorized(frame: pl.DataFrame, reference: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-sequence ``mem_U`` of the members and the held-out sequences against a column."""
    mem = unintended_memorization(frame["model_bits"].to_numpy(), frame[reference].to_numpy())
    member = frame["member"].to_numpy()
    return mem[member], mem[~member]


def relative_error(estimated: float, true: float, true_low: float | None = None
                   ) -> tuple[float | None, str | None]:
    """``(estimated − true) / true``, or None and why where the true value is not clearly
    positive (``true_low``: the lower end of its interval, when it has one)."""
    if not true > 0 or (true_low is not None and not true_low > 0):
        return None, "the true quantity is not clearly above 0"
    return (estimated - true) / true, None


def estimator_errors(frame: pl.DataFrame, reference: str, confidence: float, resamples: int,
                     seed: int) -> dict[str, Any]:
    """Raw and calibrated ``mem_U`` against ``reference`` and against ``true_bits`` (columns
    of ``frame``, with ``model_bits`` and ``member``), and their relative errors."""
    options = dict(confidence=confidence, n_resamples=resamples, seed=seed)
    estimated = calibrated_memorization(*_memorized(frame, reference), **options)
    true = calibrated_memorization(*_memorized(frame, "true_bits"), **options)
    error_raw, reason_raw = relative_error(estimated.members_bits, true.members_bits)
    error, reason = relative_error(estimated.calibrated.estimate, true.calibrated.estimate,
                                   true.calibrated.low)
    heldout = frame.filter(~pl.col("member"))
    members = frame.filter(pl.col("member"))
    scored_bits = (heldout["true_bits"].sum(), members["true_bits"].sum())
    return {
        "dataset_bits_true": float(scored_bits[1]),
        "mem_bits_true": true.members_bits,
        "mem_bits_estimated": estimated.members_bits,
        "relative_error_raw": error_raw,
        "calibrated_bits_true": true.calibrated.estimate,
        "calibrated_true_low": true.calibrated.low,
        "calibrated_true_high": true.calibrated.high,
        "calibrated_bits_estimated": estimated.calibrated.estimate,
        "calibrated_estimated_low": estimated.calibrated.low,
        "calibrated_estimated_high": estimated.calibrated.high,
        "relative_error": error,
        "relative_error_reason": reason or reason_raw,
        "reference_excess_share": float(heldout[reference].sum() / scored_bits[0] - 1.0),
    }
