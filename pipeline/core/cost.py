"""What training costs, before anything runs: FLOPs per token of a GPT-2 shape, the work of a
group of planned runs, and this machine's measured training throughput.

Training FLOPs per token follow the usual count (Kaplan et al. 2020): forward and backward
are ``6 · P`` per token for the ``P`` parameters used in matrix products (the tied embedding
counts once, as the output head), plus ``6 · L · S · d`` for attention over ``S`` positions.
Evaluation and scoring are left out: they are small beside training at these step counts.
A track whose work is inference (the audit) plans forward passes: ``2 · P + 2 · L · S · d``
per token, a third of training's count.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from pipeline.core.model import GPT, GPTConfig, count_params


def training_flops_per_token(vocab_size: int, seq_len: int, n_layer: int,
                             d_model: int) -> int:
    params = count_params(vocab_size, seq_len, n_layer, d_model)
    return 6 * params + 6 * n_layer * seq_len * d_model


def forward_flops_per_token(matmul_params: int, n_layer: int, context: int,
                            d_model: int) -> int:
    """Forward-pass FLOPs per token (inference): ``2 · P`` for the ``P`` parameters used in
    matrix products (the output head included) plus ``2 · L · S · d`` for attention over
    ``S`` positions (Kaplan et al. 2020)."""
    return 2 * matmul_params + 2 * n_layer * context * d_model


@dataclass(frozen=True)
class PlannedRuns:
    """A group of training runs of one shape: how many, and the tokens they process at most
    (every step taken; early stopping can only shorten it)."""

    track: str
    what: str
    shape: str
    runs: int
    tokens: int
    flops_per_token: int

    @property
    def flops(self) -> float:
        return float(self.tokens) * self.flops_per_token


def planned(track: str, what: str, vocab_size: int, seq_len: int, n_layer: int, d_model: int,
            steps: int, batch_sizes: list[int]) -> PlannedRuns:
    """One run per entry of ``batch_sizes`` (a run's batch is capped by its dataset size)."""
    return PlannedRuns(
        track=track, what=what, shape=f"L{n_layer}-D{d_model} (V {vocab_size:,}, S {seq_len})",
        runs=len(batch_sizes), tokens=steps * seq_len * sum(batch_sizes),
        flops_per_token=training_flops_per_token(vocab_size, seq_len, n_layer, d_model),
    )


def measure_flops_per_second(seconds: float = 3.0, threads: int = 1) -> float:
    """Training FLOP/s this machine reaches on one worker: a 1×32 GPT (V 2048, S 64, batch
    64) trained with AdamW for about ``seconds``."""
    torch.set_num_threads(threads)
    config = GPTConfig(2048, 64, n_layer=1, d_model=32, n_head=2)
    model = GPT(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    tokens = torch.randint(0, 2048, (64, 64), generator=torch.Generator().manual_seed(0))

    def step() -> None:
        logits = model(tokens[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 2048),
                                                 tokens[:, 1:].reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(3):  # warm up
        step()
    steps, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        step()
        steps += 1
    elapsed = time.perf_counter() - started
    per_token = training_flops_per_token(2048, 64, 1, 32)
    return steps * tokens.numel() * per_token / elapsed


def measure_matmul_peak(seconds: float = 1.0, size: int = 1024) -> float:
    """FLOP/s of a large fp32 matrix product on the current torch threads: the practical
    peak a training step could approach on this machine."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    for _ in range(3):  # warm up
        a @ b
    products, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        a @ b
        products += 1
    return products * 2 * size**3 / (time.perf_counter() - started)
