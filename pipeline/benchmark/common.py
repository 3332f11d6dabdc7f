"""What the benchmarks share: a job of the project's trainer, the plain Hugging Face loop it is
measured against, and the steady-state time of a training step.

A step's time is taken from the trainer's own progress reports (one per model and step, each
after the step's loss has reached the host, so a GPU step is finished when it is stamped),
after a few warm-up steps: the first steps carry compilation, autotuning and allocation,
which a run of a million steps does not repeat.
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from pipeline.core.config import RuntimeConfig, TrainConfig
from pipeline.core.device import resolve_device
from pipeline.core.model import GPTConfig
from pipeline.core.objectives import NextTokenObjective
from pipeline.core.scoring import uniform_reference_bits
from pipeline.core.trainer import Trainer, TrainJob


def add_shape_arguments(parser: argparse.ArgumentParser, width: int = 16, vocab: int = 256,
                        seq_len: int = 32, batch: int = 64) -> None:
    """The model's shape and the batch (defaults: the capacity grid's 1×16, V=256, S=32)."""
    parser.add_argument("--layers", type=int, default=1)
    parser.add_argument("--width", type=int, default=width)
    parser.add_argument("--heads", type=int, default=2)
    parser.add_argument("--vocab", type=int, default=vocab)
    parser.add_argument("--seq-len", type=int, default=seq_len)
    parser.add_argument("--batch", type=int, default=batch)


def benchmark_job(config: GPTConfig, tokens, settings: dict, workdir: Path,
                  runtime: RuntimeConfig, seed: int = 0) -> TrainJob:
    return TrainJob(
        run_id=f"benchmark-{seed}",
        model=config,
        objective=NextTokenObjective("skip"),
        tokens=tokens,
        reference_bits=uniform_reference_bits(tokens.shape[1] - 1, config.vocab_size),
        train=TrainConfig(**settings),
        seed=seed,
        model_dir=workdir / "model",
        curve_path=None,  # not read: the trainer then needs no polars
        checkpoint_dir=workdir / "checkpoint",
        runtime=runtime,
    )


def trainer_run(config: GPTConfig, tokens, settings: dict, workdir: Path,
                runtime: RuntimeConfig) -> dict:
    """One run of the project's trainer; returns its summary as a dict."""
    return vars(benchmark_job(config, tokens, settings, workdir, runtime).run())


def synchronize(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def plain_loop(config: GPTConfig, tokens, steps: int, batch_size: int, max_lr: float,
               one_cycle: bool, seconds: float | None = None, *, device: str = "cpu",
               bf16: bool = False, warmup: int = 0) -> dict:
    """The baseline: GPT2LMHeadModel, AdamW, labels=input_ids, gradient clipping; bf16
    autocast where asked. Time and tokens leave out the first ``warmup`` steps."""
    from transformers import GPT2LMHeadModel

    torch.manual_seed(0)
    model = GPT2LMHeadModel(config.to_hf()).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=max_lr)
    schedule = (torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=max_lr, total_steps=steps)
                if one_cycle else None)
    data = torch.as_tensor(tokens, dtype=torch.long, device=device)
    generator = torch.Generator().manual_seed(0)
    started = time.perf_counter()
    step = 0
    for step in range(steps):  # noqa: B007 (the count is reported)
        if step == warmup and warmup:
            synchronize(device)
            started = time.perf_counter()
        batch = data[torch.randint(len(data), (batch_size,), generator=generator).to(device)]
        with torch.autocast(device, torch.bfloat16, enabled=bf16):
            loss = model(input_ids=batch, labels=batch).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if schedule:
            schedule.step()
        if seconds is not None and time.perf_counter() - started > seconds:
            break
    synchronize(device)
    elapsed = time.perf_counter() - started
    timed = step + 1 - min(warmup, step)
    return {"model": model, "steps": step + 1, "seconds": elapsed,
            "tokens_per_second": timed * batch_size * data.shape[1] / elapsed}


class StepTimes:
    """A trainer ``on_progress`` callback stamping the end of each step of ``members``
    models trained together (the trainer reports one unit per model and step)."""

    def __init__(self, members: int = 1):
        self.members, self.units, self.stamps = members, 0, []

    def __call__(self, units: int) -> None:
        self.units += units
        while len(self.stamps) < self.units // self.members:
            self.stamps.append(time.perf_counter())

    def seconds_per_step(self, warmup: int) -> float:
        """Mean time of the steps after the first ``warmup`` (at least one is left out)."""
        first = max(1, warmup)
        if len(self.stamps) < first + 2:
            raise ValueError(f"{len(self.stamps)} steps stamped: too few to time after "
                             f"{first} warm-up steps")
        return (self.stamps[-1] - self.stamps[first - 1]) / (len(self.stamps) - first)


def timed_training(jobs: Sequence[TrainJob], warmup: int) -> dict:
    """Trains ``jobs`` in one run of the trainer (a stack when there are several) and times
    its steps after ``warmup``. ``startup_seconds``: training time beyond the steady rate
    (compilation, autotuning, first allocations)."""
    device = resolve_device(jobs[0].runtime.device)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    timer = StepTimes(len(jobs))
    started = time.perf_counter()
    summaries = Trainer(list(jobs), timer).run()
    wall = time.perf_counter() - started
    per_step = timer.seconds_per_step(warmup)
    lead = summaries[0]
    batch = min(jobs[0].train.batch_size, len(jobs[0].tokens))
    return {
        "models": len(jobs), "batch": batch, "steps": lead.steps,
        "precision": lead.precision, "device": lead.device,
        "seconds_per_step": per_step,
        "tokens_per_second": len(jobs) * batch * jobs[0].tokens.shape[1] / per_step,
        "startup_seconds": max(0.0, lead.train_seconds - lead.steps * per_step),
        "wall_seconds": wall,
        "peak_memory_bytes": torch.cuda.max_memory_allocated() if device == "cuda" else None,
    }


def machine() -> str:
    return platform.processor() or platform.machine()
