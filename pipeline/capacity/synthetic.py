"""Uniform i.i.d. token datasets: the setting where the reference model is exact
(every token carries log2 V bits) and all memorization is unintended."""

from __future__ import annotations

import itertools

import numpy as np

from pipeline.capacity.config import DataConfig


def dataset_name(n_sequences: int, seed: int) -> str:
    return f"N{n_sequences}-S{seed}"


def uniform_tokens(n_sequences: int, seq_len: int, vocab_size: int, seed: int) -> np.ndarray:
    """``[n_sequences, seq_len]`` tokens drawn uniformly from ``range(vocab_size)``.

    The generator is keyed by (seed, N), so each (N, seed) pair is its own dataset, as in the
    paper, where a seed changes both initialization and data.
    """
    rng = np.random.Generator(np.random.PCG64([seed, n_sequences]))
    return rng.integers(0, vocab_size, size=(n_sequences, seq_len), dtype=np.int64)


def datasets(data: DataConfig) -> list[tuple[int, int]]:
    """Every (N, seed) pair the grid trains on."""
    return list(itertools.product(data.dataset_sizes, data.seeds))
