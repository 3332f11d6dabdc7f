"""Extraction by greedy decoding: does a k-token prefix make the model emit the rest exactly?

Morris et al. (2025) report the share of sequences whose continuation comes out exactly
under greedy decoding from 8-, 16- and 32-token prefixes, on training and held-out data.

A "model" is any ``torch.nn.Module`` whose ``forward(input_ids)`` returns a logits tensor
``[B, T, V]`` or an object with ``.logits`` (Hugging Face causal LMs).
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Literal

import numpy as np
import polars as pl
import torch

DEFAULT_PREFIX_LENGTHS: tuple[int, ...] = (8, 16, 32)


def _logits(model: torch.nn.Module, ids: torch.Tensor) -> torch.Tensor:
    """Logits ``[B, T, V]`` from a model returning either a tensor or an object with ``.logits``."""
    out = model(ids)
    return out if isinstance(out, torch.Tensor) else out.logits


def _last_logits(model: torch.nn.Module, ids: torch.Tensor) -> torch.Tensor:
    """Logits ``[B, V]`` at the last position only.

    Hugging Face causal LMs accept ``logits_to_keep``; asking for one position skips the
    vocabulary projection everywhere else, which dominates the cost at V = 50k.
    """
    if "logits_to_keep" in inspect.signature(model.forward).parameters:
        out = model(ids, logits_to_keep=1)
        logits = out if isinstance(out, torch.Tensor) else out.logits
    else:
        logits = _logits(model, ids)
    return logits[:, -1, :]


def _model_device(model: torch.nn.Module) -> torch.device:
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


@contextmanager
def _eval_mode(model: torch.nn.Module) -> Iterator[None]:
    """Switch off dropout for decoding and restore the caller's mode afterwards."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def _as_token_array(sequences: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(sequences)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D [n, length], got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must hold integer token ids, got dtype {arr.dtype}")
    return arr


def _to_ids(batch: np.ndarray, device: torch.device) -> torch.Tensor:
    # uint16 has no usable torch counterpart, so widen before handing over.
    return torch.from_numpy(batch.astype(np.int64, copy=False)).to(device)


def greedy_continuation(
    model: torch.nn.Module,
    prefixes: np.ndarray,
    length: int,
    batch_size: int = 256,
    device: str | torch.device | None = None,
) -> np.ndarray:
    """Greedily decode ``length`` tokens after each prefix.

    Args:
        model: causal LM (see module docstring); left on its own device.
        prefixes: integer token ids ``[n, k]`` with ``k >= 1``.
        length: number of tokens to generate.
        batch_size: sequences per forward pass.
        device: where to run; ``None`` means the device of the model's parameters.

    Returns:
        int64 array ``[n, length]`` of generated token ids.
    """
    prefixes = _as_token_array(prefixes, "prefixes")
    n, k = prefixes.shape
    if k < 1:
        raise ValueError("prefixes need at least one token")
    if length < 0:
        raise ValueError("length must be non-negative")
    if batch_size < 1:
        raise ValueError("batch_size must be positive")
    dev = torch.device(device) if device is not None else _model_device(model)
    out = np.empty((n, length), dtype=np.int64)
    if length == 0 or n == 0:
        return out
    # Sequences are short (<= 64 tokens), so re-running the full forward on the growing
    # batch is simpler than a KV cache and costs little.
    with _eval_mode(model), torch.inference_mode():
        for start in range(0, n, batch_size):
            ids = _to_ids(prefixes[start : start + batch_size], dev)
            for _ in range(length):
                next_ids = _last_logits(model, ids).argmax(dim=-1, keepdim=True)
                ids = torch.cat([ids, next_ids], dim=1)
            out[start : start + ids.shape[0]] = ids[:, k:].cpu().numpy()
    return out


def _teacher_forced_hits(
    model: torch.nn.Module, sequences: np.ndarray, batch_size: int, dev: torch.device
) -> np.ndarray:
    """``hits[i, j]``: argmax after ``sequences[i, :j+1]`` equals ``sequences[i, j+1]``."""
    n, s = sequences.shape
    hits = np.empty((n, s - 1), dtype=bool)
    with _eval_mode(model), torch.inference_mode():
        for start in range(0, n, batch_size):
            ids = _to_ids(sequences[start : start + batch_size], dev)
            pred = _logits(model, ids[:, :-1]).argmax(dim=-1)
            hits[start : start + ids.shape[0]] = (pred == ids[:, 1:]).cpu().numpy()
    return hits


def extraction_table(
    model: torch.nn.Module,
    sequences: np.ndarray,
    prefix_lengths: Sequence[int] = DEFAULT_PREFIX_LENGTHS,
    batch_size: int = 256,
    device: str | torch.device | None = None,
    method: Literal["teacher_forced", "greedy"] = "teacher_forced",
) -> pl.DataFrame:
    """Per-sequence exact extraction, one boolean column ``extracted_k{k}`` per prefix length.

    ``method="teacher_forced"`` (default) uses one forward pass per sequence: greedy decoding
    from a k-token prefix reproduces the true continuation exactly if and only if the argmax
    at every position ``j >= k`` given the *true* tokens before ``j`` is the true token,
    because as long as every earlier guess was right the model's input is the true prefix.
    It therefore gives the same answer as ``method="greedy"`` (which really decodes, once per
    prefix length) up to floating-point near-ties in the argmax, at a fraction of the cost.
    """
    sequences = _as_token_array(sequences, "sequences")
    s = sequences.shape[1]
    ks = [int(k) for k in prefix_lengths]
    for k in ks:
        if not 1 <= k < s:
            raise ValueError(f"prefix length {k} must be in [1, {s - 1}] for sequences of {s}")
    if batch_size < 1:
        raise ValueError("batch_size must be positive")
    dev = torch.device(device) if device is not None else _model_device(model)

    columns: dict[str, np.ndarray] = {}
    if method == "teacher_forced":
        hits = _teacher_forced_hits(model, sequences, batch_size, dev)
        # suffix_ok[:, j]: every prediction from position j on is right.
        suffix_ok = np.flip(np.logical_and.accumulate(np.flip(hits, axis=1), axis=1), axis=1)
        for k in ks:
            columns[f"extracted_k{k}"] = suffix_ok[:, k - 1]
    elif method == "greedy":
        for k in ks:
            generated = greedy_continuation(model, sequences[:, :k], s - k, batch_size, dev)
            columns[f"extracted_k{k}"] = (generated == sequences[:, k:]).all(axis=1)
    else:
        raise ValueError(f"unknown method {method!r}")
    return pl.DataFrame(columns, schema={name: pl.Boolean for name in columns})


def extraction_rates(
    model: torch.nn.Module,
    sequences: np.ndarray,
    prefix_lengths: Sequence[int] = DEFAULT_PREFIX_LENGTHS,
    batch_size: int = 256,
    device: str | torch.device | None = None,
    method: Literal["teacher_forced", "greedy"] = "teacher_forced",
) -> dict[int, float]:
    """Share of sequences whose remaining ``S - k`` tokens come out exactly, per prefix length k.

    See :func:`extraction_table` for ``method``. Returns ``{k: rate}``; NaN when there are
    no sequences.
    """
    table = extraction_table(model, sequences, prefix_lengths, batch_size, device, method)
    n = table.height
    return {
        int(k): (float(table[f"extracted_k{int(k)}"].sum()) / n if n else float("nan"))
        for k in prefix_lengths
    }
