"""Known answers for the memorization math (docs/science.md §1)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pipeline.core.scoring import (
    model_inputs,
    sequence_nll_bits,
    uniform_reference_bits,
    unintended_memorization,
)

V, S = 32, 10


class UniformModel(torch.nn.Module):
    """Has learned nothing: equal logits for every token."""

    def forward(self, ids):
        return torch.zeros(*ids.shape, V)


class LookupModel(torch.nn.Module):
    """Has learned the sequences exactly: a huge logit on the true next token."""

    def __init__(self, tokens: np.ndarray, first_token: str):
        super().__init__()
        self.tokens, self.first_token = torch.as_tensor(tokens), first_token

    def forward(self, ids):
        logits = torch.full((*ids.shape, V + 1), -1e4)
        for row, seq in enumerate(ids):
            match = next(i for i, t in enumerate(self.tokens)
                         if torch.equal(model_inputs(t[None], self.first_token, V)[0][0], seq))
            targets = model_inputs(self.tokens[match][None], self.first_token, V)[1][0]
            logits[row, torch.arange(len(seq)), targets] = 1e4
        return logits


@pytest.fixture
def tokens():
    return np.random.default_rng(0).integers(0, V, size=(6, S))


def test_model_that_learned_nothing_memorizes_zero_bits(tokens):
    nll = sequence_nll_bits(UniformModel(), tokens)
    reference = uniform_reference_bits(S - 1, V)
    np.testing.assert_allclose(nll, reference, rtol=1e-6)
    assert reference == pytest.approx((S - 1) * math.log2(V))
    assert unintended_memorization(nll, reference).sum() == pytest.approx(0.0, abs=1e-3)


@pytest.mark.parametrize(("first_token", "scored"), [("skip", S - 1), ("bos", S)])
def test_model_that_learned_sequences_exactly_memorizes_their_entropy(tokens, first_token, scored):
    nll = sequence_nll_bits(LookupModel(tokens, first_token), tokens, first_token=first_token,
                            bos_id=V)
    np.testing.assert_allclose(nll, 0.0, atol=1e-6)
    memorized = unintended_memorization(nll, uniform_reference_bits(scored, V))
    np.testing.assert_allclose(memorized, scored * math.log2(V))


def test_memorization_is_clipped_at_zero():
    assert unintended_memorization(np.array([12.0, 3.0]), 10.0).tolist() == [0.0, 7.0]


def test_bos_inputs_shift_by_one():
    batch = torch.tensor([[5, 6, 7]])
    inputs, targets = model_inputs(batch, "bos", 9)
    assert inputs.tolist() == [[9, 5, 6]] and targets.tolist() == [[5, 6, 7]]
    inputs, targets = model_inputs(batch, "skip", None)
    assert inputs.tolist() == [[5, 6]] and targets.tolist() == [[6, 7]]
