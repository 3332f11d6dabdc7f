"""Uniform i.i.d. token datasets: the setting where the reference model is exact
(every token carries log2 V bits) and all memorization is unintended."""

from __future__ import annotations

import itertools
import logging
from pathlib import Path

import numpy as np

from pipeline.core.io import write_tokens
from pipeline.tracks.capacity import layout
from pipeline.tracks.capacity.config import CapacityParams, DataConfig

log = logging.getLogger(__name__)


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


def write_datasets(params: CapacityParams, root: Path) -> None:
    """Stage capacity_data: one token Parquet per (N, seed)."""
    data = params.capacity.data
    for n_sequences, seed in datasets(data):
        tokens = uniform_tokens(n_sequences, data.seq_len, data.vocab_size, seed)
        path = layout.synthetic_dataset(dataset_name(n_sequences, seed), root)
        write_tokens(tokens, data.token_dtype, path)
        log.info("wrote %s (%d × %d tokens, V=%d)", path, n_sequences, data.seq_len,
                 data.vocab_size)
