"""The models a training loop updates together: one model as it is, or K models of one shape
stacked along a new leading dimension and run as one.

A tiny model leaves most of a step to Python and kernel-launch overhead, so K such models
stacked (``torch.func.stack_module_state``) and run with ``vmap`` over ``functional_call``
share that overhead: one step trains all K. AdamW is elementwise, so one optimizer over the
stacked tensors is K independent ones; only gradient clipping mixes parameters, and it is done
per model. A stacked model ends where it would alone up to float rounding (batched matmuls sum
in another order); a single model takes exactly the operations a plain loop would.

Both kinds answer the loop the same way (:class:`ModelStack`): the K losses of a batch
``[K, B, S]``, clipping, a step, and each member's weights and optimizer state for its
evaluation and checkpoint. A member that finishes early leaves the stack.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from contextlib import nullcontext
from typing import Protocol

import torch
from torch.func import functional_call, stack_module_state, vmap
from torch.nn.attention import SDPBackend, sdpa_kernel

from pipeline.core.config import TrainConfig
from pipeline.core.objectives import Objective


class ModelStack(Protocol):
    def losses(self, batch: torch.Tensor) -> torch.Tensor: ...

    def clip(self, max_norm: float) -> torch.Tensor: ...

    def step(self, lr: float) -> None: ...

    def zero_grad(self) -> None: ...

    def member(self, position: int) -> torch.nn.Module: ...

    def optimizer_state(self, position: int) -> dict: ...

    def drop(self, positions: Sequence[int]) -> None: ...


def make_optimizer(params: Sequence[torch.Tensor], config: TrainConfig, device: str,
                   matrix_dims: int = 2) -> torch.optim.Optimizer:
    """AdamW; matrices (``matrix_dims`` dimensions or more) are decayed, vectors are not."""
    params = list(params)
    groups = [
        {"params": [p for p in params if p.dim() >= matrix_dims],
         "weight_decay": config.weight_decay},
        {"params": [p for p in params if p.dim() < matrix_dims], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=config.lr, betas=(config.beta1, config.beta2),
                             fused=device in ("cpu", "cuda"))


class _Optimized:
    """What both kinds do the same way: one optimizer over everything they train."""

    optimizer: torch.optim.Optimizer

    def step(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.optimizer.step()

    def zero_grad(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)


class SingleModel(_Optimized):
    """One model, trained exactly as a plain loop would train it."""

    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                 objective: Objective, compile_model: bool = False):
        self.model, self.optimizer, self.objective = model, optimizer, objective
        self.training_model = torch.compile(model) if compile_model else model

    def losses(self, batch: torch.Tensor) -> torch.Tensor:
        return self.objective.loss(self.training_model, batch[0]).reshape(1)

    def clip(self, max_norm: float) -> torch.Tensor:
        return torch.nn.utils.clip_grad_norm_(self.model.parameters(), max_norm).reshape(1)

    def member(self, position: int) -> torch.nn.Module:
        return self.model

    def optimizer_state(self, position: int) -> dict:
        return self.optimizer.state_dict()

    def drop(self, positions: Sequence[int]) -> None:
        """A single model leaves by ending the run; nothing to rearrange."""


class _Bound:
    """One slice of the stack as a callable model, for an objective's ``loss``."""

    def __init__(self, module: torch.nn.Module, params: dict, buffers: dict):
        self.module, self.params, self.buffers = module, params, buffers

    def __call__(self, *args):
        return functional_call(self.module, (self.params, self.buffers), args)


