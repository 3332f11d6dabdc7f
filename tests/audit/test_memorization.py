"""Per-sequence memorization against a reference and its held-out calibration: known answers."""

from __future__ import annotations

import json
import math

import numpy as np
import polars as pl
import pytest

from pipeline.tracks.audit.logprobs import token_logprobs
from pipeline.tracks.audit.memorization import (
    calibrate_table,
    calibrated_memorization,
    sequence_memorization,
)
from tests.audit.helpers import UniformLM, tiny_gpt2

V = 32


def cache(seq_ids: list[int], logprobs: list[float]) -> pl.DataFrame:
    return pl.DataFrame({"seq_id": seq_ids, "position": [1] * len(seq_ids),
                         "token": [0] * len(seq_ids), "logprob": logprobs,
                         "entropy": [1.0] * len(seq_ids), "logprob_std": [1.0] * len(seq_ids)})


def test_memorization_is_the_clamped_reference_gain_in_bits() -> None:
    target = cache([0, 1], [-math.log(2) * 3, -math.log(2) * 10])   # 3 and 10 bits
    reference = cache([0, 1], [-math.log(2) * 8, -math.log(2) * 4])  # 8 and 4 bits
    table = sequence_memorization(target, reference)
    np.testing.assert_allclose(table["nll_target_bits"].to_numpy(), [3, 10], rtol=1e-6)
    np.testing.assert_allclose(table["mem_bits"].to_numpy(), [5, 0], atol=1e-5)


def test_calibration_subtracts_the_scaled_non_member_total() -> None:
    result = calibrated_memorization(np.full(20, 3.0), np.full(40, 1.0), n_resamples=100)
    assert (result.members_bits, result.nonmembers_bits) == (60.0, 40.0)
    assert result.nonmembers_scaled_bits == 20.0 and result.scale == 0.5
    assert result.calibrated.estimate == pytest.approx(40.0)
    assert result.calibrated.low == pytest.approx(40.0)
    json.dumps(result.to_dict(), allow_nan=False)


def test_non_members_relabelled_as_members_cover_zero() -> None:
    # One population of mem_U values (non-negative, mostly zero, as max(0, .) makes them),
    # split at random into "members" and "non-members".
    values = np.maximum(0.0, np.random.default_rng(0).normal(-5, 8, size=300))
    result = calibrated_memorization(values[:120], values[120:], n_resamples=500)
    assert result.members_bits > 0           # the raw sum looks like memorization...
    assert result.calibrated.covers(0.0)     # ...the calibrated one does not


def test_real_excess_memorization_is_detected() -> None:
    rng = np.random.default_rng(1)
    nonmembers = np.maximum(0.0, rng.normal(-5, 8, size=100))
    members = np.maximum(0.0, rng.normal(-5, 8, size=100)) + 6.0
    assert calibrated_memorization(members, nonmembers, n_resamples=500).calibrated.low > 0


def test_unseen_sequences_scored_by_real_models_cover_zero_about_as_often_as_promised() -> None:
    # Neither the untrained target nor the uniform reference saw any of these sequences, so
    # any split into "members" and "non-members" has true calibrated memorization 0. A 95%
    # interval must cover it in about 95% of splits (one split alone misses 1 time in 20).
    sequences = list(np.random.default_rng(2).integers(0, V, size=(600, 12)))
    table = sequence_memorization(token_logprobs(tiny_gpt2(V), sequences, batch_size=200),
                                  token_logprobs(UniformLM(V), sequences, batch_size=200))
    mem = table["mem_bits"].to_numpy()
    assert 0.2 < np.mean(mem > 0) < 0.8      # a real spread of clamped values
    rng = np.random.default_rng(3)
    covered = 0
    for trial in range(100):
        split = rng.permutation(mem.size)
        members = table.with_columns(pl.Series("member", np.isin(np.arange(mem.size),
                                                                 split[:30])))
        chosen = members.filter(pl.col("member") | pl.col("seq_id").is_in(split[30:60]))
        covered += bool(calibrate_table(chosen, n_resamples=300, seed=trial).calibrated
                        .covers(0.0))
    assert covered >= 85


def test_too_few_sequences_give_no_interval() -> None:
    result = calibrated_memorization(np.ones(5), np.ones(50))
    assert not result.calibrated.testable
    assert result.calibrated.estimate == pytest.approx(0.0)
    with pytest.raises(ValueError, match="needs members and non-members"):
        calibrated_memorization(np.ones(5), np.array([]))
