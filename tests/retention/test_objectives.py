"""Known answers for the objectives' views (copy and blank-copy label masks) and the
metrics (token accuracy ignores padding; the ratios; bits per dimension; majority rate)."""

from __future__ import annotations

import math
import types

import numpy as np
import pytest
import torch

from pipeline.tracks.retention.metrics import (
    IGNORE,
    bits_per_dimension,
    ce_ratio,
    majority_rate,
    retained_fraction,
    token_accuracy,
)
from pipeline.tracks.retention.objectives import MemoryObjective, views

BATCH = torch.tensor([[1, 2, 3, 4, 5, 6, 7, 8]])
BLANK = 0


def test_causal_view_scores_every_position():
    (view,) = views("causal", BATCH, BLANK)
    assert view.inputs.tolist() == view.targets.tolist() == BATCH.tolist()
    assert view.scored.all()


def test_copy_view_repeats_the_first_half_and_scores_the_second():
    (view,) = views("copy", BATCH, BLANK)
    assert view.inputs.tolist() == [[1, 2, 3, 4, 1, 2, 3, 4]]
    assert view.targets.tolist() == [[1, 2, 3, 4, 1, 2, 3, 4]]
    assert view.scored.tolist() == [False] * 4 + [True] * 4


def test_blank_copy_view_blanks_the_second_half_input_and_targets_the_first_half():
    (view,) = views("blank_copy", BATCH, BLANK)
    assert view.inputs.tolist() == [[1, 2, 3, 4, 0, 0, 0, 0]]
    assert view.targets.tolist() == [[1, 2, 3, 4, 1, 2, 3, 4]]
    assert view.scored.tolist() == [False] * 4 + [True] * 4


def test_combined_is_causal_plus_the_named_copy():
    kinds = views("combined", BATCH, BLANK, "blank_copy")
    assert len(kinds) == 2 and kinds[0].scored.all()
    assert kinds[1].inputs.tolist() == [[1, 2, 3, 4, 0, 0, 0, 0]]
    with pytest.raises(ValueError, match="unknown"):
        views("recall", BATCH, BLANK)


def test_copy_loss_ignores_the_first_half():
    """A model perfect on the second half and wrong on the first has near-zero copy loss."""
    class SecondHalfOracle(torch.nn.Module):
        spec = types.SimpleNamespace(chunk_len=2)  # four chunks of two

        def forward(self, tokens, first_chunk=0):
            logits = torch.full((*tokens.shape, 9), -30.0)
            logits[:, :4, 0] = 30.0                       # first half: always wrong
            for i in range(4, 8):
                logits[:, i, BATCH[0, i - 4]] = 30.0      # second half: the first half's token
            return logits[:, first_chunk * 2:]

    loss = MemoryObjective("blank_copy", BLANK).loss(SecondHalfOracle(), BATCH)
    assert float(loss) < 1e-6


def test_token_accuracy_ignores_padding():
    logits = torch.nn.functional.one_hot(torch.tensor([[1, 2, 3, 0]]), 5).float()
    targets = torch.tensor([[1, 2, IGNORE, IGNORE]])
    assert token_accuracy(logits, targets) == (2, 2)
    targets = torch.tensor([[1, 4, 3, IGNORE]])
    assert token_accuracy(logits, targets) == (2, 3)


def test_ratios_and_bits_per_dimension():
    assert ce_ratio(2.0, 8.0) == 0.25
    assert retained_fraction(0.0, 1024) == 1.0
    assert retained_fraction(10.0, 1024) == 0.0
    assert math.isclose(bits_per_dimension(512, 8000, 512), math.log2(8000))
    assert bits_per_dimension(8, 16, 64) == 0.5


def test_majority_rate_is_the_mean_of_per_position_modes():
    tokens = np.array([[1, 5], [1, 6], [2, 7], [1, 7]])
    assert majority_rate(tokens) == (0.75 + 0.5) / 2


@pytest.mark.parametrize("n_chunks", [2, 3, 4])
@pytest.mark.parametrize("kind", ["causal", "copy", "blank_copy", "combined"])
def test_decoding_only_the_scored_chunks_gives_the_full_forward_loss(kind, n_chunks):
    import torch.nn.functional as F

    from pipeline.core.model import GPTConfig
    from pipeline.tracks.retention.models import MemorySpec

    torch.manual_seed(0)
    spec = MemorySpec(vocab_size=11, n_chunks=n_chunks, chunk_len=4, n_layer=1, d_model=16,
                      n_head=2, memory="trainable", memory_state="pre_norm",
                      encoder=GPTConfig(11, 4, 1, 8, 2))
    model = spec.build()
    batch = torch.randint(1, 11, (5, n_chunks * 4))
    expected = sum(
        F.cross_entropy(model(v.inputs)[:, v.scored].flatten(0, 1),
                        v.targets[:, v.scored].flatten())
        for v in views(kind, batch, blank_id=0))
    loss = MemoryObjective(kind, blank_id=0).loss(model, batch)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
