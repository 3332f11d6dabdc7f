"""The text model grid (shape × N × seed) and its references, as training jobs.

Run ids: ``L{layers}-D{width}-N{N}-S{seed}`` for the grid, ``oracle-L{..}-D{..}`` for oracle
candidates and ``same-size-L{..}-D{..}`` for the same-size references (both trained on the
whole reference pool, which shares no document with the members). Training set of (N, seed):
the first N members in the order ``permutation(seed)``, so within a seed a larger N contains
every smaller one.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.core import corpus
from pipeline.core.config import ModelConfig, RuntimeConfig, TrainConfig
from pipeline.core.errors import ConfigError
from pipeline.core.model import GPTConfig, count_params
from pipeline.core.objectives import NextTokenObjective
from pipeline.core.runs import GridRun
from pipeline.core.trainer import TrainJob
from pipeline.tracks.text import layout
from pipeline.tracks.text.config import TextConfig

FIRST_TOKEN = "skip"  # a sequence's first token has no context; tokens 2..S are scored
OBJECTIVE = NextTokenObjective(FIRST_TOKEN)


@dataclass(frozen=True)
class ReferenceRun:
    """A reference model: an oracle candidate (``n_sequences`` None: the whole pool) or the
    same-size reference of one grid shape."""

    kind: str  # "oracle" or "same_size"
    model: ModelConfig
    n_sequences: int | None
    seed: int

    @property
    def run_id(self) -> str:
        if self.kind == "oracle":
            return f"oracle-{self.model.name}"
        return f"same-size-{self.model.name}"


def text_runs(text: TextConfig) -> list[GridRun]:
    return [GridRun(m, n, s)
            for m, n, s in itertools.product(text.configs, text.dataset_sizes, text.seeds)]


def reference_runs(text: TextConfig) -> list[ReferenceRun]:
    seed = text.seeds[0]
    oracles = [ReferenceRun("oracle", m, None, seed) for m in text.oracle_configs]
    return oracles + [ReferenceRun("same_size", m, None, seed) for m in text.configs]


def check_dataset_sizes(text: TextConfig, pool_size: int) -> None:
    """Every N must fit in the member pool; the error names the key and the pool."""
    too_large = [n for n in text.dataset_sizes if n > pool_size]
    if too_large:
        raise ConfigError(
            f"text.dataset_sizes {too_large} exceed the member pool of {pool_size} sequences "
            f"({corpus.pool_path('members')}); lower them, or give the corpus more documents "
            "(corpus.source, corpus.path, corpus.max_documents)"
        )


def check_pools(text: TextConfig, info: dict) -> None:
    """Before any training: every N fits in the member pool, and the held-out pool can
    calibrate it (:meth:`TextConfig.check_heldout`)."""
    check_dataset_sizes(text, int(info["members"]))
    text.check_heldout(int(info["nonmembers"]))


PAPER_ALPHA = 3.64  # bits/param (Morris et al. 2025): the largest capacity yardstick we use


def check_reach(text: TextConfig, reference_bits: np.ndarray, vocab_size: int,
                seq_len: int) -> None:
    """Before any training: the largest N of every seed must hold at least ``text.x_reach``
    times the paper's capacity of every shape, in the oracle's bits (the error gives the
    numbers)."""
    n_max = max(text.dataset_sizes)
    dataset_bits = min(float(reference_bits[subset_indices(len(reference_bits), n_max, seed)]
                             .sum()) for seed in text.seeds)
    for model in text.configs:
        capacity = PAPER_ALPHA * parameter_count(model, vocab_size, seq_len)
        if dataset_bits < text.x_reach * capacity:
            needed = text.x_reach * capacity / dataset_bits * n_max
            params = capacity / PAPER_ALPHA
            raise ConfigError(
                f"text.dataset_sizes, text.x_reach: the largest N ({n_max:,}) holds "
                f"{dataset_bits / 1e3:,.0f} kbit (the oracle's code length), x = "
                f"{dataset_bits / capacity:.1f} against {model.name}'s capacity α·params = "
                f"{PAPER_ALPHA} × {params:,.0f} = {capacity / 1e3:,.1f} kbit; the "
                f"double-descent axis needs x ≥ {text.x_reach:g}, so N ≥ {needed:,.0f} (the "
                f"member pool holds {len(reference_bits):,}): add a larger N, a smaller "
                "shape (text.configs), or more documents (corpus)")


def subset_indices(pool_size: int, n_sequences: int | None, seed: int) -> np.ndarray:
    """Pool indices of the training set of (N, seed); ``None``: the whole pool, in order."""
    if n_sequences is None:
        return np.arange(pool_size)
    return np.random.default_rng(seed).permutation(pool_size)[:n_sequences]


def gpt_config(model: ModelConfig, vocab_size: int, seq_len: int) -> GPTConfig:
    return GPTConfig(vocab_size=vocab_size, n_positions=seq_len, n_layer=model.n_layer,
                     d_model=model.d_model, n_head=model.n_head)


def parameter_count(model: ModelConfig, vocab_size: int, seq_len: int) -> int:
    return count_params(vocab_size, seq_len, model.n_layer, model.d_model)


def uniform_bits(vocab_size: int, seq_len: int) -> float:
    """Code length of a sequence's scored tokens under a uniform model: (S − 1) log2 V."""
    return (seq_len - 1) * math.log2(vocab_size)


def fingerprint(*arrays: np.ndarray) -> str:
    digest = hashlib.sha256()
    for array in arrays:
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:16]


def make_job(
    run_id: str,
    model: ModelConfig,
    tokens: np.ndarray,
    reference_bits: float | np.ndarray,
    train: TrainConfig,
    runtime: RuntimeConfig,
    seed: int,
    vocab_size: int,
    *,
    models_dir: Path,
    curves_dir: Path,
    root: Path = Path("."),
) -> TrainJob:
    """A :class:`TrainJob` for the core trainer; the fingerprint covers data and reference."""
    root = root.resolve()  # a job carries absolute paths: it may run on another worker
    return TrainJob(
        run_id=run_id,
        model=gpt_config(model, vocab_size, tokens.shape[1]),
        objective=OBJECTIVE,
        tokens=tokens,
        reference_bits=reference_bits,
        train=train,
        seed=seed,
        model_dir=root / models_dir / run_id,
        curve_path=root / curves_dir / f"{run_id}.csv",
        checkpoint_dir=root / layout.CHECKPOINTS / run_id,
        data_fingerprint=fingerprint(tokens, np.asarray(reference_bits, dtype=np.float64)),
        runtime=runtime,
    )