class StackedModels(_Optimized):
    """K models of one shape as one: stacked parameters, one AdamW, per-model clipping; with
    ``compile_model`` the batched loss (forward and backward) is ``torch.compile``d."""

    def __init__(self, models: list[torch.nn.Module], optimizers: list[torch.optim.Optimizer],
                 objective: Objective, config: TrainConfig, device: str,
                 compile_model: bool = False):
        self.models, self.objective, self.config, self.device = models, objective, config, device
        self.template = models[0]
        self.params, self.buffers = stack_module_state(models)
        self.optimizer = self._new_optimizer()
        self.optimizer.load_state_dict(self._merged_state(optimizers))
        # The first member's module only lends its structure (its own weights are never read),
        # so the batched loss is built once, and compiled once where asked: a member leaving
        # changes K, which recompiles for the new shape, not for another module.
        structure = models[0]

        def loss(params, buffers, tokens):
            return objective.loss(_Bound(structure, params, buffers), tokens)

        self._losses = vmap(loss)
        if compile_model:
            self._losses = torch.compile(self._losses)

    def _new_optimizer(self) -> torch.optim.Optimizer:
        # A single model's matrices are decayed, its vectors not; stacked, each has one more dim.
        stacked = [self.params[name] for name, _ in self.template.named_parameters()]
        return make_optimizer(stacked, self.config, self.device, matrix_dims=3)

    @staticmethod
    def _merged_state(optimizers: list[torch.optim.Optimizer]) -> dict:
        """The members' optimizer states stacked (same group order, so a member's slice of
        the result is that member's own state dict)."""
        states = [opt.state_dict() for opt in optimizers]
        merged = {"param_groups": states[0]["param_groups"], "state": {}}
        for index, first in states[0]["state"].items():
            merged["state"][index] = {
                key: (value if value.dim() == 0
                      else torch.stack([s["state"][index][key] for s in states]))
                for key, value in first.items()}
        return merged

    def losses(self, batch: torch.Tensor) -> torch.Tensor:
        """Each model's mean loss on its own batch: ``[K]`` from ``batch`` ``[K, B, S]``."""
        # CPU flash attention has no batching rule (vmap would loop over the models); the
        # math kernel is made of batchable operations, and measured faster here.
        kernels = sdpa_kernel(SDPBackend.MATH) if self.device == "cpu" else nullcontext()
        with warnings.catch_warnings(), kernels:
            warnings.filterwarnings("ignore", message=".*batching rule.*")
            return self._losses(self.params, self.buffers, batch)

    def clip(self, max_norm: float) -> torch.Tensor:
        """Clips each model's gradients to ``max_norm`` of its own global norm, as
        ``clip_grad_norm_`` does for one model; returns the norms before clipping."""
        grads = [p.grad for p in self.params.values() if p.grad is not None]
        norms = torch.stack([g.flatten(1).norm(dim=1) for g in grads], dim=1).norm(dim=1)
        scale = (max_norm / (norms + 1e-6)).clamp(max=1.0)
        for g in grads:
            g.mul_(scale.view(-1, *([1] * (g.dim() - 1))))
        return norms

    def member(self, position: int) -> torch.nn.Module:
        """The member's model, its weights copied out of the stack."""
        model = self.models[position]
        with torch.no_grad():
            for name, param in model.named_parameters():
                param.copy_(self.params[name][position])
            for name, buffer in model.named_buffers():
                buffer.copy_(self.buffers[name][position])
        return model

    def optimizer_state(self, position: int) -> dict:
        state = self.optimizer.state_dict()
        return {"param_groups": state["param_groups"],
                "state": {index: {key: (value.clone() if value.dim() == 0
                                        else value[position].clone())
                                  for key, value in entry.items()}
                          for index, entry in state["state"].items()}}

    def drop(self, positions: Sequence[int]) -> None:
        """The members at ``positions`` leave: their slices of the parameters and of the
        optimizer state go, so the others go on without computing them."""
        keep = [p for p in range(len(self.models)) if p not in positions]
        if not keep:
            self.models = []
            return
        index = torch.tensor(keep, device=self.device)
        state = self.optimizer.state_dict()
        self.params = {name: p.detach()[index].clone().requires_grad_(True)
                       for name, p in self.params.items()}
        self.buffers = {name: b[index].clone() for name, b in self.buffers.items()}
        self.models = [self.models[p] for p in keep]
        self.template = self.models[0]
        self.optimizer = self._new_optimizer()
        state["state"] = {i: {key: (value if value.dim() == 0 else value[index])
                              for key, value in entry.items()}
                          for i, entry in state["state"].items()}
        self.optimizer.load_state_dict(state)
