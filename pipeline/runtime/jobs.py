"""Jobs, and the local scheduler that runs them on a pool of worker processes.

Every grid of every track is a list of jobs. A job has a stable ``id``, a ``fingerprint``
of what determines its result, knows whether its result is already on disk (``is_done``),
and carries everything it needs to ``run`` in any process: `dvc repro` runs the pending ones
with :func:`run_jobs` here, and the Prefect flow maps the very same objects onto its task
runner (a local process pool, or Dask). Tiny models are bound by Python overhead, so
processes scale where threads would not.

Workers never outlive their parent, however it ends (a watchdog in each worker exits when the
parent is gone), and when one job fails the others are stopped at once, so nothing is written
after the stage has failed.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any, Protocol

from tqdm.auto import tqdm

from pipeline.core.device import set_threads

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


def longest_first(jobs: Sequence[Job]) -> list[Job]:
    """The jobs by decreasing estimated cost (a job's ``cost`` if it has one, else its
    ``size``). Started in this order on a pool, the long jobs do not end up last, running
    alone while the other workers idle (longest-processing-time-first scheduling)."""
    return sorted(jobs, key=lambda job: getattr(job, "cost", job.size), reverse=True)


def init_worker(threads: int, parent: int | None = None) -> None:
    """Run once in every worker process: torch threads, logging to stderr, and the watchdog
    that ends the worker when ``parent`` (the process that started the pool; pass its pid,
    as the worker may only get here after its parent is gone) ends."""
    set_threads(threads)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    for noisy in ("httpx", "httpcore"):  # a line per Prefect API request otherwise
        logging.getLogger(noisy).setLevel(logging.WARNING)
    threading.Thread(target=_exit_with_parent, args=(parent or os.getppid(),), daemon=True,
                     name="exit-with-parent").start()


def _exit_with_parent(parent: int, interval: float = 0.2) -> None:
    # An orphan is re-parented, so its parent id changes. Exiting at once (no cleanup) is
    # safe: every write is atomic, and the next run removes the temporaries.
    while os.getppid() == parent:
        time.sleep(interval)
    os._exit(70)


_progress_channel = None


def _init_pool_worker(threads: int, parent: int, channel) -> None:
    global _progress_channel
    init_worker(threads, parent)
    _progress_channel = channel


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


def _run_in_worker(job: Job) -> Any:
    sender = _ProgressSender(_progress_channel)
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
            set_threads(threads_per_worker)
            return [job.run(bar.update) for job in jobs]
        context = mp.get_context("spawn")
        channel = context.Queue()
        pool = ProcessPoolExecutor(
            max_workers=min(workers, len(jobs)), mp_context=context,
            initializer=_init_pool_worker, initargs=(threads_per_worker, os.getpid(), channel),
        )
        try:
            running = {pool.submit(_run_in_worker, job) for job in longest_first(jobs)}
            while running:
                done, running = wait(running, timeout=0.5, return_when=FIRST_COMPLETED)
                _drain(channel, bar)
                results.extend(future.result() for future in done)
            _drain(channel, bar)
        except BaseException:
            stop_workers(pool)
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        return results
    finally:
        bar.close()


def stop_workers(pool: ProcessPoolExecutor) -> None:
    """Kill the pool's workers now: after a failure (or Ctrl-C) no job may go on to write."""
    # ProcessPoolExecutor.terminate_workers() arrives in Python 3.14; until then, its table.
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.terminate()


def _drain(channel, bar) -> None:
    while True:
        try:
            bar.update(channel.get_nowait())
        except queue.Empty:
            return
