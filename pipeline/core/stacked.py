"""Grouping a grid's jobs into stacks: the runs of one shape, objective, training settings and
batch shape (a grid's N × seed runs) train together in one batched step
(:class:`~pipeline.core.trainer.Trainer` with several jobs; ``runtime.stack_models``).

Stacking is a runtime choice: it never changes a fingerprint, and each member ends where it
would alone up to float rounding. Budgeted jobs are never stacked: a budget is one run's
training time, which a stack would share out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pipeline.core.trainer import Trainer, TrainJob, TrainSummary, stack_key


def stack_jobs(jobs: Sequence[TrainJob]) -> list:
    """``jobs`` grouped into stacks (:class:`StackedTrainJob`) by
    :func:`~pipeline.core.trainer.stack_key`, in their order; a group of one stays a job."""
    groups: dict[tuple, list[TrainJob]] = {}
    for job in jobs:
        key = ("alone", job.id) if job.train.budget_seconds is not None else stack_key(job)
        groups.setdefault(key, []).append(job)
    return [members[0] if len(members) == 1 else StackedTrainJob(tuple(members))
            for members in groups.values()]


@dataclass(frozen=True)
class StackedTrainJob:
    """A job of the scheduler (:mod:`pipeline.runtime.jobs`) that trains its member jobs as
    one stack."""

    jobs: tuple[TrainJob, ...]

    @property
    def id(self) -> str:
        return f"{self.jobs[0].id}+{len(self.jobs) - 1}"

    @property
    def size(self) -> int:
        return sum(job.size for job in self.jobs)

    @property
    def cost(self) -> float:
        return sum(job.cost for job in self.jobs)

    @property
    def fingerprint(self) -> str:
        joined = ",".join(job.fingerprint for job in self.jobs)
        return hashlib.sha256(joined.encode()).hexdigest()[:16]

    def is_done(self) -> bool:
        return all(job.is_done() for job in self.jobs)

    def run(self, on_progress: Callable[[int], None] | None = None) -> list[TrainSummary]:
        """Trains the members not yet done; returns their summaries."""
        todo = [job for job in self.jobs if not job.is_done()]
        return Trainer(todo, on_progress).run() if todo else []
