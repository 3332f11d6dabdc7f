"""Train one model on one token dataset, resumably, tracking memorization as it goes.

The trainer is objective-agnostic: the job's model config builds the model, and the job's
objective (:mod:`pipeline.core.objectives`) computes the loss and each sequence's code
length. AdamW (fused where the device supports it) with linear warmup and cosine decay,
gradient clipping, fp32 or bf16 autocast, and the device chosen automatically. Every
``checkpoint_every`` steps the full state (weights, optimizer, data order, curve) is saved,
so a killed run resumes where it stopped and ends exactly where an uninterrupted one would.
Model folders and checkpoints are sealed with checksums (:mod:`pipeline.core.integrity`): a
run is skipped, or resumed, only from bytes that verify; anything else is redone. A loss or
gradient norm that is not finite stops the run with the step and what to change.
At ``eval_points`` steps the model scores its whole training set, giving the training curve
(loss and memorized bits against step) and the convergence judgement.

A :class:`TrainJob` is a job of :mod:`pipeline.core.jobs`: it carries everything it needs
(data, settings, absolute output paths), so any worker process, local or on a cluster with a
shared filesystem, can run it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import polars as pl
import torch

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
from pipeline.core.objectives import Objective
from pipeline.core.scoring import unintended_memorization

log = logging.getLogger(__name__)

TRAINING_FILE = "training.json"
# Code that determines trained weights: editing it retrains, just as `dvc repro` assumes.
_TRAINING_SOURCES = ("trainer.py", "model.py", "objectives.py", "fused_loss.py", "scoring.py",
                     "device.py")
CODE_VERSION = hashlib.sha256(
    b"".join((Path(__file__).parent / name).read_bytes() for name in _TRAINING_SOURCES)
).hexdigest()[:16]
CHECKPOINT_FILE = "last.pt"


class ModelSpec(Protocol):
    """A frozen dataclass describing a model; ``build()`` makes it, untrained. The model
    must offer ``save_pretrained(directory, extra_files=...)``."""

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
    curve_path: Path
    checkpoint_dir: Path
    data_fingerprint: str = ""
    runtime: RuntimeConfig = field(default=RuntimeConfig(), compare=False)

    @property
    def id(self) -> str:
        return self.run_id

    @property
    def size(self) -> int:
        """Units of progress the job reports: optimizer steps."""
        return self.train.steps

    @property
    def fingerprint(self) -> str:
        """Hash of what determines the trained weights. ``runtime`` (where and how fast they
        are made) is not a field of any part hashed here, so it cannot enter."""
        content = {
            "model": [type(self.model).__name__, asdict(self.model)],
            "objective": [type(self.objective).__name__, asdict(self.objective)],
            "train": self.train.model_dump(),
            "seed": self.seed,
            "data": self.data_fingerprint,
            "code": CODE_VERSION,
        }
        return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]

    def is_done(self) -> bool:
        """True when ``model_dir`` holds a model trained with exactly these settings, whose
        files still match their checksums (a damaged one is retrained, with a warning)."""
        path = self.model_dir / TRAINING_FILE
        if not path.is_file() or not self.curve_path.is_file():
            return False
        try:
            if read_json(path).get("fingerprint") != self.fingerprint:
                return False
        except Exception:
            return False
        return is_intact(self.model_dir, f"run {self.run_id}")

    def run(self, on_progress: Callable[[int], None] | None = None) -> TrainSummary:
        return Trainer(self, on_progress).run()


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


def learning_rate(step: int, config: TrainConfig) -> float:
    """Linear warmup to ``lr``, then cosine decay to ``min_lr_ratio · lr`` at the last step."""
    warmup = int(config.warmup_fraction * config.steps)
    if step < warmup:
        return config.lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, config.steps - warmup)
    cosine = 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
    return config.lr * (config.min_lr_ratio + (1.0 - config.min_lr_ratio) * cosine)


def eval_steps(config: TrainConfig) -> list[int]:
    """Steps (after that many updates) at which memorization is measured; includes the last."""
    points = np.linspace(0, config.steps, config.eval_points).round().astype(int)
    return sorted(set(points.tolist()))


def make_optimizer(model: torch.nn.Module, config: TrainConfig, device: str):
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    groups = [
        {"params": decay, "weight_decay": config.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(
        groups, lr=config.lr, betas=(config.beta1, config.beta2), fused=device in ("cpu", "cuda")
    )


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


class Trainer:
    """Trains ``job`` and writes its Hugging Face folder and training curve."""

    def __init__(self, job: TrainJob, on_steps: Callable[[int], None] | None = None):
        self.job = job
        self.config = job.train
        self.runtime = job.runtime
        self.device = resolve_device(self.runtime.device)
        self.precision = resolve_precision(self.runtime.precision, self.device)
        self.autocast_dtype = torch.bfloat16 if self.precision == "bf16" else None
        self.on_steps = on_steps or (lambda n: None)
        self.eval_seconds = 0.0

    def run(self) -> TrainSummary:
        job, config = self.job, self.config
        torch.manual_seed(job.seed)
        model = job.model.build().to(self.device)
        optimizer = make_optimizer(model, config, self.device)
        data = torch.as_tensor(job.tokens, dtype=torch.long, device=self.device)
        order_rng = torch.Generator().manual_seed(job.seed + 1)
        batch_size = min(config.batch_size, len(data))
        state = {"step": 0, "perm": torch.randperm(len(data), generator=order_rng), "cursor": 0,
                 "curve": [], "loss_sum": 0.0, "loss_count": 0, "seconds": 0.0,
                 "train_seconds": 0.0, "trained_tokens": 0}
        # A killed save or checkpoint leaves temporaries; none may end up in an output.
        remove_temporaries(job.checkpoint_dir)
        remove_temporaries_of(job.model_dir)
        resumed_from = self._resume(model, optimizer, order_rng, state)
        training_model = torch.compile(model) if self.runtime.compile else model
        dataset_bits = float(np.sum(np.broadcast_to(job.reference_bits, len(data))))
        every = self.runtime.checkpoint_every
        checkpoints = set(range(every, config.steps, every))
        evals = eval_steps(config)
        if resumed_from == 0 and 0 in evals:
            self._evaluate(model, state)
        self.eval_seconds = 0.0
        self._mark = (time.perf_counter(), 0.0, state["step"])

        micro_batch = min(self.runtime.micro_batch_size or batch_size, batch_size)
        model.train()
        while state["step"] < config.steps:
            idx = self._next_batch(state, batch_size, order_rng)
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(state["step"], config)
            optimizer.zero_grad(set_to_none=True)
            batch_loss = 0.0
            for chunk in idx.split(micro_batch):
                with torch.autocast(self.device, torch.bfloat16,
                                    enabled=self.precision == "bf16"):
                    chunk_loss = job.objective.loss(training_model, data[chunk])
                # Every sequence has the same number of targets: weighting chunk means by
                # their share of the batch gives the mean over the whole batch.
                loss = chunk_loss * (len(chunk) / len(idx))
                loss.backward()
                batch_loss += loss.item()
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            self._check_finite(state["step"], batch_loss, float(grad_norm))
            optimizer.step()
            state["step"] += 1
            state["loss_sum"] += batch_loss
            state["loss_count"] += 1
            self.on_steps(1)

            if state["step"] in evals:
                memorized = self._evaluate(model, state)
                full = memorized >= config.convergence.full_fraction * dataset_bits
                if config.early_stop and full:
                    log.info("%s: fully memorized at step %d, stopping early", job.run_id,
                             state["step"])
                    self.on_steps(config.steps - state["step"])
                    break
            if state["step"] in checkpoints:
                self._account_time(state)
                self._save_checkpoint(model, optimizer, order_rng, state)

        if state["curve"][-1]["step"] != state["step"]:
            self._evaluate(model, state)
        self._account_time(state)
        converged, full = is_converged(state["curve"], dataset_bits, config)
        summary = TrainSummary(
            run_id=job.run_id,
            steps=state["step"],
            final_loss=state["curve"][-1]["loss"],
            memorized_bits=state["curve"][-1]["memorized_bits"],
            dataset_bits=dataset_bits,
            converged=converged,
            fully_memorized=full,
            resumed_from_step=resumed_from,
            wall_seconds=round(state["seconds"], 3),
            tokens_per_second=round(state["trained_tokens"] / max(state["train_seconds"], 1e-9),
                                    1),
            device=self.device,
            precision=self.precision,
            fingerprint=job.fingerprint,
        )
        write_csv(pl.DataFrame(state["curve"]), job.curve_path)
        model.cpu().save_pretrained(job.model_dir, extra_files={TRAINING_FILE: asdict(summary)})
        seal(job.model_dir)
        shutil.rmtree(job.checkpoint_dir, ignore_errors=True)
        log.info("%s: %d steps, %.0f of %.0f bits memorized, converged=%s (%.1fs)", job.run_id,
                 summary.steps, summary.memorized_bits, dataset_bits, converged,
                 summary.wall_seconds)
        return summary

    def _check_finite(self, step: int, loss: float, grad_norm: float) -> None:
        if math.isfinite(loss) and math.isfinite(grad_norm):
            return
        raise NonFiniteError(
            f"{self.job.run_id}: training diverged at step {step + 1}: loss {loss}, gradient"
            f" norm {grad_norm}; lower the track's train.lr (now {self.config.lr}) or raise"
            f" train.warmup_fraction (now {self.config.warmup_fraction})"
            + ("; or set runtime.precision: fp32" if self.precision == "bf16" else ""))

    def _account_time(self, state: dict) -> None:
        """Add the wall and training time (and tokens) since the last call to the run's
        totals, which checkpoints carry: a resumed run reports the whole run's."""
        now = time.perf_counter()
        since, eval_since, step_since = self._mark
        state["seconds"] += now - since
        state["train_seconds"] += (now - since) - (self.eval_seconds - eval_since)
        batch_size = min(self.config.batch_size, len(self.job.tokens))
        state["trained_tokens"] += (state["step"] - step_since) * batch_size \
            * self.job.tokens.shape[1]
        self._mark = (now, self.eval_seconds, state["step"])

    def _next_batch(self, state: dict, batch_size: int, rng: torch.Generator) -> torch.Tensor:
        """The next batch of a shuffled pass over the data; reshuffles after each epoch."""
        if state["cursor"] + batch_size > len(state["perm"]):
            state["perm"], state["cursor"] = torch.randperm(len(state["perm"]), generator=rng), 0
        idx = state["perm"][state["cursor"] : state["cursor"] + batch_size]
        state["cursor"] += batch_size
        return idx.to(self.device)

    def _evaluate(self, model: torch.nn.Module, state: dict) -> float:
        started = time.perf_counter()
        nll = self.job.objective.sequence_bits(
            model, self.job.tokens, device=self.device, autocast_dtype=self.autocast_dtype,
        )
        require_finite(nll, f"{self.job.run_id}: per-sequence code lengths at step"
                       f" {state['step']}", "the model diverged; lower the track's train.lr")
        memorized = float(unintended_memorization(nll, self.job.reference_bits).sum())
        mean_loss = state["loss_sum"] / state["loss_count"] if state["loss_count"] else math.nan
        state["curve"].append({
            "step": state["step"],
            "loss": mean_loss,
            "nll_bits_per_sequence": float(nll.mean()),
            "memorized_bits": memorized,
            "lr": learning_rate(max(0, state["step"] - 1), self.config),
        })
        state["loss_sum"], state["loss_count"] = 0.0, 0
        self.eval_seconds += time.perf_counter() - started
        return memorized

    def _save_checkpoint(self, model, optimizer, rng: torch.Generator, state: dict) -> None:
        payload = {
            "fingerprint": self.job.fingerprint,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "rng": rng.get_state(),
            "torch_rng": torch.get_rng_state(),
            "state": state,
        }
        with atomic_path(self.job.checkpoint_dir / CHECKPOINT_FILE) as tmp:
            torch.save(payload, tmp)
        seal(self.job.checkpoint_dir)

    def _resume(self, model, optimizer, rng: torch.Generator, state: dict) -> int:
        path = self.job.checkpoint_dir / CHECKPOINT_FILE
        if not path.is_file():
            return 0
        if not is_intact(self.job.checkpoint_dir, f"run {self.job.run_id}'s checkpoint"):
            return 0
        try:
            # weights_only: a checkpoint is data, never code to unpickle.
            payload = torch.load(path, map_location=self.device, weights_only=True)
        except Exception as error:  # a corrupt checkpoint costs a restart, not the run
            log.warning("%s: unreadable checkpoint (%s); starting over", path, error)
            return 0
        if payload.get("fingerprint") != self.job.fingerprint:
            log.info("%s: checkpoint is for other settings; starting over", path)
            return 0
        model.load_state_dict(payload["model"])
        optimizer.load_state_dict(payload["optimizer"])
        rng.set_state(payload["rng"])
        torch.set_rng_state(payload["torch_rng"])
        state.update(payload["state"])
        log.info("%s: resuming from step %d", self.job.run_id, state["step"])
        self.on_steps(state["step"])
        return state["step"]


def train_model(job: TrainJob, on_steps: Callable[[int], None] | None = None) -> TrainSummary:
    return Trainer(job, on_steps).run()
