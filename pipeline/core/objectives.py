"""Training objectives: what the trainer minimizes, and how it measures a sequence's code length.

The trainer never computes a loss itself; it asks its job's objective. An objective is a
small frozen dataclass (its fields enter the job's fingerprint) with two methods:

* ``loss(model, batch)``: the mean training loss of a batch of token sequences ``[B, S]``;
* ``sequence_bits(model, tokens, ...)``: each sequence's code length in bits, the quantity
  memorization is measured in along training.

:class:`NextTokenObjective` is causal language modelling with the first-token convention of
docs/science.md §1; an autoencoder or an encoder-decoder memory model brings its own objective
(and model) without any change to the trainer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F

from pipeline.core.fused_loss import linear_cross_entropy
from pipeline.core.model import GPT
from pipeline.core.scoring import logits_of, model_inputs, sequence_nll_bits


class Objective(Protocol):
    def loss(self, model: torch.nn.Module, batch: torch.Tensor) -> torch.Tensor: ...

    def sequence_bits(
        self,
        model: torch.nn.Module,
        tokens: np.ndarray,
        *,
        device: str,
        autocast_dtype: torch.dtype | None,
    ) -> np.ndarray: ...


@dataclass(frozen=True)
class NextTokenObjective:
    """Next-token cross-entropy. ``skip``: predict tokens 2..S from 1..S−1; ``bos``: prepend
    the BOS id ``bos_id`` and predict all S tokens."""

    first_token: str = "skip"
    bos_id: int | None = None

    def __post_init__(self) -> None:
        if self.first_token not in ("skip", "bos"):
            raise ValueError(f"unknown first_token convention {self.first_token!r}")
        if self.first_token == "bos" and self.bos_id is None:
            raise ValueError("first_token='bos' needs a bos_id")

    def loss(self, model: torch.nn.Module, batch: torch.Tensor) -> torch.Tensor:
        inputs, targets = model_inputs(batch, self.first_token, self.bos_id)
        if isinstance(model, GPT) and torch.is_grad_enabled():
            # Our GPT exposes what its head reads, so the head's loss and gradients are
            # computed chunk by chunk without storing the logits (pipeline.core.fused_loss).
            hidden = model.hidden_states(inputs)
            return linear_cross_entropy(hidden.reshape(-1, hidden.shape[-1]),
                                        model.lm_head.weight, targets.reshape(-1))
        logits = logits_of(model, inputs)
        return F.cross_entropy(logits.float().view(-1, logits.shape[-1]), targets.reshape(-1))

    def sequence_bits(
        self,
        model: torch.nn.Module,
        tokens: np.ndarray,
        *,
        device: str = "cpu",
        autocast_dtype: torch.dtype | None = None,
    ) -> np.ndarray:
        return sequence_nll_bits(model, tokens, first_token=self.first_token,
                                 bos_id=self.bos_id, device=device,
                                 autocast_dtype=autocast_dtype)
