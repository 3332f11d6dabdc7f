"""Jobs, and the local scheduler that runs them on a pool of worker processes.

Every grid of every track is a list of jobs. A job has a stable ``id``, a ``fingerprint``
of what determines its result, knows whether its result is already on disk (``is_done``),
and carries everything it needs to ``run`` in any process: `dvc repro` runs the pending ones
with :func:`run_jobs` here, and the Prefect flow maps the very same objects onto its task
runner (a local process pool, or Dask). Tiny models are bound by Python overhead, so
processes scale where threads would not.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import queue
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any, Protocol

import torch
from tqdm.auto import tqdm

log = logging.getLogger(__name__)


class Job(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def fingerprint(self) -> str: ...

    @property
    def size(self) -> int:
        """Units of progress ``run`` reports (e.g. optimizer steps)."""
        ...

    def is_done(self) -> bool: ...

    def run(self, on_progress: Callable[[int], None] | None = None) -> Any: ...


def pending(jobs: Sequence[Job]) -> list[Job]:
    """The jobs whose result is not yet on disk; their ids must be unique."""
    ids = [job.id for job in jobs]
    if len(set(ids)) != len(ids):
        raise ValueError(f"duplicate job ids: {sorted({i for i in ids if ids.count(i) > 1})}")
    return [job for job in jobs if not job.is_done()]


def init_worker(threads: int) -> None:
    """Run once in every worker process: torch threads, and logging to stderr."""
    torch.set_num_threads(threads)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")


class _ProgressSender:
    """Forwards progress from a worker to the parent's bar, at most a few times a second."""

    def __init__(self, channel):
        self.channel, self.pending, self.last = channel, 0, time.monotonic()

    def __call__(self, units: int) -> None:
        self.pending += units
        if time.monotonic() - self.last > 0.5:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self.channel.put(self.pending)
        self.pending, self.last = 0, time.monotonic()


def _run_in_worker(job: Job, channel) -> Any:
    sender = _ProgressSender(channel)
    try:
        return job.run(sender)
    finally:
        sender.flush()


def run_jobs(jobs: Sequence[Job], workers: int, threads_per_worker: int,
             description: str = "jobs") -> list[Any]:
    """Run ``jobs`` on ``workers`` processes with one progress bar (rate and ETA); returns
    their results in completion order."""
    if not jobs:
        return []
    bar = tqdm(total=sum(job.size for job in jobs), desc=f"{description}: {len(jobs)}",
               unit="step", smoothing=0.05, mininterval=1.0)
    results: list[Any] = []
    try:
        if workers == 1 or len(jobs) == 1:
            torch.set_num_threads(threads_per_worker)
            return [job.run(bar.update) for job in jobs]
        context = mp.get_context("spawn")
        with context.Manager() as manager, ProcessPoolExecutor(
            max_workers=min(workers, len(jobs)), mp_context=context,
            initializer=init_worker, initargs=(threads_per_worker,),
        ) as pool:
            channel = manager.Queue()
            running = {pool.submit(_run_in_worker, job, channel) for job in jobs}
            while running:
                done, running = wait(running, timeout=0.5, return_when=FIRST_COMPLETED)
                _drain(channel, bar)
                results.extend(future.result() for future in done)
            _drain(channel, bar)
        return results
    finally:
        bar.close()


def _drain(channel, bar) -> None:
    while True:
        try:
            bar.update(channel.get_nowait())
        except queue.Empty:
            return
