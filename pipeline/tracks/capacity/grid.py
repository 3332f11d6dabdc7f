"""The capacity grid (model shape × dataset size N × seed) as a list of training jobs.

Each run is identified by ``L{layers}-D{width}-N{N}-S{seed}``. A run whose model folder was
trained with exactly the current settings is done, so adding a seed or a dataset size trains
only the new models.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
from pathlib import Path

import numpy as np

from pipeline.core.config import ModelConfig, RuntimeConfig, TrainConfig
from pipeline.core.io import read_tokens
from pipeline.core.model import GPTConfig
from pipeline.core.objectives import NextTokenObjective
from pipeline.core.runs import GridRun
from pipeline.core.stacked import stack_jobs
from pipeline.core.trainer import TrainJob
from pipeline.tracks.capacity import layout
from pipeline.tracks.capacity.config import CapacityConfig, CapacityParams
from pipeline.tracks.capacity.synthetic import dataset_name


class Run(GridRun):
    """A capacity run; its dataset is the uniform-token file of its (N, seed)."""

    @property
    def dataset(self) -> str:
        return dataset_name(self.n_sequences, self.seed)


def capacity_runs(config: CapacityConfig) -> list[Run]:
    """Every run of the grid: each shape on each of its dataset sizes and every seed."""
    return [Run(m, n, s) for m in config.models
            for n, s in itertools.product(config.sizes_of(m), config.data.seeds)]


def gpt_config(config: CapacityConfig, model: ModelConfig) -> GPTConfig:
    return GPTConfig(
        vocab_size=config.model_vocab_size,
        n_positions=config.data.seq_len,
        n_layer=model.n_layer,
        d_model=model.d_model,
        n_head=model.n_head,
    )


def parameter_count(config: CapacityConfig, model: ModelConfig) -> int:
    return config.parameter_count(model)


def objective(config: CapacityConfig) -> NextTokenObjective:
    bos_id = config.model_vocab_size - 1 if config.score.first_token == "bos" else None
    return NextTokenObjective(config.score.first_token, bos_id)


@functools.lru_cache(maxsize=64)
def _dataset(path: Path, stamp: tuple[int, int]) -> tuple[np.ndarray, str]:
    """Tokens and content hash of one dataset file, read once however many shapes use it
    (``stamp`` = mtime and size, so a rewritten file is read again)."""
    return read_tokens(path), hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def make_job(config: CapacityConfig, runtime: RuntimeConfig, run: Run,
             root: Path = Path("."), train: TrainConfig | None = None,
             run_id: str | None = None, models_dir: Path | None = None) -> TrainJob:
    """The training job of one run. ``train``, ``run_id`` and ``models_dir`` (relative to
    the root) retrain a run under other settings into another folder (the plateau test)."""
    root = root.resolve()  # a job carries absolute paths: it may run on another worker
    run_id = run_id or run.run_id
    model_dir = (root / models_dir / run_id if models_dir is not None
                 else layout.model_dir(run_id, root))
    curve_path = (root / models_dir / f"{run_id}.csv" if models_dir is not None
                  else layout.curve(run_id, root))
    data_path = layout.synthetic_dataset(run.dataset, root)
    if not data_path.is_file():
        read_tokens(data_path)  # raises ArtifactError naming the missing file
    stat = data_path.stat()
    tokens, fingerprint = _dataset(data_path, (stat.st_mtime_ns, stat.st_size))
    return TrainJob(
        run_id=run_id,
        model=gpt_config(config, run.model),
        objective=objective(config),
        tokens=tokens,
        reference_bits=config.sequence_entropy_bits,
        train=train or config.train,
        seed=run.seed,
        model_dir=model_dir,
        curve_path=curve_path,
        checkpoint_dir=layout.checkpoint_dir(run_id, root),
        data_fingerprint=fingerprint,
        runtime=runtime,
    )


def training_jobs(config: CapacityConfig, runtime: RuntimeConfig,
                  root: Path = Path(".")) -> list[TrainJob]:
    """One job per run of the grid, done or not."""
    return [make_job(config, runtime, run, root) for run in capacity_runs(config)]


def train_jobs(params: CapacityParams, root: Path) -> list:
    """Stage capacity_train: the grid's jobs; with ``runtime.stack_models``, the runs of one
    shape train together (:mod:`pipeline.core.stacked`)."""
    runs = training_jobs(params.capacity, params.runtime, root)
    return stack_jobs(runs) if params.runtime.stack_models else runs
