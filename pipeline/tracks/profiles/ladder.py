"""The model ladder: one GPT-2 per shape of ``profiles.ladder``, trained by the core trainer
on the repeated members and saved as Hugging Face folders (nothing to train with
``model_source: hf``)."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np

from pipeline.core.config import RuntimeConfig
from pipeline.core.io import read_parquet
from pipeline.core.model import GPTConfig
from pipeline.core.objectives import NextTokenObjective
from pipeline.core.trainer import TrainJob
from pipeline.tracks.profiles import layout
from pipeline.tracks.profiles.config import ProfilesConfig
from pipeline.tracks.profiles.data import TOKENS

OBJECTIVE = NextTokenObjective("skip")


def training_set(root: Path) -> np.ndarray:
    return read_parquet(root / layout.TRAINING)[TOKENS].to_numpy().astype(np.int64)


def ladder_jobs(profiles: ProfilesConfig, runtime: RuntimeConfig, vocab_size: int,
                root: Path = Path(".")) -> list[TrainJob]:
    """One training job per ladder shape (none for ``model_source: hf``)."""
    if profiles.model_source != "ladder":
        return []
    root = root.resolve()  # a job carries absolute paths: it may run on another worker
    tokens = training_set(root)
    seq_len = tokens.shape[1]
    # Memorization along training is tracked against the uniform code length; it only feeds
    # the training curve (the ladder's analyses use the match score).
    reference = (seq_len - 1) * math.log2(vocab_size)
    data_fingerprint = hashlib.sha256(np.ascontiguousarray(tokens).tobytes()).hexdigest()[:16]
    return [TrainJob(
        run_id=shape.name,
        model=GPTConfig(vocab_size=vocab_size, n_positions=seq_len, n_layer=shape.n_layer,
                        d_model=shape.d_model, n_head=shape.n_head),
        objective=OBJECTIVE,
        tokens=tokens,
        reference_bits=reference,
        train=profiles.train,
        seed=profiles.data.seed,
        model_dir=root / layout.MODELS / shape.name,
        curve_path=root / layout.CURVES / f"{shape.name}.csv",
        checkpoint_dir=root / layout.CHECKPOINTS / shape.name,
        data_fingerprint=data_fingerprint,
        runtime=runtime,
    ) for shape in profiles.ladder]
