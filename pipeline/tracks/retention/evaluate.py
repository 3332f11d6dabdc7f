"""Scoring trained models on held-out and training sequences (stage retention_report).

A reconstruction model (autoencoder, probe) is scored on regenerating each sequence; a memory
model on three views of each sequence (:func:`pipeline.tracks.retention.objectives.views`): causal
(every token, and per chunk), copy and blank-copy (the second half).
"""

from __future__ import annotations

import numpy as np
import torch

from pipeline.tracks.retention.metrics import IGNORE, cross_entropy_bits, token_accuracy
from pipeline.tracks.retention.objectives import views


class Tally:
    """Running sums of correct tokens, scored tokens and bits."""

    def __init__(self):
        self.correct = self.scored = 0
        self.bits = 0.0

    def add(self, logits: torch.Tensor, targets: torch.Tensor) -> None:
        correct, scored = token_accuracy(logits, targets)
        bits, _ = cross_entropy_bits(logits, targets)
        self.correct += correct
        self.scored += scored
        self.bits += bits

    @property
    def accuracy(self) -> float:
        return self.correct / self.scored if self.scored else float("nan")

    @property
    def ce_bits(self) -> float:
        return self.bits / self.scored if self.scored else float("nan")


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
    return {"accuracy": tally.accuracy, "ce_bits": tally.ce_bits, "sequences": len(data)}


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
    }
    per_chunk = [{"chunk": c, "ce_bits": t.ce_bits, "accuracy": t.accuracy}
                 for c, t in enumerate(chunks)]
    return summary, per_chunk
