"""Greedy extraction over a k x L grid: exact and match score on a rule model, ragged
sequences, end-of-sequence suppression, and agreement with the core's extraction."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import torch

from pipeline.core.probes.extraction import extraction_table
from pipeline.tracks.audit.extraction import (
    SuppressTokens,
    eos_token_ids,
    extraction_grid,
    extraction_summary,
)
from tests.audit.helpers import tiny_gpt2

V = 20


class NextTokenModel(torch.nn.Module):
    """All mass on ``(t + 1) % V`` after token t; token 0 (an "EOS") second when ``eos_first``."""

    def __init__(self, eos_first: bool = False) -> None:
        super().__init__()
        self.eos_first = eos_first
        self.anchor = torch.nn.Parameter(torch.zeros(()))

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        logits = torch.nn.functional.one_hot((input_ids + 1) % V, V).float() * 10.0
        if self.eos_first:
            logits[..., 0] = 20.0
        return logits + 0.0 * self.anchor


def rule(start: int, length: int) -> np.ndarray:
    return (start + np.arange(length)) % V


def test_match_score_counts_positions_not_the_longest_prefix() -> None:
    broken = rule(3, 12)
    broken[6] = (broken[6] + 5) % V      # one wrong token inside the continuation
    grid = extraction_grid(NextTokenModel(), [rule(1, 12), broken], prefix_lengths=[4],
                           lengths=[4, 8], suppress=[])
    rows = {(r["seq_id"], r["L"]): (r["exact"], r["match"]) for r in grid.iter_rows(named=True)}
    assert rows[(0, 4)] == (True, 1.0) and rows[(0, 8)] == (True, 1.0)
    assert rows[(1, 4)] == (False, 0.75)   # continuation positions 4..7, wrong at 6
    assert rows[(1, 8)] == (False, 7 / 8)


def test_sequences_too_short_for_a_cell_are_left_out() -> None:
    sequences = [rule(0, 6), rule(1, 10), rule(2, 16)]
    grid = extraction_grid(NextTokenModel(), sequences, seq_ids=[10, 11, 12],
                           prefix_lengths=[2, 8], lengths=[4, 8], suppress=[], batch_size=2)
    cells = grid.group_by("k", "L").agg(pl.col("seq_id")).sort("k", "L")
    assert cells.rows() == [(2, 4, [10, 11, 12]), (2, 8, [11, 12]), (8, 4, [12]),
                            (8, 8, [12])]
    assert grid["exact"].all()


def test_end_of_sequence_is_suppressed() -> None:
    model = NextTokenModel(eos_first=True)
    assert not extraction_grid(model, [rule(1, 8)], prefix_lengths=[4], lengths=[4],
                               suppress=[])["exact"][0]
    assert extraction_grid(model, [rule(1, 8)], prefix_lengths=[4], lengths=[4],
                           suppress=[0])["exact"][0]
    logits = SuppressTokens(model, [0])(torch.tensor([[1, 2]]))
    assert torch.isinf(logits[..., 0]).all()


def test_eos_ids_come_from_the_config_and_stay_in_the_vocabulary() -> None:
    assert eos_token_ids(tiny_gpt2(V, eos=V - 1), V) == [V - 1]
    assert eos_token_ids(tiny_gpt2(V, eos=None), V) == []
    assert eos_token_ids(tiny_gpt2(V, eos=V - 1), V - 1) == []


def test_exact_agrees_with_the_core_teacher_forced_extraction() -> None:
    model = tiny_gpt2(V, eos=None)
    sequences = np.random.default_rng(0).integers(0, V, size=(30, 10))
    # Sequences the model will reproduce: its own greedy decodings from random prefixes.
    with torch.no_grad():
        ids = torch.from_numpy(sequences[:15, :2])
        for _ in range(8):
            ids = torch.cat([ids, model(ids).logits[:, -1:].argmax(-1)], dim=1)
    sequences[:15] = ids.numpy()
    grid = extraction_grid(model, list(sequences), prefix_lengths=[2, 5], lengths=[8, 5])
    core = extraction_table(model, sequences, prefix_lengths=[2, 5])
    for k in (2, 5):
        ours = grid.filter((pl.col("k") == k) & (pl.col("L") == 10 - k))["exact"]
        assert ours.to_list() == core[f"extracted_k{k}"].to_list()
    assert grid.filter(pl.col("k") == 2, pl.col("L") == 8)["exact"].sum() >= 15


def test_summary_per_cell_and_side() -> None:
    grid = extraction_grid(NextTokenModel(), [rule(0, 8), rule(5, 8), np.zeros(8, int)],
                           prefix_lengths=[4], lengths=[4], suppress=[])
    membership = pl.DataFrame({"seq_id": [0, 1, 2], "member": [True, False, False]})
    summary = extraction_summary(grid, membership)
    assert summary.select("member", "n", "exact_share").rows() == [(True, 1, 1.0),
                                                                    (False, 2, 0.5)]
    assert summary["mean_match"][1] == pytest.approx(0.5)
