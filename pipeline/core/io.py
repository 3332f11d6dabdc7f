"""Atomic artifact writing and checked reading: an interrupted stage never leaves a
half-written file, and a missing or corrupt input names the file. Artifacts get the
permissions the umask gives (0644 / 0755 by default), and a metrics file is strict JSON.
Token datasets are Parquet with one fixed-size integer list per sequence.

polars is imported by the functions that read or write a frame, not with the module: the
trainer writes through this module and runs where polars is not installed (the GPU check,
``python -m pipeline.benchmark gpu``, on an image with torch and transformers)."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from pipeline.core.errors import ArtifactError

if TYPE_CHECKING:
    import polars as pl

TOKENS = "tokens"
POLARS_TOKEN_DTYPES = {"uint8": "UInt8", "uint16": "UInt16", "int32": "Int32"}  # pl.<name>


def _temporary_sibling(path: Path) -> Path:
    """An unused name beside ``path``. Only the name: the writer creates the file (or the
    folder), so the umask applies, where ``tempfile`` would force 0600 / 0700."""
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling of ``path``; it replaces ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary_sibling(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling directory that replaces ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary_sibling(path)
    tmp.mkdir()
    try:
        yield tmp
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_parquet(frame: pl.DataFrame, path: str | Path) -> None:
    # No statistics timestamps or writer randomness: equal frames give byte-identical files.
    with atomic_path(path) as tmp:
        frame.write_parquet(tmp, compression="zstd", statistics=True)


def write_csv(frame: pl.DataFrame, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        frame.write_csv(tmp)


def read_parquet(path: str | Path, columns: list[str] | None = None) -> pl.DataFrame:
    import polars as pl

    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"{path}: missing (run the stage that produces it first)")
    try:
        frame = pl.read_parquet(path, columns=columns)
    except Exception as error:  # polars raises several error types for corrupt files
        raise ArtifactError(f"{path}: unreadable Parquet ({error})") from error
    return frame


def write_json(content: object, path: str | Path) -> None:
    """Strict JSON: a NaN or an infinity is refused (``NaN`` is not JSON, and a metric that is
    not finite is a failed computation, not a number); write ``None`` for a missing value."""
    try:
        text = json.dumps(content, indent=2, sort_keys=True, allow_nan=False)
    except ValueError:
        raise ArtifactError(f"{path}: refusing to write a non-finite number (NaN or infinity)"
                            " into JSON; the computation that produced it failed") from None
    with atomic_path(path) as tmp:
        tmp.write_text(text + "\n")


def read_json(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"{path}: missing (run the stage that produces it first)")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ArtifactError(f"{path}: corrupt JSON ({error})") from error


def write_text(text: str, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def tokens_frame(tokens: np.ndarray, token_dtype: str) -> pl.DataFrame:
    """One row per sequence; ``tokens`` is a fixed-size integer list (Arrow FixedSizeList)."""
    import polars as pl

    dtype = getattr(pl, POLARS_TOKEN_DTYPES[token_dtype])
    return pl.DataFrame(
        {TOKENS: tokens.astype(np.dtype(token_dtype))},
        schema={TOKENS: pl.Array(dtype, tokens.shape[1])},
    )


def write_tokens(tokens: np.ndarray, token_dtype: str, path: str | Path) -> None:
    write_parquet(tokens_frame(tokens, token_dtype), path)


def read_tokens(path: str | Path) -> np.ndarray:
    """Read a token Parquet back into an ``int64`` array ``[n, seq_len]``."""
    import polars as pl

    frame = read_parquet(path, columns=[TOKENS])
    if not isinstance(frame.schema[TOKENS], pl.Array):
        raise ArtifactError(f"{path}: column {TOKENS!r} is not a fixed-size list")
    return frame[TOKENS].to_numpy().astype(np.int64, copy=False)
