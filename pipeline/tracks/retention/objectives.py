"""The track's objectives for the core trainer (the Objective protocol of the core).

* :class:`ReconstructionObjective`: regenerate the whole input, all positions at once, from
  the model's one memory (autoencoders and retention decoders);
* :class:`MemoryObjective`: the memory models' objectives over chunks. Each is one or two
  *views* of a batch (inputs, targets, the positions scored):

  - causal: inputs = targets = the sequence, every position scored;
  - copy: the first half, then the first half again; the second half scored;
  - blank_copy: the first half, then blank tokens; targets the first half twice; the second
    half scored (it can only come from the memories);
  - combined: causal + ``combined_copy`` (copy or blank_copy), the two mean losses summed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

LN2 = math.log(2.0)
EVAL_BATCH = 256


@torch.inference_mode()
def _batched_bits(model, tokens: np.ndarray, device: str, autocast_dtype, per_batch) -> np.ndarray:
    was_training = model.training
    model.eval()
    data = torch.as_tensor(np.asarray(tokens, dtype=np.int64))
    out = np.empty(len(data), dtype=np.float64)
    for start in range(0, len(data), EVAL_BATCH):
        batch = data[start:start + EVAL_BATCH].to(device)
        with torch.autocast(torch.device(device).type, autocast_dtype,
                            enabled=autocast_dtype is not None):
            nats = per_batch(model, batch)
        out[start:start + len(batch)] = (nats / LN2).double().cpu().numpy()
    model.train(was_training)
    return out


@dataclass(frozen=True)
class ReconstructionObjective:
    """Cross-entropy of regenerating every input token from the model's memory."""

    def loss(self, model: torch.nn.Module, batch: torch.Tensor) -> torch.Tensor:
        logits = model(batch)
        return F.cross_entropy(logits.float().flatten(0, 1), batch.flatten())

    def sequence_bits(self, model, tokens, *, device="cpu", autocast_dtype=None) -> np.ndarray:
        def nats(model, batch):
            logits = model(batch).float()
            return F.cross_entropy(logits.transpose(1, 2), batch, reduction="none").sum(1)

        return _batched_bits(model, tokens, device, autocast_dtype, nats)


@dataclass(frozen=True)
class View:
    inputs: torch.Tensor
    targets: torch.Tensor
    start: int  # the scored positions are start..L−1: every objective scores a suffix

    @property
    def scored(self) -> torch.Tensor:
        """``[L]`` bool: the positions the view scores."""
        return torch.arange(self.inputs.shape[1], device=self.inputs.device) >= self.start

    @property
    def scored_targets(self) -> torch.Tensor:
        return self.targets[:, self.start:]


def views(kind: str, batch: torch.Tensor, blank_id: int,
          combined_copy: str = "blank_copy") -> list[View]:
    """The (inputs, targets, scored positions) an objective trains on, for a batch ``[B, L]``."""
    half = batch.shape[1] // 2
    if kind == "causal":
        return [View(batch, batch, 0)]
    first = batch[:, :half]
    doubled = torch.cat([first, first], dim=1)
    if kind == "copy":
        return [View(doubled, doubled, half)]
    if kind == "blank_copy":
        blanks = torch.full_like(first, blank_id)
        return [View(torch.cat([first, blanks], dim=1), doubled, half)]
    if kind == "combined":
        return views("causal", batch, blank_id) + views(combined_copy, batch, blank_id)
    raise ValueError(f"unknown memory objective {kind!r}")


DECODED_SHARE = {"causal": 1.0, "copy": 0.5, "blank_copy": 0.5}  # a copy view: second half


def decoded_share(kind: str, combined_copy: str = "blank_copy") -> float:
    """Chunks a memory model decodes per step, as a share of all, summed over the
    objective's views: what a step of ``kind`` costs beside a causal step."""
    if kind == "combined":
        return DECODED_SHARE["causal"] + DECODED_SHARE[combined_copy]
    return DECODED_SHARE[kind]


def scored_logits(model: torch.nn.Module, view: View) -> torch.Tensor:
    """The logits of the view's scored positions. The chunks before the first scored one are
    not decoded at all (a copy view scores only the second half: half the decoder's work)."""
    first_chunk = view.start // model.spec.chunk_len
    logits = model(view.inputs, first_chunk=first_chunk)
    return logits[:, view.start - first_chunk * model.spec.chunk_len:]


@dataclass(frozen=True)
class MemoryObjective:
    """A memory model's objective (``kind``: causal, copy, blank_copy or combined)."""

    kind: str
    blank_id: int
    combined_copy: str = "blank_copy"

    def loss(self, model: torch.nn.Module, batch: torch.Tensor) -> torch.Tensor:
        total = 0.0
        for view in views(self.kind, batch, self.blank_id, self.combined_copy):
            logits = scored_logits(model, view).float()
            total = total + F.cross_entropy(logits.flatten(0, 1),
                                            view.scored_targets.flatten())
        return total

    def sequence_bits(self, model, tokens, *, device="cpu", autocast_dtype=None) -> np.ndarray:
        def nats(model, batch):
            total = torch.zeros(len(batch), device=batch.device)
            for view in views(self.kind, batch, self.blank_id, self.combined_copy):
                logits = scored_logits(model, view).float()
                total += F.cross_entropy(logits.transpose(1, 2), view.scored_targets,
                                         reduction="none").sum(1)
            return total

        return _batched_bits(model, tokens, device, autocast_dtype, nats)
