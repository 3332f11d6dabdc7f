"""Scoring trained models on held-out and training sequences (stage retention_report).

A reconstruction model (autoencoder, probe) is scored on regenerating each sequence; a memory
model on three views of each sequence (:func:`pipeline.tracks.retention.objectives.views`): causal
(every token, and per chunk), copy and blank-copy (the second half).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from pipeline.tracks.retention.metrics import IGNORE, LN2
from pipeline.tracks.retention.objectives import views


class Tally:
    """Running sums of correct tokens, scored tokens and bits, kept per sequence too (the
    verdicts' bootstrap intervals resample sequences)."""

    def __init__(self):
        self.correct: list[np.ndarray] = []
        self.scored: list[np.ndarray] = []
        self.bits: list[np.ndarray] = []

    def add(self, logits: torch.Tensor, targets: torch.Tensor) -> None:
        scored = targets != IGNORE
        right = (logits.argmax(-1) == targets) & scored
        nats = F.cross_entropy(logits.float().flatten(0, -2), targets.flatten(),
                               ignore_index=IGNORE, reduction="none").view(targets.shape)
        rows = tuple(range(1, targets.dim()))
        self.correct.append(right.sum(dim=rows).numpy())
        self.scored.append(scored.sum(dim=rows).numpy())
        self.bits.append((nats.sum(dim=rows) / LN2).double().numpy())

    def _total(self, parts: list[np.ndarray]) -> float:
        return float(np.concatenate(parts).sum()) if parts else 0.0

    @property
    def accuracy(self) -> float:
        scored = self._total(self.scored)
        return self._total(self.correct) / scored if scored else float("nan")

    @property
    def ce_bits(self) -> float:
        scored = self._total(self.scored)
        return self._total(self.bits) / scored if scored else float("nan")

    def per_sequence(self, prefix: str) -> dict[str, list]:
        """Per-sequence correct tokens, scored tokens and bits (list columns)."""
        return {f"{prefix}seq_{name}": np.concatenate(parts).tolist() if parts else []
                for name, parts in (("correct", self.correct), ("scored", self.scored),
                                    ("bits", self.bits))}


@torch.inference_mode()
def evaluate_reconstruction(model: torch.nn.Module, tokens: np.ndarray,
                            batch_size: int) -> dict:
    """Token accuracy and cross-entropy (bits per token) of regenerating ``tokens``."""
    model.eval()
    tally = Tally()
    data = torch.as_tensor(tokens)
    for start in range(0, len(data), batch_size):
        batch = data[start:start + batch_size]
        tally.add(model(batch), batch)
    return {"accuracy": tally.accuracy, "ce_bits": tally.ce_bits, "sequences": len(data),
            **tally.per_sequence("")}


@torch.inference_mode()
def evaluate_memory(model: torch.nn.Module, tokens: np.ndarray, batch_size: int,
                    n_chunks: int, blank_id: int) -> tuple[dict, list[dict]]:
    """Causal loss and accuracy (overall and per chunk), copy and blank-copy accuracy."""
    model.eval()
    causal, copy, blank = Tally(), Tally(), Tally()
    chunks = [Tally() for _ in range(n_chunks)]
    data = torch.as_tensor(tokens)
    chunk_len = data.shape[1] // n_chunks
    for start in range(0, len(data), batch_size):
        batch = data[start:start + batch_size]
        for kind, tally in (("causal", causal), ("copy", copy), ("blank_copy", blank)):
            (view,) = views(kind, batch, blank_id)
            logits = model(view.inputs)
            targets = view.targets.masked_fill(~view.scored, IGNORE)
            tally.add(logits, targets)
            if kind == "causal":
                for c, chunk_tally in enumerate(chunks):
                    part = slice(c * chunk_len, (c + 1) * chunk_len)
                    chunk_tally.add(logits[:, part], targets[:, part])
    summary = {
        "causal_ce_bits": causal.ce_bits, "causal_accuracy": causal.accuracy,
        "copy_accuracy": copy.accuracy, "copy_ce_bits": copy.ce_bits,
        "blank_copy_accuracy": blank.accuracy, "blank_copy_ce_bits": blank.ce_bits,
        "sequences": len(data),
        **causal.per_sequence("causal_"), **copy.per_sequence("copy_"),
        **blank.per_sequence("blank_copy_"),
    }
    per_chunk = [{"chunk": c, "ce_bits": t.ce_bits, "accuracy": t.accuracy}
                 for c, t in enumerate(chunks)]
    return summary, per_chunk
