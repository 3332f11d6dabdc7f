"""The capacity of each text shape measured on uniform random tokens of the *same*
vocabulary and sequence length (docs/science.md §2), so its embedding rows count alike.

The synthetic track measures capacity for its own vocabulary and sequence length; a text
model of the same depth and width but a larger vocabulary has other parameters, so neither
that capacity nor α × params says what the identical architecture can hold. Here each text
shape is trained, with the text grid's own training settings, on N uniform sequences for a
few N; the data's information is known exactly ((S − 1) log2 V bits per sequence), so
``mem_U`` needs no reference, and the capacity is the largest ``mem_U`` over N. A maximum
at an N memorized almost completely is data-limited: a lower bound, and the grid must
extend.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import polars as pl

from pipeline.core import corpus
from pipeline.core.config import RuntimeConfig
from pipeline.core.integrity import require_finite
from pipeline.core.io import read_json, write_parquet
from pipeline.core.model import GPT
from pipeline.core.scoring import sequence_nll_bits, unintended_memorization
from pipeline.core.trainer import TRAINING_FILE, TrainJob
from pipeline.tracks.text import layout
from pipeline.tracks.text.config import TextConfig
from pipeline.tracks.text.grid import FIRST_TOKEN, make_job, parameter_count, uniform_bits

log = logging.getLogger(__name__)

DATA_LIMITED = 0.95  # a maximum at an N memorized this fully is a lower bound on capacity


def uniform_tokens(vocab_size: int, seq_len: int, n_sequences: int, seed: int) -> np.ndarray:
    """``n_sequences`` i.i.d. uniform sequences; a smaller N takes the first rows."""
    return np.random.default_rng(seed).integers(0, vocab_size, (n_sequences, seq_len))


def _run_id(config_name: str, n: int) -> str:
    return f"{config_name}-N{n}"


def _pool(text: TextConfig, vocab_size: int, seq_len: int) -> np.ndarray:
    spec = text.identical_capacity
    return uniform_tokens(vocab_size, seq_len, max(spec.dataset_sizes), spec.seed)


def identical_capacity_jobs(text: TextConfig, runtime: RuntimeConfig,
                            root: Path = Path(".")) -> list[TrainJob]:
    """Each text shape × N on uniform tokens of the corpus's V and S, trained with
    ``text.train``."""
    info = corpus.read_info(root)
    vocab_size, seq_len = info["vocab_size"], info["seq_len"]
    tokens = _pool(text, vocab_size, seq_len)
    bits = uniform_bits(vocab_size, seq_len)
    return [
        make_job(_run_id(model.name, n), model, tokens[:n], bits, text.train, runtime,
                 text.identical_capacity.seed, vocab_size,
                 models_dir=layout.IDENTICAL_MODELS, curves_dir=layout.IDENTICAL_CURVES,
                 root=root)
        for model in text.configs for n in text.identical_capacity.dataset_sizes
    ]


def measure(text: TextConfig, root: Path = Path(".")) -> pl.DataFrame:
    """Score every run; one row per (shape, N) with ``mem_U`` against the exact code length,
    and per shape the capacity (the largest ``mem_U``) and whether it is data-limited."""
    info = corpus.read_info(root)
    vocab_size, seq_len = info["vocab_size"], info["seq_len"]
    tokens = _pool(text, vocab_size, seq_len)
    per_sequence = uniform_bits(vocab_size, seq_len)
    rows = []
    for model in text.configs:
        for n in text.identical_capacity.dataset_sizes:
            folder = root / layout.IDENTICAL_MODELS / _run_id(model.name, n)
            nll = sequence_nll_bits(GPT.from_pretrained(folder), tokens[:n],
                                    first_token=FIRST_TOKEN)
            require_finite(nll, f"{folder}: code lengths",
                           "retrain it (dvc repro --force text_capacity)")
            memorized = float(unintended_memorization(nll, per_sequence).sum())
            rows.append({
                "config": model.name,
                "params": parameter_count(model, vocab_size, seq_len),
                "n_sequences": n,
                "dataset_bits": n * per_sequence,
                "memorized_bits": memorized,
                "memorized_fraction": memorized / (n * per_sequence),
                "converged": bool(read_json(folder / TRAINING_FILE).get("converged", False)),
            })
    frame = pl.DataFrame(rows)
    best = (frame.sort("memorized_bits", descending=True).group_by("config", maintain_order=True)
            .first().select("config", pl.col("memorized_bits").alias("capacity_bits"),
                            pl.col("n_sequences").alias("capacity_at_n"),
                            (pl.col("memorized_fraction") >= DATA_LIMITED)
                            .alias("capacity_data_limited")))
    frame = frame.join(best, on="config").sort("params", "config", "n_sequences")
    write_parquet(frame, root / layout.IDENTICAL_RESULTS)
    for row in best.iter_rows(named=True):
        log.info("%s: capacity %.1f kbit at N = %d%s", row["config"],
                 row["capacity_bits"] / 1e3, row["capacity_at_n"],
                 " (data-limited: a lower bound)" if row["capacity_data_limited"] else "")
    return frame
