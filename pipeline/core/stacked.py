"""Many models of one shape trained together, in one batched forward and backward pass.

A grid trains the same shape on many datasets and seeds (the capacity track's N × seed
runs). A tiny model leaves most of a step to Python and kernel-launch overhead, so K such
models stacked along a new leading dimension (``torch.func.stack_module_state``) and run
with ``vmap`` over ``functional_call`` share that overhead: one step trains all K. AdamW is
elementwise, so one optimizer over the stacked tensors is K independent ones; only gradient
clipping mixes parameters, and it is done per model here. Each model keeps its own
initialization, data order, curve, early stop, checkpoint and Hugging Face folder, written
exactly as :class:`~pipeline.core.trainer.Trainer` writes them, so it ends where it would
alone up to float rounding (batched matmuls sum in another order) and its folder, curve and
checkpoint are interchangeable with a single run's: a stacked run resumes a single one's
checkpoint and the other way round.

A model that fully memorizes its data (``train.early_stop``) is saved at that step and
leaves the stack: its slices of the parameters and of the optimizer state are dropped, so
the others go on without computing it.

Stacking is a runtime choice (``runtime.stack_models``): it never changes a fingerprint.
It needs one model spec, objective and train config and one batch shape across the stack
(:func:`stack_key`); ``runtime.compile`` does not apply to it.
"""

from __future__ import annotations

import hashlib
import logging
import time
import warnings
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
import torch
from torch.func import functional_call, stack_module_state, vmap
from torch.nn.attention import SDPBackend, sdpa_kernel

from pipeline.core.integrity import remove_temporaries, remove_temporaries_of
from pipeline.core.run_record import summary_fields, write_finished
from pipeline.core.trainer import (
    Trainer,
    TrainJob,
    TrainSummary,
    eval_steps,
    learning_rate,
    make_optimizer,
)

log = logging.getLogger(__name__)


def stack_key(job: TrainJob) -> tuple:
    """Jobs with equal keys can be trained as one stack: same model, objective, training
    settings and batch shape (a dataset smaller than the batch makes a smaller batch)."""
    batch = min(job.train.batch_size, len(job.tokens))
    return (type(job.model).__name__, repr(job.model), repr(job.objective),
            job.train.model_dump_json(), batch, job.tokens.shape[1:])


def stack_jobs(jobs: Sequence[TrainJob]) -> list:
    """``jobs`` grouped into stacks (:class:`StackedTrainJob`) by :func:`stack_key`, in their
    order; a group of one stays a plain job. Budgeted jobs are never stacked: their
    schedule follows their own clock."""
    groups: dict[tuple, list[TrainJob]] = {}
    for job in jobs:
        key = ("alone", job.id) if job.train.budget_seconds is not None else stack_key(job)
        groups.setdefault(key, []).append(job)
    return [members[0] if len(members) == 1 else StackedTrainJob(tuple(members))
            for members in groups.values()]


@dataclass(frozen=True)
class StackedTrainJob:
    """A job of :mod:`pipeline.core.jobs` that trains its member jobs as one stack."""

    jobs: tuple[TrainJob, ...]

    @property
    def id(self) -> str:
        return f"{self.jobs[0].id}+{len(self.jobs) - 1}"

    @property
    def size(self) -> int:
        return sum(job.size for job in self.jobs)

    @property
    def fingerprint(self) -> str:
        joined = ",".join(job.fingerprint for job in self.jobs)
        return hashlib.sha256(joined.encode()).hexdigest()[:16]

    def is_done(self) -> bool:
        return all(job.is_done() for job in self.jobs)

    def run(self, on_progress: Callable[[int], None] | None = None) -> list[TrainSummary]:
        """Trains the members not yet done; returns their summaries."""
        todo = [job for job in self.jobs if not job.is_done()]
        if not todo:
            return []
        return StackedTrainer(todo, on_progress).run()


class _Bound:
    """One slice of the stack as a callable model, for an objective's ``loss``."""

    def __init__(self, module: torch.nn.Module, params: dict, buffers: dict):
        self.module, self.params, self.buffers = module, params, buffers

    def __call__(self, *args):
        return functional_call(self.module, (self.params, self.buffers), args)


