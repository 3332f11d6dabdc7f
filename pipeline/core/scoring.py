"""Per-sequence code lengths and unintended memorization (docs/science.md §1).

``NLL(x) = −log2 p(x)`` over the scored tokens and ``mem_U(x) = max(0, NLL_ref(x) − NLL(x))``;
on uniform synthetic data the reference is exact: ``NLL_ref(x) = n · log2 V``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

LN2 = math.log(2.0)


def model_inputs(
    tokens: torch.Tensor, first_token: str, bos_id: int | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and next-token targets for a batch ``[B, S]`` of sequences.

    ``skip``: predict tokens 2..S from tokens 1..S−1. ``bos``: predict all S tokens from
    ``[BOS, tokens 1..S−1]``.
    """
    if first_token == "skip":
        return tokens[:, :-1], tokens[:, 1:]
    if first_token == "bos":
        if bos_id is None:
            raise ValueError("first_token='bos' needs a bos_id")
        bos = torch.full_like(tokens[:, :1], bos_id)
        return torch.cat([bos, tokens[:, :-1]], dim=1), tokens
    raise ValueError(f"unknown first_token convention {first_token!r}")


def logits_of(model: torch.nn.Module, input_ids: torch.Tensor) -> torch.Tensor:
    """Logits from our GPT (a tensor) or a Hugging Face model (an output with ``.logits``)."""
    out = model(input_ids)
    return out if isinstance(out, torch.Tensor) else out.logits


@torch.inference_mode()
def sequence_nll_bits(
    model: torch.nn.Module,
    tokens: np.ndarray | torch.Tensor,
    *,
    first_token: str = "skip",
    bos_id: int | None = None,
    batch_size: int = 512,
    device: str | torch.device = "cpu",
    autocast_dtype: torch.dtype | None = None,
) -> np.ndarray:
    """``−log2 p(x)`` of each sequence's scored tokens under ``model``, as float64 ``[n]``."""
    tokens = torch.as_tensor(np.asarray(tokens, dtype=np.int64)) if isinstance(
        tokens, np.ndarray
    ) else tokens.long()
    was_training = model.training
    model.eval()
    out = np.empty(len(tokens), dtype=np.float64)
    for start in range(0, len(tokens), batch_size):
        batch = tokens[start : start + batch_size].to(device)
        inputs, targets = model_inputs(batch, first_token, bos_id)
        with torch.autocast(torch.device(device).type, autocast_dtype,
                            enabled=autocast_dtype is not None):
            logits = logits_of(model, inputs)
        nats = F.cross_entropy(
            logits.float().transpose(1, 2), targets, reduction="none"
        ).sum(dim=1)
        out[start : start + len(batch)] = (nats / LN2).double().cpu().numpy()
    model.train(was_training)
    return out


def uniform_reference_bits(n_scored_tokens: int, vocab_size: int) -> float:
    """Code length of one uniform sequence under the exact reference: ``n · log2 V``."""
    return n_scored_tokens * math.log2(vocab_size)


def unintended_memorization(nll_model: np.ndarray, nll_reference: np.ndarray | float) -> np.ndarray:
    """``mem_U = max(0, NLL_ref − NLL_model)`` per sequence, in bits."""
    return np.maximum(0.0, np.asarray(nll_reference) - np.asarray(nll_model))
