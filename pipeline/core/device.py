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


def set_threads(threads: int) -> None:
    """Torch's intra-op threads in this process, with subnormal floats flushed to zero.

    A model that has memorized its data keeps softmax probabilities and gradients in fp32's
    subnormal range, where x86 arithmetic takes a microcode slow path: a training step of a
    1×16 model that had memorized its 64 sequences took 23.5 ms against 5.5 ms for a fresh one
    (6.0 ms with this and the output head's exp floor, :mod:`pipeline.core.fused_loss`).
    Flushing moves no result beyond float rounding. It is set before the thread count, since
    threads inherit it from the thread that starts them.
    """
    torch.set_flush_denormal(True)
    torch.set_num_threads(threads)


def resolve_precision(precision: str, device: str) -> str:
    if precision != "auto":
        return precision
    return "bf16" if device == "cuda" and torch.cuda.is_bf16_supported() else "fp32"
