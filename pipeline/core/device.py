"""The device and precision a run uses, resolved from ``runtime`` (``auto`` picks CUDA when
there is one). A device asked for by name that this machine lacks is a user error, named
before any work starts, not a traceback from deep inside torch."""

from __future__ import annotations

import torch

from pipeline.core.errors import ConfigError


def device_available(device: str) -> bool:
    if device == "cuda":
        return torch.cuda.is_available()
    if device == "mps":
        return torch.backends.mps.is_available()
    return device == "cpu"


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if not device_available(device):
        raise ConfigError(f"runtime.device: {device!r} is not available on this machine"
                          f" (torch {torch.__version__} sees no {device} device); set"
                          " runtime.device to auto or cpu")
    return device


def resolve_precision(precision: str, device: str) -> str:
    if precision != "auto":
        return precision
    return "bf16" if device == "cuda" and torch.cuda.is_bf16_supported() else "fp32"
