"""Per-sequence memorization in bits against a reference model, and its held-out calibration.

Morris et al. (2025) estimate unintended memorization of a sequence x as
``mem_U(x) = max(0, NLL_ref(x) − NLL_target(x))`` bits (:mod:`pipeline.core.scoring`), and of
a set as the sum. The ``max(0, ·)`` makes every term non-negative, so the sum grows with the
number of sequences even where the target memorized nothing (issue 22).
The held-out control applies the same estimator, with the same reference, to non-members:

    calibrated = Σ_members mem_U − (N_members / N_nonmembers) · Σ_nonmembers mem_U

with a bootstrap interval over sequences (members and non-members resampled separately).
A target that saw neither set has calibrated memorization 0 within its interval.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from pipeline.core.scoring import unintended_memorization
from pipeline.core.stats import (
    DEFAULT_CONFIDENCE,
    DEFAULT_RESAMPLES,
    MIN_ITEMS,
    Interval,
    bootstrap,
)
from pipeline.tracks.audit.logprobs import SEQ_ID, require_same_tokens, sequence_nll

NLL_TARGET, NLL_REFERENCE, MEM_BITS = "nll_target_bits", "nll_reference_bits", "mem_bits"


def sequence_memorization(target: pl.DataFrame, reference: pl.DataFrame) -> pl.DataFrame:
    """Per sequence, from a target's and a reference's log-prob caches of the same tokens:
    ``seq_id``, ``n_tokens``, ``nll_target_bits``, ``nll_reference_bits`` and
    ``mem_bits = max(0, NLL_ref − NLL_target)``."""
    require_same_tokens(target, reference)
    nll_t = sequence_nll(target).rename({"nll_bits": NLL_TARGET})
    nll_r = sequence_nll(reference).select(SEQ_ID, pl.col("nll_bits").alias(NLL_REFERENCE))
    both = nll_t.join(nll_r, on=SEQ_ID, how="inner").sort(SEQ_ID)
    mem = unintended_memorization(both[NLL_TARGET].to_numpy(), both[NLL_REFERENCE].to_numpy())
    return both.with_columns(pl.Series(MEM_BITS, mem, pl.Float64))


@dataclass(frozen=True)
class CalibratedMemorization:
    """The members' summed memorization, the non-members' (raw and scaled to the members'
    count) and their difference, the calibrated memorization, with its interval (bits)."""

    n_members: int
    n_nonmembers: int
    members_bits: float
    nonmembers_bits: float
    nonmembers_scaled_bits: float
    calibrated: Interval

    @property
    def scale(self) -> float:
        """``N_members / N_nonmembers``, the factor applied to the non-members' sum."""
        return self.n_members / self.n_nonmembers

    def to_dict(self) -> dict:
        """JSON-friendly fields; ``calibrated`` as an :class:`Interval` dict."""
        return {"n_members": self.n_members, "n_nonmembers": self.n_nonmembers,
                "members_bits": self.members_bits, "nonmembers_bits": self.nonmembers_bits,
                "nonmembers_scaled_bits": self.nonmembers_scaled_bits, "scale": self.scale,
                "calibrated": self.calibrated.to_dict()}


def _calibrated_statistic(n_members: int, n_nonmembers: int):
    """Vectorized ``Σ members − (N_m / N_n) Σ non-members`` over a resample axis."""
    scale = n_members / n_nonmembers

    def statistic(bits: np.ndarray, is_member: np.ndarray) -> np.ndarray:
        member = is_member.astype(bool)
        return (np.where(member, bits, 0.0).sum(axis=1)
                - scale * np.where(member, 0.0, bits).sum(axis=1))

    return statistic


def calibrated_memorization(member_bits: np.ndarray, nonmember_bits: np.ndarray, *,
                            confidence: float = DEFAULT_CONFIDENCE,
                            n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0,
                            min_n: int = MIN_ITEMS) -> CalibratedMemorization:
    """Calibrated memorization (module docstring) of per-sequence ``mem_U`` values in bits.

    Untestable (no interval) when either set has fewer than ``min_n`` sequences. The
    caller decides how far the non-members may be scaled up (``scale`` in the result).
    """
    members = np.asarray(member_bits, dtype=np.float64).ravel()
    nonmembers = np.asarray(nonmember_bits, dtype=np.float64).ravel()
    if members.size == 0 or nonmembers.size == 0:
        raise ValueError(f"calibration needs members and non-members, got {members.size} and "
                         f"{nonmembers.size}")
    bits = np.concatenate([members, nonmembers])
    labels = np.concatenate([np.ones(members.size, bool), np.zeros(nonmembers.size, bool)])
    interval = bootstrap(_calibrated_statistic(members.size, nonmembers.size), bits, labels,
                         confidence=confidence, n_resamples=n_resamples, seed=seed,
                         strata=labels, vectorized=True, min_n=min_n)
    scaled = members.size / nonmembers.size * float(nonmembers.sum())
    return CalibratedMemorization(int(members.size), int(nonmembers.size), float(members.sum()),
                                  float(nonmembers.sum()), scaled, interval)


def calibrate_table(table: pl.DataFrame, member_column: str = "member",
                    **options) -> CalibratedMemorization:
    """:func:`calibrated_memorization` of a per-sequence table with ``mem_bits`` and a
    boolean membership column (e.g. :func:`sequence_memorization` joined with the inputs)."""
    is_member = table[member_column].to_numpy().astype(bool)
    bits = table[MEM_BITS].to_numpy()
    return calibrated_memorization(bits[is_member], bits[~is_member], **options)
