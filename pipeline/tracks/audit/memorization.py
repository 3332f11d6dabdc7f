"""Per-sequence memorization in bits against a reference model, and its held-out calibration
(:mod:`pipeline.core.probes.calibration`, shared with the text track).

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

import polars as pl

from pipeline.core.probes.calibration import CalibratedMemorization, calibrated_memorization
from pipeline.core.scoring import unintended_memorization
from pipeline.tracks.audit.logprobs import SEQ_ID, require_same_tokens, sequence_nll

__all__ = ["CalibratedMemorization", "calibrate_table", "calibrated_memorization",
           "sequence_memorization"]

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


def calibrate_table(table: pl.DataFrame, member_column: str = "member",
                    **options) -> CalibratedMemorization:
    """:func:`calibrated_memorization` of a per-sequence table with ``mem_bits`` and a
    boolean membership column (e.g. :func:`sequence_memorization` joined with the inputs)."""
    is_member = table[member_column].to_numpy().astype(bool)
    bits = table[MEM_BITS].to_numpy()
    return calibrated_memorization(bits[is_member], bits[~is_member], **options)
