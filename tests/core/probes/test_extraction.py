"""Known-answer tests of greedy-match extraction on a rule model and a tiny GPT-2."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pipeline.core.probes.extraction import (
    _logits,
    extraction_rates,
    extraction_table,
    greedy_continuation,
)

V = 50


class NextTokenModel(torch.nn.Module):
    """Puts all mass on ``(t + 1) % vocab`` after token t."""

    def __init__(self, vocab: int = V) -> None:
        super().__init__()
        self.vocab = vocab
        self.dummy = torch.nn.Parameter(torch.zeros(()))  # gives the model a device

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        target = (input_ids + 1) % self.vocab
        return torch.nn.functional.one_hot(target, self.vocab).float() * 10.0


def rule_sequences(n: int, length: int, seed: int = 0) -> np.ndarray:
    starts = np.random.default_rng(seed).integers(0, V, size=(n, 1))
    return ((starts + np.arange(length)) % V).astype(np.uint16)





def test_logits_accepts_tensor_and_object_outputs() -> None:
    ids = torch.tensor([[1, 2, 3]])
    model = NextTokenModel()

    class Wrapped(torch.nn.Module):
        def forward(self, input_ids: torch.Tensor) -> object:
            return type("Out", (), {"logits": model(input_ids)})()

    assert torch.equal(_logits(model, ids), _logits(Wrapped(), ids))


def test_greedy_continuation_follows_rule() -> None:
    prefixes = np.array([[3, 4], [48, 49]], dtype=np.uint16)
    out = greedy_continuation(NextTokenModel(), prefixes, length=4, batch_size=1)
    np.testing.assert_array_equal(out, [[5, 6, 7, 8], [0, 1, 2, 3]])


@pytest.mark.parametrize("method", ["teacher_forced", "greedy"])
def test_extraction_rate_one_on_rule_and_zero_off_rule(method: str) -> None:
    model = NextTokenModel()
    follows = rule_sequences(20, 64)
    rates = extraction_rates(model, follows, batch_size=7, method=method)
    assert rates == {8: 1.0, 16: 1.0, 32: 1.0}

    broken = follows.copy()
    broken[:, -1] = (broken[:, -1] + 1) % V  # last token breaks the rule
    assert extraction_rates(model, broken, method=method) == {8: 0.0, 16: 0.0, 32: 0.0}


@pytest.mark.parametrize("method", ["teacher_forced", "greedy"])
def test_extraction_depends_on_where_the_rule_breaks(method: str) -> None:
    # Rule holds everywhere except at position 21, which lies after prefixes 8 and 16 but
    # inside prefix 32: only k = 32 can extract.
    head = np.arange(0, 21)
    tail = np.arange(30, 30 + 43)
    seq = (np.concatenate([head, tail]) % V)[None, :].astype(np.int32)
    table = extraction_table(NextTokenModel(), seq, (8, 16, 32), method=method)
    assert table.columns == ["extracted_k8", "extracted_k16", "extracted_k32"]
    assert table.row(0) == (False, False, True)


def test_extraction_rejects_prefix_as_long_as_sequence() -> None:
    with pytest.raises(ValueError):
        extraction_rates(NextTokenModel(), rule_sequences(2, 8), prefix_lengths=(8,))


def test_gpt2_greedy_shape_and_self_extraction() -> None:
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    config = GPT2Config(vocab_size=64, n_positions=32, n_embd=16, n_layer=1, n_head=2)
    model = GPT2LMHeadModel(config)
    model.train()
    prefixes = np.random.default_rng(0).integers(0, 64, size=(5, 8)).astype(np.uint16)
    out = greedy_continuation(model, prefixes, length=12, batch_size=2)
    assert out.shape == (5, 12)
    assert out.dtype == np.int64
    assert out.min() >= 0 and out.max() < 64
    assert model.training  # mode restored

    # A sequence made of a prefix and the model's own greedy continuation is extractable.
    sequences = np.concatenate([prefixes, out], axis=1)
    for method in ("teacher_forced", "greedy"):
        assert extraction_rates(model, sequences, (8,), method=method) == {8: 1.0}
