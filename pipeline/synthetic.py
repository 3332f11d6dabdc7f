"""Uniform i.i.d. token datasets: the setting where the reference model is exact
(every token carries log2 V bits) and all memorization is unintended."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from pipeline.io import ArtifactError, read_parquet, write_parquet

TOKENS = "tokens"
POLARS_DTYPES = {"uint8": pl.UInt8, "uint16": pl.UInt16, "int32": pl.Int32}


def dataset_name(n_sequences: int, seed: int) -> str:
    return f"N{n_sequences}-S{seed}"


def uniform_tokens(n_sequences: int, seq_len: int, vocab_size: int, seed: int) -> np.ndarray:
    """``[n_sequences, seq_len]`` tokens drawn uniformly from ``range(vocab_size)``.

    The generator is keyed by (seed, N), so each (N, seed) pair is its own dataset, as in the
    paper, where a seed changes both initialization and data.
    """
    rng = np.random.Generator(np.random.PCG64([seed, n_sequences]))
    return rng.integers(0, vocab_size, size=(n_sequences, seq_len), dtype=np.int64)


def tokens_frame(tokens: np.ndarray, token_dtype: str) -> pl.DataFrame:
    """One row per sequence; ``tokens`` is a fixed-size integer list (Arrow FixedSizeList)."""
    dtype = POLARS_DTYPES[token_dtype]
    return pl.DataFrame(
        {TOKENS: tokens.astype(np.dtype(token_dtype))},
        schema={TOKENS: pl.Array(dtype, tokens.shape[1])},
    )


def write_tokens(tokens: np.ndarray, token_dtype: str, path: str | Path) -> None:
    write_parquet(tokens_frame(tokens, token_dtype), path)


def read_tokens(path: str | Path) -> np.ndarray:
    """Read a token Parquet back into an ``int64`` array ``[n, seq_len]``."""
    frame = read_parquet(path, columns=[TOKENS])
    if not isinstance(frame.schema[TOKENS], pl.Array):
        raise ArtifactError(f"{path}: column {TOKENS!r} is not a fixed-size list")
    return frame[TOKENS].to_numpy().astype(np.int64, copy=False)