class _StateDict:
    """Hands a prepared optimizer state dict to ``Trainer._save_checkpoint``."""

    def __init__(self, state: dict):
        self.state = state

    def state_dict(self) -> dict:
        return self.state


class StackedTrainer:
    """Trains ``jobs`` (one :func:`stack_key`) as one stack; each member's per-model work
    (batches, evaluation, checkpoint, resume) is done by a :class:`Trainer` of its own."""

    def __init__(self, jobs: Sequence[TrainJob], on_steps: Callable[[int], None] | None = None):
        keys = {stack_key(job) for job in jobs}
        if len(keys) != 1:
            raise ValueError(f"jobs {[j.id for j in jobs]} differ in model, objective, "
                             "training settings or batch shape: they cannot be stacked")
        self.jobs = list(jobs)
        self.on_steps = on_steps or (lambda n: None)
        self.members = [Trainer(job, self.on_steps) for job in self.jobs]
        lead = self.members[0]
        self.config, self.runtime = lead.config, lead.runtime
        self.device, self.precision = lead.device, lead.precision
        self.objective = self.jobs[0].objective
        self.eval_seconds = 0.0

    def run(self) -> list[TrainSummary]:
        config = self.config
        members = list(range(len(self.jobs)))
        models, optimizers, rngs, states, resumed = self._start()
        data = [torch.as_tensor(job.tokens, dtype=torch.long, device=self.device)
                for job in self.jobs]
        batch_size = min(config.batch_size, len(data[0]))
        bits = [float(np.sum(np.broadcast_to(job.reference_bits, len(d))))
                for job, d in zip(self.jobs, data, strict=True)]
        evals = eval_steps(config)
        for k in members:
            if resumed[k] == 0 and 0 in evals:
                self._evaluate(k, models[k], states[k])
        self.params, self.buffers = stack_module_state(models)
        self.optimizer = self._stacked_optimizer(models[0], optimizers)
        self.template = models[0]
        every = self.runtime.checkpoint_every
        checkpoints = set(range(every, config.steps, every))
        micro_batch = min(self.runtime.micro_batch_size or batch_size, batch_size)
        step = states[0]["step"]
        self.eval_seconds = 0.0
        self._mark = (time.perf_counter(), 0.0, step)
        summaries: dict[int, TrainSummary] = {}
        while step < config.steps and members:
            idx = [self.members[k]._next_batch(states[k], batch_size, rngs[k]) for k in members]
            batch = torch.stack([data[k][i] for k, i in zip(members, idx, strict=True)])
            for group in self.optimizer.param_groups:
                group["lr"] = learning_rate(step, config)
            self.optimizer.zero_grad(set_to_none=True)
            batch_loss = torch.zeros(len(members), dtype=torch.float64)
            for chunk in batch.split(micro_batch, dim=1):
                with torch.autocast(self.device, torch.bfloat16,
                                    enabled=self.precision == "bf16"):
                    chunk_loss = self._losses(chunk)
                loss = chunk_loss * (chunk.shape[1] / batch.shape[1])
                loss.sum().backward()
                batch_loss += loss.detach().double().cpu()
            grad_norms = self._clip_gradients(config.grad_clip)
            self._check_finite(members, step, batch_loss, grad_norms)
            self.optimizer.step()
            step += 1
            for position, k in enumerate(members):
                states[k]["step"] = step
                states[k]["loss_sum"] += float(batch_loss[position])
                states[k]["loss_count"] += 1
            self.on_steps(len(members))

            if step in evals:
                stopped = []
                for position, k in enumerate(members):
                    self._load_slice(position, models[k])
                    memorized = self._evaluate(k, models[k], states[k])
                    if config.early_stop and \
                            memorized >= config.convergence.full_fraction * bits[k]:
                        log.info("%s: fully memorized at step %d, stopping early",
                                 self.jobs[k].run_id, step)
                        stopped.append(position)
                if stopped:
                    self._account_time([states[k] for k in members], step)
                    for position in stopped:
                        k = members[position]
                        summaries[k] = self._finish(k, models[k], states[k], bits[k],
                                                    resumed[k])
                        self.on_steps(config.steps - step)
                    members = self._drop(members, stopped)
            if step in checkpoints:
                self._account_time([states[k] for k in members], step)
                started = time.perf_counter()
                for position, k in enumerate(members):
                    self._load_slice(position, models[k])
                    self.members[k]._save_checkpoint(
                        models[k], _StateDict(self._member_optimizer_state(position)),
                        rngs[k], states[k])
                # K saves in a row: not training time, or a stack's tokens/s would sag.
                self.eval_seconds += time.perf_counter() - started

        self._account_time([states[k] for k in members], step)
        for position, k in enumerate(members):
            self._load_slice(position, models[k])
            summaries[k] = self._finish(k, models[k], states[k], bits[k], resumed[k])
        return [summaries[k] for k in sorted(summaries)]

    def _start(self):
        """Each member's model, optimizer and data order, resumed from its checkpoint when
        every member has one at the same step, from scratch otherwise."""
        for attempt in ("resume", "fresh"):
            models, optimizers, rngs, states, resumed = [], [], [], [], []
            for job, member in zip(self.jobs, self.members, strict=True):
                torch.manual_seed(job.seed)
                model = job.model.build().to(self.device)
                optimizer = make_optimizer(model, self.config, self.device)
                rng = torch.Generator().manual_seed(job.seed + 1)
                state = {"step": 0, "perm": torch.randperm(len(job.tokens), generator=rng),
                         "cursor": 0, "curve": [], "loss_sum": 0.0, "loss_count": 0,
                         "seconds": 0.0, "train_seconds": 0.0, "trained_tokens": 0}
                remove_temporaries(job.checkpoint_dir)
                remove_temporaries_of(job.model_dir)
                if attempt == "resume":
                    # Silent here: progress is reported once the stack's step is known.
                    member.on_steps = lambda n: None
                    resumed.append(member._resume(model, optimizer, rng, state))
                    member.on_steps = self.on_steps
                else:
                    resumed.append(0)
                models.append(model)
                optimizers.append(optimizer)
                rngs.append(rng)
                states.append(state)
            if len(set(resumed)) == 1:
                self.on_steps(resumed[0] * len(self.jobs))
                return models, optimizers, rngs, states, resumed
            log.warning("%s: checkpoints at different steps (%s); starting the stack over",
                        self.jobs[0].run_id, resumed)
        raise AssertionError("unreachable")

    def _stacked_optimizer(self, template: torch.nn.Module,
                           optimizers: list[torch.optim.Optimizer]) -> torch.optim.Optimizer:
        """One AdamW over the stacked parameters, with the members' groups (same order, so
        a member's slice of its state dict is that member's own optimizer state dict) and
        their state stacked."""
        optimizer = self._new_optimizer(template)
        states = [opt.state_dict() for opt in optimizers]
        merged = {"param_groups": states[0]["param_groups"], "state": {}}
        for index, first in states[0]["state"].items():
            merged["state"][index] = {
                key: (value if value.dim() == 0
                      else torch.stack([s["state"][index][key] for s in states]))
                for key, value in first.items()}
        optimizer.load_state_dict(merged)
        return optimizer

    def _new_optimizer(self, template: torch.nn.Module) -> torch.optim.Optimizer:
        """AdamW over the stacked parameters with :func:`make_optimizer`'s groups: a single
        model's matrices are decayed, its vectors not (stacked, each has one more dim)."""
        stacked = [self.params[name] for name, _ in template.named_parameters()]
        config = self.config
        groups = [
            {"params": [p for p in stacked if p.dim() >= 3], "weight_decay": config.weight_decay},
            {"params": [p for p in stacked if p.dim() < 3], "weight_decay": 0.0},
        ]
        return torch.optim.AdamW(groups, lr=config.lr, betas=(config.beta1, config.beta2),
                                 fused=self.device in ("cpu", "cuda"))

    def _losses(self, batch: torch.Tensor) -> torch.Tensor:
        """Each model's mean loss on its own batch: ``[K]`` from ``batch`` ``[K, B, S]``."""
        def loss(params, buffers, tokens):
            return self.objective.loss(_Bound(self.template, params, buffers), tokens)

        # CPU flash attention has no batching rule (vmap would loop over the models); the
        # math kernel is made of batchable operations, and measured faster here.
        kernels = sdpa_kernel(SDPBackend.MATH) if self.device == "cpu" else nullcontext()
        with warnings.catch_warnings(), kernels:
            warnings.filterwarnings("ignore", message=".*batching rule.*")
            return vmap(loss)(self.params, self.buffers, batch)

    def _clip_gradients(self, max_norm: float) -> torch.Tensor:
        """Clips each model's gradients to ``max_norm`` of its own global norm, as
        ``clip_grad_norm_`` does for one model; returns the norms before clipping."""
        grads = [p.grad for p in self.params.values() if p.grad is not None]
        norms = torch.stack([g.flatten(1).norm(dim=1) for g in grads], dim=1).norm(dim=1)
        scale = (max_norm / (norms + 1e-6)).clamp(max=1.0)
        for g in grads:
            g.mul_(scale.view(-1, *([1] * (g.dim() - 1))))
        return norms

    def _check_finite(self, members: list[int], step: int, losses: torch.Tensor,
                      norms: torch.Tensor) -> None:
        for position, k in enumerate(members):
            self.members[k]._check_finite(step, float(losses[position]), float(norms[position]))

    def _load_slice(self, position: int, model: torch.nn.Module) -> None:
        with torch.no_grad():
            for name, param in model.named_parameters():
                param.copy_(self.params[name][position])
            for name, buffer in model.named_buffers():
                buffer.copy_(self.buffers[name][position])

    def _member_optimizer_state(self, position: int) -> dict:
        state = self.optimizer.state_dict()
        return {"param_groups": state["param_groups"],
                "state": {index: {key: (value.clone() if value.dim() == 0
                                        else value[position].clone())
                                  for key, value in entry.items()}
                          for index, entry in state["state"].items()}}

    def _drop(self, members: list[int], positions: list[int]) -> list[int]:
        """The members left once those at ``positions`` leave the stack."""
        keep = [p for p in range(len(members)) if p not in positions]
        if not keep:
            return []
        index = torch.tensor(keep, device=self.device)
        state = self.optimizer.state_dict()
        self.params = {name: p.detach()[index].clone().requires_grad_(True)
                       for name, p in self.params.items()}
        self.buffers = {name: b[index].clone() for name, b in self.buffers.items()}
        self.optimizer = self._new_optimizer(self.template)
        state["state"] = {i: {key: (value if value.dim() == 0 else value[index])
                              for key, value in entry.items()}
                          for i, entry in state["state"].items()}
        self.optimizer.load_state_dict(state)
        return [members[p] for p in keep]

    def _evaluate(self, k: int, model: torch.nn.Module, state: dict) -> float:
        started = time.perf_counter()
        memorized = self.members[k]._evaluate(model, state)
        self.eval_seconds += time.perf_counter() - started
        return memorized

    def _account_time(self, states: list[dict], step: int) -> None:
        """Adds the stack's time since the last call to each member's totals: a member's
        wall and training time are those of the stack it trained in."""
        now = time.perf_counter()
        since, eval_since, step_since = self._mark
        batch = min(self.config.batch_size, len(self.jobs[0].tokens))
        for state in states:
            state["seconds"] += now - since
            state["train_seconds"] += (now - since) - (self.eval_seconds - eval_since)
            state["trained_tokens"] += (step - step_since) * batch * self.jobs[0].tokens.shape[1]
        self._mark = (now, self.eval_seconds, step)

    def _finish(self, k: int, model: torch.nn.Module, state: dict, dataset_bits: float,
                resumed_from: int) -> TrainSummary:
        """Writes member ``k``'s curve and sealed model folder, as a single run would."""
        job, member = self.jobs[k], self.members[k]
        if state["curve"][-1]["step"] != state["step"]:
            self._evaluate(k, model, state)
        summary = TrainSummary(**summary_fields(job, state, dataset_bits, self.config,
                                                resumed_from, member.device, member.precision))
        write_finished(job, model, state["curve"], summary)
        model.to(self.device)
        log.info("%s: %d steps (stacked), %.0f of %.0f bits memorized, converged=%s",
                 job.run_id, summary.steps, summary.memorized_bits, dataset_bits,
                 summary.converged)
        return summary

