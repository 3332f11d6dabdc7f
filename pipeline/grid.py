"""The capacity grid (model shape × dataset size N × seed) and its concurrent training.

Each run is identified by ``L{layers}-D{width}-N{N}-S{seed}``. A run whose model folder was
trained with exactly the current settings is skipped, so adding a seed or a dataset size
trains only the new models. Runs go to a pool of worker processes (tiny models are bound by
Python overhead, so processes scale where threads would not), with one progress bar for the
whole grid.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import logging
import multiprocessing as mp
import queue
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from pipeline import layout
from pipeline.config import ModelConfig, Params
from pipeline.model import GPTConfig, count_params
from pipeline.synthetic import dataset_name, read_tokens
from pipeline.train import TrainJob, TrainSummary, is_trained, train_model

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Run:
    model: ModelConfig
    n_sequences: int
    seed: int

    @property
    def run_id(self) -> str:
        return f"{self.model.name}-N{self.n_sequences}-S{self.seed}"

    @property
    def dataset(self) -> str:
        return dataset_name(self.n_sequences, self.seed)


def capacity_runs(params: Params) -> list[Run]:
    sizes, seeds = params.synthetic.dataset_sizes, params.synthetic.seeds
    return [Run(m, n, s) for m, n, s in itertools.product(params.models.configs, sizes, seeds)]


def datasets(params: Params) -> list[tuple[int, int]]:
    """Every (N, seed) pair the grid trains on."""
    return list(itertools.product(params.synthetic.dataset_sizes, params.synthetic.seeds))


def gpt_config(params: Params, model: ModelConfig) -> GPTConfig:
    return GPTConfig(
        vocab_size=params.model_vocab_size,
        n_positions=params.synthetic.seq_len,
        n_layer=model.n_layer,
        d_model=model.d_model,
        n_head=model.n_head,
    )


def parameter_count(params: Params, model: ModelConfig) -> int:
    return count_params(
        params.model_vocab_size, params.synthetic.seq_len, model.n_layer, model.d_model
    )


@functools.lru_cache(maxsize=64)
def _dataset(path: Path, stamp: tuple[int, int]) -> tuple[np.ndarray, str]:
    """Tokens and content hash of one dataset file, read once however many shapes use it
    (``stamp`` = mtime and size, so a rewritten file is read again)."""
    return read_tokens(path), hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def make_job(params: Params, run: Run, root: Path = Path(".")) -> TrainJob:
    data_path = layout.synthetic_dataset(run.dataset, root)
    if not data_path.is_file():
        read_tokens(data_path)  # raises ArtifactError naming the missing file
    stat = data_path.stat()
    tokens, fingerprint = _dataset(data_path.resolve(), (stat.st_mtime_ns, stat.st_size))
    return TrainJob(
        run_id=run.run_id,
        model=gpt_config(params, run.model),
        tokens=tokens,
        reference_bits=params.sequence_entropy_bits,
        train=params.train,
        seed=run.seed,
        first_token=params.score.first_token,
        model_dir=layout.model_dir(run.run_id, root),
        curve_path=layout.curve(run.run_id, root),
        checkpoint_dir=layout.checkpoint_dir(run.run_id, root),
        data_fingerprint=fingerprint,
    )


def pending_jobs(params: Params, root: Path = Path(".")) -> tuple[list[TrainJob], int]:
    """Jobs still to train, and how many runs are already trained with these settings."""
    jobs = [make_job(params, run, root) for run in capacity_runs(params)]
    todo = [job for job in jobs if not is_trained(job)]
    return todo, len(jobs) - len(todo)


class _ProgressSender:
    """Forwards step counts from a worker to the parent's bar, at most a few times a second."""

    def __init__(self, channel):
        self.channel, self.pending, self.last = channel, 0, time.monotonic()

    def __call__(self, steps: int) -> None:
        self.pending += steps
        if time.monotonic() - self.last > 0.5:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self.channel.put(self.pending)
        self.pending, self.last = 0, time.monotonic()


def _worker_init(threads: int) -> None:
    torch.set_num_threads(threads)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")


def _train_in_worker(job: TrainJob, channel) -> TrainSummary:
    sender = _ProgressSender(channel)
    try:
        return train_model(job, on_steps=sender)
    finally:
        sender.flush()


def train_jobs(jobs: list[TrainJob], workers: int, threads_per_worker: int) -> list[TrainSummary]:
    """Train ``jobs`` on ``workers`` processes with one progress bar (rate and ETA)."""
    if not jobs:
        return []
    total = sum(job.train.steps for job in jobs)
    bar = tqdm(total=total, desc=f"training {len(jobs)} models", unit="step", smoothing=0.05,
               mininterval=1.0)
    summaries: list[TrainSummary] = []
    try:
        if workers == 1 or len(jobs) == 1:
            torch.set_num_threads(threads_per_worker)
            for job in jobs:
                summaries.append(train_model(job, on_steps=bar.update))
            return summaries
        context = mp.get_context("spawn")
        with context.Manager() as manager, ProcessPoolExecutor(
            max_workers=min(workers, len(jobs)), mp_context=context,
            initializer=_worker_init, initargs=(threads_per_worker,),
        ) as pool:
            channel = manager.Queue()
            running = {pool.submit(_train_in_worker, job, channel) for job in jobs}
            while running:
                done, running = wait(running, timeout=0.5, return_when=FIRST_COMPLETED)
                _drain(channel, bar)
                summaries.extend(future.result() for future in done)
            _drain(channel, bar)
        return summaries
    finally:
        bar.close()


def _drain(channel, bar) -> None:
    while True:
        try:
            bar.update(channel.get_nowait())
        except queue.Empty:
            return


def train_grid(params: Params, root: Path = Path(".")) -> list[TrainSummary]:
    todo, done = pending_jobs(params, root)
    log.info("capacity grid: %d runs to train, %d already trained", len(todo), done)
    return train_jobs(todo, params.train.workers, params.train.threads_per_worker)
