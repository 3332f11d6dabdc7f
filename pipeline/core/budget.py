"""Training for a wall-clock budget instead of a step count (``train.budget_seconds``).

A step count fixed in advance from a timing probe ends late when the machine gets busier
and early when it gets quieter, and either way the cosine schedule no longer ends when the
time does. Here the schedule's clock is the share of the budget spent training: warmup, the
cosine decay and the evaluations are laid out on ``elapsed / budget``, and the run ends when
the budget is spent, however many steps that took. Evaluation and checkpoint time is not
training time and does not count. The elapsed time travels in the checkpoint, so a resumed
run spends only what is left of the budget.

A budgeted run is not reproducible step for step (the steps done depend on the machine);
its ``training.json`` records the steps done, the budget and the training time spent.

The step-based :class:`~pipeline.core.trainer.Trainer` is reused for everything but the
loop, and left untouched: its source is part of every model's fingerprint.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from pipeline.core.config import TrainConfig
from pipeline.core.integrity import remove_temporaries, remove_temporaries_of
from pipeline.core.run_record import summary_fields, write_finished
from pipeline.core.trainer import (
    Trainer,
    TrainJob,
    TrainSummary,
    make_optimizer,
)

log = logging.getLogger(__name__)


def budget_learning_rate(fraction: float, config: TrainConfig) -> float:
    """Linear warmup over the first ``warmup_fraction`` of the budget, then cosine decay to
    ``min_lr_ratio · lr`` when the budget is spent; ``fraction`` is the share spent."""
    warmup = config.warmup_fraction
    if fraction < warmup:
        return config.lr * fraction / warmup
    progress = (fraction - warmup) / (1.0 - warmup)
    cosine = 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
    return config.lr * (config.min_lr_ratio + (1.0 - config.min_lr_ratio) * cosine)


def eval_fractions(config: TrainConfig) -> list[float]:
    """Shares of the budget at which memorization is measured; includes 0 and 1."""
    return np.linspace(0.0, 1.0, config.eval_points).tolist()


@dataclass
class BudgetSummary(TrainSummary):
    budget_seconds: float
    train_seconds: float  # training time spent, evaluations and checkpoints excluded


class BudgetTrainer(Trainer):
    """Trains ``job`` for ``job.train.budget_seconds`` of training time. Progress is reported
    in steps of ``train.steps`` scaled by the share of the budget spent, so a progress bar
    sized by ``job.size`` fills when the budget is spent."""

    def __init__(self, job: TrainJob, on_steps: Callable[[int], None] | None = None):
        super().__init__(job, on_steps)
        if not job.train.budget_seconds:
            raise ValueError(f"{job.run_id}: a budgeted run needs train.budget_seconds")
        self.budget = job.train.budget_seconds
        self.report = self.on_steps
        # The base class reports resumed steps through on_steps; progress here is in budget.
        self.on_steps = lambda n: None
        self.reported = 0
        self.lr = 0.0

    def run(self) -> BudgetSummary:
        job, config = self.job, self.config
        torch.manual_seed(job.seed)
        model = job.model.build().to(self.device)
        optimizer = make_optimizer(model, config, self.device)
        data = torch.as_tensor(job.tokens, dtype=torch.long, device=self.device)
        order_rng = torch.Generator().manual_seed(job.seed + 1)
        batch_size = min(config.batch_size, len(data))
        state = {"step": 0, "perm": torch.randperm(len(data), generator=order_rng), "cursor": 0,
                 "curve": [], "loss_sum": 0.0, "loss_count": 0, "seconds": 0.0,
                 "train_seconds": 0.0, "trained_tokens": 0, "evals_done": 0}
        remove_temporaries(job.checkpoint_dir)
        remove_temporaries_of(job.model_dir)
        resumed_from = self._resume(model, optimizer, order_rng, state)
        training_model = torch.compile(model) if self.runtime.compile else model
        dataset_bits = float(np.sum(np.broadcast_to(job.reference_bits, len(data))))
        every = self.runtime.checkpoint_every
        # The first point (0) is measured before training, the last (1) after it.
        midpoints = eval_fractions(config)[1:-1]
        if resumed_from == 0:
            self._evaluate(model, state)
        self.eval_seconds = 0.0
        self._mark = (time.perf_counter(), 0.0, state["step"])
        self._report_progress(self._spent(state))

        micro_batch = min(self.runtime.micro_batch_size or batch_size, batch_size)
        model.train()
        while (fraction := self._spent(state)) < 1.0:
            idx = self._next_batch(state, batch_size, order_rng)
            self.lr = budget_learning_rate(fraction, config)
            for group in optimizer.param_groups:
                group["lr"] = self.lr
            optimizer.zero_grad(set_to_none=True)
            batch_loss = 0.0
            for chunk in idx.split(micro_batch):
                with torch.autocast(self.device, torch.bfloat16,
                                    enabled=self.precision == "bf16"):
                    chunk_loss = job.objective.loss(training_model, data[chunk])
                loss = chunk_loss * (len(chunk) / len(idx))
                loss.backward()
                batch_loss += loss.item()
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            self._check_finite(state["step"], batch_loss, float(grad_norm))
            optimizer.step()
            state["step"] += 1
            state["loss_sum"] += batch_loss
            state["loss_count"] += 1
            fraction = self._spent(state)
            self._report_progress(fraction)

            due = state["evals_done"] < len(midpoints) \
                and fraction >= midpoints[state["evals_done"]]
            # A stall longer than an evaluation interval skips the points it jumped over.
            while state["evals_done"] < len(midpoints) \
                    and fraction >= midpoints[state["evals_done"]]:
                state["evals_done"] += 1
            if due:
                memorized = self._evaluate(model, state)
                full = memorized >= config.convergence.full_fraction * dataset_bits
                if config.early_stop and full:
                    log.info("%s: fully memorized at step %d (%.0f%% of the budget), stopping"
                             " early", job.run_id, state["step"], 100 * fraction)
                    break
            if state["step"] % every == 0:
                self._account_time(state)
                started = time.perf_counter()
                self._save_checkpoint(model, optimizer, order_rng, state)
                # Saving is not training: it must not eat the budget.
                self.eval_seconds += time.perf_counter() - started

        if config.steps > self.reported:
            self.report(config.steps - self.reported)
        if state["curve"][-1]["step"] != state["step"]:
            self._evaluate(model, state)
        self._account_time(state)
        summary = BudgetSummary(
            **summary_fields(job, state, dataset_bits, config, resumed_from, self.device,
                             self.precision),
            budget_seconds=self.budget,
            train_seconds=round(state["train_seconds"], 3),
        )
        write_finished(job, model, state["curve"], summary)
        log.info("%s: %d steps in %.1f of %.1f s, %.0f of %.0f bits memorized, converged=%s",
                 job.run_id, summary.steps, summary.train_seconds, self.budget,
                 summary.memorized_bits, dataset_bits, summary.converged)
        return summary

    def _spent(self, state: dict) -> float:
        """Share of the budget spent training so far, this session's time included."""
        since, eval_since, _ = self._mark
        now = time.perf_counter()
        seconds = state["train_seconds"] + (now - since) - (self.eval_seconds - eval_since)
        return seconds / self.budget

    def _report_progress(self, fraction: float) -> None:
        units = min(self.config.steps, int(fraction * self.config.steps))
        if units > self.reported:
            self.report(units - self.reported)
            self.reported = units

    def _evaluate(self, model: torch.nn.Module, state: dict) -> float:
        memorized = super()._evaluate(model, state)
        state["curve"][-1]["lr"] = self.lr  # the rate of the last step, as the base records
        return memorized


@dataclass(frozen=True)
class BudgetedTrainJob(TrainJob):
    """A :class:`TrainJob` whose ``train.budget_seconds`` is set: it runs a
    :class:`BudgetTrainer`."""

    def run(self, on_progress: Callable[[int], None] | None = None) -> BudgetSummary:
        return BudgetTrainer(self, on_progress).run()


def train_job(**fields) -> TrainJob:
    """A training job for these :class:`TrainJob` fields: budgeted when ``train`` sets a
    budget, step-based otherwise. Tracks make their jobs here, so a budget is never
    silently ignored."""
    budgeted = fields["train"].budget_seconds is not None
    return (BudgetedTrainJob if budgeted else TrainJob)(**fields)
