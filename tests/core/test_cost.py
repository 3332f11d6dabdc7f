"""Training cost: FLOPs per token by hand, and planned tokens."""

from __future__ import annotations

from pipeline.core.cost import planned, training_flops_per_token
from pipeline.core.model import GPT, GPTConfig


def test_flops_per_token_equal_the_hand_computation():
    # 1×32, V 2048, S 64: parameters (2048 + 64)·32 + 12·32² + 13·32 + 2·32 = 80,352;
    # 6 · 80,352 + 6 · 1 · 64 · 32 = 494,400.
    assert GPT(GPTConfig(2048, 64, n_layer=1, d_model=32, n_head=2)).num_params() == 80_352
    assert training_flops_per_token(2048, 64, 1, 32) == 494_400


def test_planned_tokens_count_every_step_of_every_run():
    group = planned("capacity", "grid", 256, 32, 1, 16, steps=100, batch_sizes=[8, 64, 64])
    assert group.runs == 3
    assert group.tokens == 100 * 32 * (8 + 64 + 64)
    assert group.flops == group.tokens * training_flops_per_token(256, 32, 1, 16)
