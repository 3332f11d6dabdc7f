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


def bf16_problem(device: str, precision: str) -> str | None:
    """Why ``runtime.precision: bf16`` cannot run on ``runtime.device`` here, as one line
    naming both keys, or None. A CPU runs bf16 on any x86 or ARM build of torch (natively
    with AVX512-BF16/AMX, else emulated); a GPU needs bf16 arithmetic (CUDA: Ampere or
    later)."""
    if precision != "bf16" or device == "cpu":
        return None
    resolved = "cuda" if device == "auto" and torch.cuda.is_available() else device
    if resolved == "auto":
        return None  # auto without CUDA is the CPU
    if not device_available(resolved):
        return None  # resolve_device names a missing device
    if resolved == "cuda" and not torch.cuda.is_bf16_supported():
        name = torch.cuda.get_device_name()
        return (f"runtime.precision: bf16 requested, but runtime.device {device!r} resolves "
                f"to {name} (compute capability {torch.cuda.get_device_capability()}), which "
                "has no bf16; set runtime.precision to fp32 or auto")
    if resolved == "mps":
        try:
            torch.ones(1, dtype=torch.bfloat16, device="mps")
        except (RuntimeError, TypeError) as error:
            return (f"runtime.precision: bf16 requested, but runtime.device 'mps' has no "
                    f"bf16 here ({error}); set runtime.precision to fp32 or auto")
    return None
