"""The one training loop: one model, or several of one shape together, on a step count or a
wall-clock budget, resumably, measuring memorization as it goes.

The trainer is objective-agnostic: the job's model spec builds the model and the job's
objective (:mod:`pipeline.core.objectives`) computes the loss and each sequence's code length.
AdamW (fused where the device supports it), warmup and cosine decay on the run's clock
(:mod:`pipeline.core.schedule`: steps, or ``train.budget_seconds`` of training time),
gradient clipping, fp32 or bf16 autocast. Several jobs of one shape and settings train as one
stack (:mod:`pipeline.core.model_stack`); each keeps its own data order, evaluations, early
stop, checkpoint and folder, so a stacked run's folder and checkpoint are interchangeable
with a single run's.

Every ``checkpoint_every`` steps the full state (weights, optimizer, data order, curve) is
saved, so a killed run resumes where it stopped and ends exactly where an uninterrupted one
would. Model folders and checkpoints are sealed with checksums
(:mod:`pipeline.core.integrity`): a run is skipped, or resumed, only from bytes that verify.
A loss or gradient norm that is not finite stops the run with the step and what to change.

A model's fingerprint names :data:`NUMERICS_VERSION`, not this file's source: moving or
editing code retrains nothing, while a change of what the loop computes (initialization,
schedule, loss, optimizer) must bump the version, which ``tests/core/test_golden.py`` enforces
by training a tiny model and comparing it with recorded weights.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import shutil
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

from pipeline.core.config import RuntimeConfig, TrainConfig
from pipeline.core.device import resolve_device, resolve_precision
from pipeline.core.integrity import (
    NonFiniteError,
    is_intact,
    remove_temporaries,
    remove_temporaries_of,
    require_finite,
    seal,
)
from pipeline.core.io import atomic_path, read_json, write_csv
from pipeline.core.model_stack import ModelStack, SingleModel, StackedModels, make_optimizer
from pipeline.core.objectives import Objective
from pipeline.core.schedule import clock_for
from pipeline.core.scoring import unintended_memorization

log = logging.getLogger(__name__)

# What every trained model's fingerprint says about the code that made it. Bump it (and the
# golden weights, tests/core/golden/) when a change alters trained weights beyond rounding.
NUMERICS_VERSION = "1"
TRAINING_FILE = "training.json"
CHECKPOINT_FILE = "last.pt"


class ModelSpec(Protocol):
    """A frozen dataclass describing a model; ``build()`` makes it, untrained. The model
    must offer ``save_pretrained(directory, extra_files=...)``. A spec that names other
    model folders by path also offers ``portable()``: the spec without paths, citing those
    folders by fingerprint, so moving the project changes no fingerprint."""

    def build(self) -> torch.nn.Module: ...


@dataclass(frozen=True)
class TrainJob:
    """Everything that determines one trained model, plus where and how it is made."""

    run_id: str
    model: ModelSpec
    objective: Objective
    tokens: np.ndarray = field(repr=False, compare=False)
    reference_bits: float | np.ndarray = field(repr=False, compare=False)
    train: TrainConfig
    seed: int
    model_dir: Path
    curve_path: Path | None  # None: no curve file (a benchmark's run; no polars needed)
    checkpoint_dir: Path
    data_fingerprint: str = ""
    runtime: RuntimeConfig = field(default=RuntimeConfig(), compare=False)
    cost_weight: float = field(default=1.0, compare=False)  # work per step, for scheduling

    @property
    def id(self) -> str:
        return self.run_id

    @property
    def size(self) -> int:
        """Units of progress the job reports: optimizer steps (or budget in steps)."""
        return self.train.steps

    @property
    def cost(self) -> float:
        """Relative work, for longest-first scheduling."""
        return self.train.steps * self.cost_weight

    @property
    def precision(self) -> str:
        return resolve_precision(self.runtime.precision, resolve_device(self.runtime.device))

    @property
    def fingerprint(self) -> str:
        """Hash of what determines the trained weights: model, objective, training settings,
        seed, data, precision and the numerics version. Where and how fast the weights are
        made (workers, threads, stacking, micro-batches) changes them only by rounding and
        does not enter."""
        spec = self.model.portable() if hasattr(self.model, "portable") else self.model
        content = {
            "model": [type(spec).__name__, asdict(spec)],
            "objective": [type(self.objective).__name__, asdict(self.objective)],
            "train": self.train.model_dump(),
            "seed": self.seed,
            "data": self.data_fingerprint,
            "precision": self.precision,
            "numerics": NUMERICS_VERSION,
        }
        return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]

    def is_done(self) -> bool:
        """True when ``model_dir`` holds a model trained with exactly these settings, whose
        files still match their checksums (a damaged one is retrained, with a warning)."""
        path = self.model_dir / TRAINING_FILE
        if not path.is_file() or (self.curve_path is not None
                                  and not self.curve_path.is_file()):
            return False
        try:
            if read_json(path).get("fingerprint") != self.fingerprint:
                return False
        except Exception:
            return False
        return is_intact(self.model_dir, f"run {self.run_id}")

    def run(self, on_progress: Callable[[int], None] | None = None) -> TrainSummary:
        return Trainer([self], on_progress).run()[0]


@dataclass
class TrainSummary:
    run_id: str
    steps: int
    final_loss: float
    memorized_bits: float
    dataset_bits: float
    converged: bool
    fully_memorized: bool
    resumed_from_step: int
    wall_seconds: float  # the whole run's, summed over resumed sessions
    tokens_per_second: float  # training tokens per second, evaluation time excluded
    device: str
    precision: str
    fingerprint: str
    train_seconds: float = 0.0  # training time, evaluations and checkpoints excluded
    budget_seconds: float | None = None

    def __str__(self) -> str:
        return (f"{self.run_id}: {self.steps:,} steps, {self.memorized_bits:,.0f} of "
                f"{self.dataset_bits:,.0f} bits memorized, {self.wall_seconds:.1f} s")


@dataclass
class RunState:
    """What a run has done so far; a checkpoint carries it (as a plain dict)."""

    perm: torch.Tensor  # this epoch's order of the training sequences
    step: int = 0
    cursor: int = 0
    curve: list[dict] = field(default_factory=list)
    loss_sum: float = 0.0
    loss_count: int = 0
    seconds: float = 0.0
    train_seconds: float = 0.0
    trained_tokens: int = 0
    evaluations_done: int = 0  # evaluation points passed on a budget's clock
    last_lr: float | None = None

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def is_converged(curve: list[dict], dataset_bits: float, config: TrainConfig) -> tuple[bool, bool]:
    """(converged, fully memorized): has memorization stopped rising over the last window?"""
    final = curve[-1]["memorized_bits"]
    full = final >= config.convergence.full_fraction * dataset_bits
    window_start = curve[-1]["step"] * (1.0 - config.convergence.window)
    earlier = [row["memorized_bits"] for row in curve if row["step"] <= window_start]
    if full:
        return True, True
    if not earlier or final <= 0:
        return False, False
    return (final - earlier[-1]) <= config.convergence.tolerance * final, False


def stack_key(job: TrainJob) -> tuple:
    """Jobs with equal keys can train as one stack: same model, objective, training settings,
    precision and batch shape (a dataset smaller than the batch makes a smaller batch)."""
    batch = min(job.train.batch_size, len(job.tokens))
    return (type(job.model).__name__, repr(job.model), repr(job.objective),
            job.train.model_dump_json(), job.precision, batch, job.tokens.shape[1:])


@dataclass
class _Member:
    """One job inside a run of the loop: its data, order, state and progress."""

    job: TrainJob
    data: torch.Tensor
    rng: torch.Generator
    state: RunState
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    dataset_bits: float
    resumed_from: int = 0
    reported: int = 0


class Trainer:
    """Trains ``jobs`` (one :func:`stack_key`) together; writes each one's Hugging Face
    folder and training curve, and returns their summaries in the jobs' order."""

    def __init__(self, jobs: Sequence[TrainJob],
                 on_progress: Callable[[int], None] | None = None):
        if len({stack_key(job) for job in jobs}) != 1:
            raise ValueError(f"jobs {[j.id for j in jobs]} differ in model, objective, "
                             "training settings, precision or batch shape: they cannot be "
                             "trained together")
        lead = jobs[0]
        self.jobs, self.config, self.runtime = list(jobs), lead.train, lead.runtime
        self.device = resolve_device(self.runtime.device)
        self.precision = lead.precision
        self.autocast_dtype = torch.bfloat16 if self.precision == "bf16" else None
        self.on_progress = on_progress or (lambda units: None)
        self.clock = clock_for(self.config)
        self.paused = 0.0  # evaluation and checkpoint seconds: not training time

    # --- the loop ------------------------------------------------------------------------
    def run(self) -> list[TrainSummary]:
        members = self._start()
        stack = self._stack(members)
        self._mark = (time.perf_counter(), self.paused, members[0].state.step)
        summaries: dict[str, TrainSummary] = {}
        active = list(members)
        while active and not self.clock.done(active[0].state.step, self._spent(active[0])):
            self._step(stack, active)
            finished = self._after_step(stack, active)
            for position in sorted(finished, reverse=True):
                member = active.pop(position)
                summaries[member.job.id] = self._finish(member, stack.member(position))
            if finished:
                stack.drop(finished)
        self._account(active)
        for position, member in enumerate(active):
            summaries[member.job.id] = self._finish(member, stack.member(position))
        return [summaries[job.id] for job in self.jobs]

    def _step(self, stack: ModelStack, active: list[_Member]) -> None:
        """One optimizer step of every active member on its next batch."""
        lead = active[0]
        lr = self.clock.rate(lead.state.step, self._spent(lead))
        batch = torch.stack([m.data[self._next_batch(m)] for m in active])
        micro = min(self.runtime.micro_batch_size or batch.shape[1], batch.shape[1])
        stack.zero_grad()
        batch_loss = torch.zeros(len(active), dtype=torch.float64)
        for chunk in batch.split(micro, dim=1):
            with self._attention_kernels(), torch.autocast(
                    self.device, torch.bfloat16, enabled=self.precision == "bf16"):
                chunk_loss = stack.losses(chunk)
            # Every sequence has the same number of targets: weighting chunk means by their
            # share of the batch gives the mean over the whole batch.
            loss = chunk_loss * (chunk.shape[1] / batch.shape[1])
            loss.sum().backward()
            batch_loss += loss.detach().double().cpu()
        norms = stack.clip(self.config.grad_clip)
        for position, member in enumerate(active):
            self._check_finite(member, float(batch_loss[position]), float(norms[position]))
        stack.step(lr)
        for position, member in enumerate(active):
            state = member.state
            state.step += 1
            state.loss_sum += float(batch_loss[position])
            state.loss_count += 1
            state.last_lr = lr

    def _attention_kernels(self):
        """bf16 on a CPU: the math attention kernel. CPU flash attention's bf16 backward took
        56–58% of a 1×32 step (V 2048, S 64), 12× its fp32 time, making bf16 2–3× slower than
        fp32; with the math kernel bf16 costs what fp32 does (docs/capacity.md §5). Kernels
        differ only by float rounding, as threads do, so no fingerprint changes."""
        if self.device == "cpu" and self.precision == "bf16":
            return sdpa_kernel(SDPBackend.MATH)
        return nullcontext()

    def _after_step(self, stack: ModelStack, active: list[_Member]) -> list[int]:
        """Evaluations, early stops and checkpoints due after a step; returns the positions
        of the members that are done."""
        lead = active[0].state
        spent = self._spent(active[0])
        for member in active:
            self._report(member, spent)
        due = self.clock.evaluate_now(lead.step, spent, lead.evaluations_done)
        finished = []
        if due:
            for position, member in enumerate(active):
                member.state.evaluations_done += due
                memorized = self._evaluate(member, stack.member(position))
                full = memorized >= self.config.convergence.full_fraction * member.dataset_bits
                if self.config.early_stop and full:
                    log.info("%s: fully memorized at step %d, stopping early", member.job.id,
                             member.state.step)
                    finished.append(position)
        if finished:
            self._account(active)
        if lead.step % self.runtime.checkpoint_every == 0 and not self.clock.done(lead.step,
                                                                                    spent):
            self._account(active)
            started = time.perf_counter()
            for position, member in enumerate(active):
                if position not in finished:
                    self._save_checkpoint(member, stack, position)
            self.paused += time.perf_counter() - started  # saving is not training
        return finished

    # --- starting: build, resume, stack ---------------------------------------------------
    def _start(self) -> list[_Member]:
        """Each member's model, optimizer and data order, resumed from its checkpoint when
        every member has one at the same step, from scratch otherwise."""
        members = [self._fresh(job) for job in self.jobs]
        resumed = [self._resume(member) for member in members]
        if len(set(resumed)) != 1:
            log.warning("%s: checkpoints at different steps (%s); starting over",
                        self.jobs[0].run_id, resumed)
            members = [self._fresh(job) for job in self.jobs]
        for member in members:
            self._report(member, self._spent(member, fresh_mark=True))
            if member.resumed_from == 0:
                self._evaluate(member, member.model)
        return members

    def _fresh(self, job: TrainJob) -> _Member:
        torch.manual_seed(job.seed)
        model = job.model.build().to(self.device)
        optimizer = make_optimizer(model.parameters(), self.config, self.device)
        data = torch.as_tensor(job.tokens, dtype=torch.long, device=self.device)
        rng = torch.Generator().manual_seed(job.seed + 1)
        state = RunState(perm=torch.randperm(len(data), generator=rng))
        # A killed save or checkpoint leaves temporaries; none may end up in an output.
        remove_temporaries(job.checkpoint_dir)
        remove_temporaries_of(job.model_dir)
        bits = float(np.sum(np.broadcast_to(job.reference_bits, len(data))))
        model.train()
        return _Member(job, data, rng, state, model, optimizer, bits)

    def _stack(self, members: list[_Member]) -> ModelStack:
        if len(members) == 1:
            member = members[0]
            return SingleModel(member.model, member.optimizer, member.job.objective,
                               self.runtime.compile)
        return StackedModels([m.model for m in members], [m.optimizer for m in members],
                             members[0].job.objective, self.config, self.device,
                             self.runtime.compile)

    def _resume(self, member: _Member) -> int:
        job = member.job
        path = job.checkpoint_dir / CHECKPOINT_FILE
        if not path.is_file() or not is_intact(job.checkpoint_dir,
                                               f"run {job.run_id}'s checkpoint"):
            return 0
        try:
            # weights_only: a checkpoint is data, never code to unpickle.
            payload = torch.load(path, map_location=self.device, weights_only=True)
        except Exception as error:  # a corrupt checkpoint costs a restart, not the run
            log.warning("%s: unreadable checkpoint (%s); starting over", path, error)
            return 0
        if payload.get("fingerprint") != job.fingerprint:
            log.info("%s: checkpoint is for other settings; starting over", path)
            return 0
        member.model.load_state_dict(payload["model"])
        member.optimizer.load_state_dict(payload["optimizer"])
        member.rng.set_state(payload["rng"])
        torch.set_rng_state(payload["torch_rng"])
        member.state = RunState(**payload["state"])
        member.resumed_from = member.state.step
        log.info("%s: resuming from step %d", job.run_id, member.state.step)
        return member.state.step

    # --- per member ----------------------------------------------------------------------
    def _next_batch(self, member: _Member) -> torch.Tensor:
        """The next batch of a shuffled pass over the data; reshuffles after each epoch."""
        state, batch_size = member.state, min(self.config.batch_size, len(member.data))
        if state.cursor + batch_size > len(state.perm):
            state.perm, state.cursor = torch.randperm(len(state.perm), generator=member.rng), 0
        idx = state.perm[state.cursor: state.cursor + batch_size]
        state.cursor += batch_size
        return idx.to(self.device)

    def _evaluate(self, member: _Member, model: torch.nn.Module) -> float:
        started = time.perf_counter()
        job, state = member.job, member.state
        nll = job.objective.sequence_bits(model, job.tokens, device=self.device,
                                          autocast_dtype=self.autocast_dtype)
        require_finite(nll, f"{job.run_id}: per-sequence code lengths at step {state.step}",
                       "the model diverged; lower the track's train.lr")
        memorized = float(unintended_memorization(nll, job.reference_bits).sum())
        mean_loss = state.loss_sum / state.loss_count if state.loss_count else math.nan
        lr = state.last_lr if state.last_lr is not None else self.clock.rate(0, 0.0)
        state.curve.append({"step": state.step, "loss": mean_loss,
                            "nll_bits_per_sequence": float(nll.mean()),
                            "memorized_bits": memorized, "lr": lr})
        state.loss_sum, state.loss_count = 0.0, 0
        self.paused += time.perf_counter() - started
        return memorized

    def _check_finite(self, member: _Member, loss: float, grad_norm: float) -> None:
        if math.isfinite(loss) and math.isfinite(grad_norm):
            return
        raise NonFiniteError(
            f"{member.job.run_id}: training diverged at step {member.state.step + 1}: loss "
            f"{loss}, gradient norm {grad_norm}; lower the track's train.lr (now "
            f"{self.config.lr}) or raise train.warmup_fraction (now "
            f"{self.config.warmup_fraction})"
            + ("; or set runtime.precision: fp32" if self.precision == "bf16" else ""))

    def _save_checkpoint(self, member: _Member, stack: ModelStack, position: int) -> None:
        job = member.job
        payload = {"fingerprint": job.fingerprint,
                   "model": stack.member(position).state_dict(),
                   "optimizer": stack.optimizer_state(position),
                   "rng": member.rng.get_state(), "torch_rng": torch.get_rng_state(),
                   "state": member.state.as_dict()}
        with atomic_path(job.checkpoint_dir / CHECKPOINT_FILE) as tmp:
            torch.save(payload, tmp)
        seal(job.checkpoint_dir)

    def _finish(self, member: _Member, model: torch.nn.Module) -> TrainSummary:
        """The curve, then the model folder with ``training.json``, sealed; the checkpoint
        goes."""
        job, state = member.job, member.state
        if state.curve[-1]["step"] != state.step:
            self._evaluate(member, model)
        self._account([member])
        self._report(member, None)
        converged, full = is_converged(state.curve, member.dataset_bits, self.config)
        summary = TrainSummary(
            run_id=job.run_id, steps=state.step, final_loss=state.curve[-1]["loss"],
            memorized_bits=state.curve[-1]["memorized_bits"], dataset_bits=member.dataset_bits,
            converged=converged, fully_memorized=full, resumed_from_step=member.resumed_from,
            wall_seconds=round(state.seconds, 3),
            tokens_per_second=round(state.trained_tokens / max(state.train_seconds, 1e-9), 1),
            device=self.device, precision=self.precision, fingerprint=job.fingerprint,
            train_seconds=round(state.train_seconds, 3), budget_seconds=self.config.budget_seconds)
        if job.curve_path is not None:
            import polars as pl  # here only: the trainer runs where polars is not installed

            write_csv(pl.DataFrame(state.curve), job.curve_path)
        model.cpu().save_pretrained(job.model_dir, extra_files={TRAINING_FILE: asdict(summary)})
        model.to(self.device)
        seal(job.model_dir)
        shutil.rmtree(job.checkpoint_dir, ignore_errors=True)
        log.info("%s; converged=%s", summary, converged)
        return summary

    # --- time and progress ----------------------------------------------------------------
    def _spent(self, member: _Member, fresh_mark: bool = False) -> float:
        """Training seconds the run has spent, this session's included."""
        if fresh_mark:
            return member.state.train_seconds
        since, paused_since, _ = self._mark
        return member.state.train_seconds + (time.perf_counter() - since) \
            - (self.paused - paused_since)

    def _account(self, members: list[_Member]) -> None:
        """Add the wall and training time (and tokens) since the last call to the members'
        totals, which checkpoints carry: a resumed run reports the whole run's."""
        now = time.perf_counter()
        since, paused_since, step_since = self._mark
        for member in members:
            state = member.state
            batch = min(self.config.batch_size, len(member.data))
            state.seconds += now - since
            state.train_seconds += (now - since) - (self.paused - paused_since)
            state.trained_tokens += (state.step - step_since) * batch * member.data.shape[1]
        self._mark = (now, self.paused, members[0].state.step if members else step_since)

    def _report(self, member: _Member, spent: float | None) -> None:
        """Progress in units of ``train.steps``; ``spent`` None: the run is done (the bar
        fills whatever an early stop or a budget left)."""
        units = member.job.size if spent is None else self.clock.progress_units(
            member.state.step, spent)
        if units > member.reported:
            self.on_progress(units - member.reported)
            member.reported = units


def train_model(job: TrainJob, on_progress: Callable[[int], None] | None = None) -> TrainSummary:
    return job.run(on_progress)
