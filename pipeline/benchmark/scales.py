"""The two sizes the ``gpu`` benchmark runs at: ``full`` (a CUDA machine, at most 8 minutes)
and ``tiny`` (the same logic on shapes small enough for a CPU test in seconds). Nothing here
imports more than the standard library."""

from __future__ import annotations

import math
from dataclasses import dataclass

# Morris et al. 2025's capacity of GPT-style models, bits per parameter (docs/science.md).
PAPER_ALPHA = 3.6
# Table 1's shapes as the capacity track's paper preset trains them (a test checks that they
# are the preset's): layers × width, one head per 16 dimensions.
PAPER_SHAPES = tuple((n_layer, d_model, d_model // 16)
                     for n_layer in (1, 2, 4, 8) for d_model in (32, 64, 128, 256))
SECTIONS = ("environment", "tracks", "capacity", "throughput", "stacked", "shapes", "compile",
            "cost")


@dataclass(frozen=True)
class Scale:
    """Shapes, batches, step counts and time budgets of every section."""

    name: str
    vocab: int
    seq_len: int
    capacity_shape: tuple[int, int, int]  # layers, width, heads: Table 1's 1×32
    capacity_budget: float  # training seconds per precision
    shape: tuple[int, int, int]  # the throughput, stacking and compile measurements' shape
    batch: int
    steps: int  # timed steps, after `warmup` untimed ones
    warmup: int
    stack_models: int
    stack_steps: int
    sweep: tuple[tuple[int, int, int], ...]  # the grid's shapes, for the cost
    sweep_batch: int
    sweep_stack: int
    sweep_steps: int
    compile_backend: str
    rounds: int
    # Expected seconds of each section: one that would overrun --minutes is skipped.
    estimate: dict[str, float]
    tracks_timeout: float

    def capacity_sequences(self, multiple: float = 2.0) -> int:
        """N at ``multiple`` × the capacity shape's capacity (α = 3.6 bits per parameter),
        in sequences of (S − 1) · log2 V bits (the first token is not scored)."""
        n_layer, d_model, _ = self.capacity_shape
        return round(multiple * PAPER_ALPHA * count_params(self.vocab, self.seq_len, n_layer,
                                                           d_model)
                     / ((self.seq_len - 1) * math.log2(self.vocab)))


def count_params(vocab: int, seq_len: int, n_layer: int, d_model: int) -> int:
    """GPT-2's parameter count with a tied head (as :func:`pipeline.core.model.count_params`,
    which a test compares it with; repeated so that this module imports nothing)."""
    block = 12 * d_model * d_model + 13 * d_model
    return vocab * d_model + seq_len * d_model + n_layer * block + 2 * d_model


FULL = Scale(
    name="full", vocab=2048, seq_len=64, capacity_shape=(1, 32, 8), capacity_budget=45.0,
    shape=(1, 32, 2), batch=128, steps=100, warmup=10, stack_models=16, stack_steps=40,
    sweep=PAPER_SHAPES, sweep_batch=2048, sweep_stack=5, sweep_steps=10,
    compile_backend="inductor", rounds=2,
    estimate={"environment": 1, "tracks": 60, "capacity": 105, "throughput": 30,
              "stacked": 30, "shapes": 60, "compile": 120, "cost": 5},
    tracks_timeout=180.0,
)
# torch.compile's default backend takes a minute or more to compile on a CPU; the tiny scale
# checks the plumbing through dynamo's eager backend instead.
TINY = Scale(
    name="tiny", vocab=64, seq_len=8, capacity_shape=(1, 8, 2), capacity_budget=0.5,
    shape=(1, 8, 2), batch=16, steps=4, warmup=2, stack_models=3, stack_steps=4,
    sweep=((1, 8, 2), (2, 16, 2)), sweep_batch=32, sweep_stack=2, sweep_steps=3,
    compile_backend="eager", rounds=1,
    estimate={"environment": 0.1, "tracks": 20, "capacity": 2, "throughput": 2, "stacked": 2,
              "shapes": 2, "compile": 5, "cost": 2},
    tracks_timeout=300.0,
)
SCALES = {"full": FULL, "tiny": TINY}
