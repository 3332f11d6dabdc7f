"""The retention verdict rules: each says "reproduced" on numbers that match the paper's
statement (docs/retention.md) and something else on numbers that contradict it."""

from __future__ import annotations

import numpy as np
import polars as pl

from pipeline.core.stats import Interval
from pipeline.tracks.retention import verdicts as v
from pipeline.tracks.retention.metrics import bits_per_dimension


def _at(value: float, width: float = 0.01) -> Interval:
    return Interval(value, value - width, value + width, 0.95, 500, "test")


def test_lm_near_floor():
    assert v.lm_near_floor({"lm-b200": _at(0.97), "lm-b800": _at(0.95)}).verdict == v.REPRODUCED
    assert v.lm_near_floor({"lm-b200": _at(0.97), "lm-b800": _at(0.6)}).verdict == v.CONTRADICTED
    assert v.lm_near_floor({"lm-b800": _at(0.9, 0.05)}).verdict == v.INCONCLUSIVE
    assert v.lm_near_floor({}).verdict == v.UNTESTABLE


def test_autoencoder_retains():
    assert v.autoencoder_retains({"own": _at(0.99), "fresh": _at(0.98)}).verdict == v.REPRODUCED
    assert v.autoencoder_retains({"own": _at(0.99), "fresh": _at(0.4)}).verdict == v.CONTRADICTED


def test_causal_copies_at_floor():
    assert v.causal_copies_at_floor(_at(0.0)).verdict == v.REPRODUCED
    assert v.causal_copies_at_floor(_at(0.3)).verdict == v.CONTRADICTED
    assert v.causal_copies_at_floor(None).verdict == v.UNTESTABLE


def test_combined_copies_well():
    good = v.combined_copies_well({"combined": _at(0.95)}, {"combined": _at(0.01)})
    assert good.verdict == v.REPRODUCED
    costly = v.combined_copies_well({"combined": _at(0.95)}, {"combined": _at(0.3)})
    assert costly.verdict == v.CONTRADICTED
    poor = v.combined_copies_well({"combined": _at(0.45)}, {"combined": _at(0.0)})
    assert poor.verdict == v.CONTRADICTED


def test_untestable_interval_is_no_verdict():
    missing = Interval(0.5, None, None, 0.95, 3, "test", reason="3 items")
    assert v.lm_near_floor({"lm": missing}).verdict == v.UNTESTABLE


def test_decide_keeps_the_untrained_encoder_out_and_reads_paired_ratios():
    rng = np.random.default_rng(0)
    n, tokens = 200, 8

    def row(kind, encoder, budget, bits_mean, correct_p):
        return {"kind": kind, "encoder": encoder, "budget": budget, "split": "heldout",
                "length": tokens, "seq_bits": (rng.normal(bits_mean, 0.5, n) * tokens).tolist(),
                "seq_correct": rng.binomial(tokens, correct_p, n).tolist(),
                "seq_scored": [tokens] * n}

    retention = pl.DataFrame([
        row("null (constant)", "null", 0, 9.0, 0.05),
        row("untrained encoder", "lm-b0", 0, 2.0, 0.9),  # would contradict if counted
        row("causal LM", "lm-b800", 800, 8.8, 0.06),
        row("autoencoder (own decoder)", "ae", 100, 0.1, 0.99),
        row("autoencoder (fresh decoder)", "ae", 100, 0.1, 0.99),
    ])
    memory = pl.DataFrame({"objective": [], "memory": [], "split": []},
                          schema={"objective": pl.String, "memory": pl.String,
                                  "split": pl.String})
    decided = v.decide(retention, memory, tokens, "blank_copy")
    assert decided["lm_near_floor"].verdict == v.REPRODUCED
    assert "lm-b0" not in decided["lm_near_floor"].reason
    assert decided["autoencoder_retains"].verdict == v.REPRODUCED
    assert decided["causal_copies_at_floor"].verdict == v.UNTESTABLE


def test_bits_per_dimension_of_the_default():
    from pipeline.core.corpus import planned_vocabulary
    from pipeline.params import load_params

    params = load_params("params.yaml")
    retention = params.retention
    vocab = planned_vocabulary(params.corpus)
    bits = bits_per_dimension(retention.seq_len, vocab, retention.encoders.model.d_model)
    assert bits == retention.seq_len * np.log2(vocab) / retention.encoders.model.d_model
    assert bits >= v.MIN_BITS_PER_DIMENSION, f"default carries {bits:.2f} bits per dimension"
