"""How one declared stage (:class:`~pipeline.core.track.Stage`) runs, the same way under
`dvc repro` and under the Prefect flow.

Under `dvc repro` (``python -m stages <name>``), :func:`run_stage` reads the params the stage's
schema declares, checks the device, removes what a killed earlier run left in the stage's
outputs, runs the pending jobs on the local process pool and then the stage's work. The
Prefect flow calls the same functions and maps the pending jobs onto its own task runner.
"""

from __future__ import annotations

import logging
from pathlib import Path

from pipeline.core.config import PARAMS_FILE, TrackParams, load
from pipeline.core.device import resolve_device, set_threads
from pipeline.core.integrity import remove_temporaries, remove_temporaries_of
from pipeline.core.track import Stage
from pipeline.runtime.jobs import Job, pending, run_jobs

log = logging.getLogger(__name__)


def stage_params(stage: Stage, root: Path) -> TrackParams:
    """The stage's params, validated against the schema it declares."""
    return load(stage.schema, root / PARAMS_FILE)


def prepare_stage(stage: Stage, params: TrackParams, root: Path) -> None:
    """Before any work: the device asked for exists, and no temporary of a killed write is
    left in the stage's outputs (it would end up in what DVC records)."""
    resolve_device(params.runtime.device)
    for output in stage.outs:
        remove_temporaries_of(root / output.path)
        remove_temporaries(root / output.path)


def pending_jobs(stage: Stage, params: TrackParams, root: Path) -> list[Job]:
    """The stage's jobs whose results are not yet on disk (none if it has no grid)."""
    if stage.jobs is None:
        return []
    jobs = stage.jobs(params, root)
    todo = pending(jobs)
    log.info("%s: %d jobs to run, %d already done", stage.name, len(todo),
             len(jobs) - len(todo))
    return todo


def run_work(stage: Stage, params: TrackParams, root: Path) -> None:
    if stage.work is not None:
        stage.work(params, root)


def run_stage(stage: Stage, root: Path = Path(".")) -> None:
    """Run a stage in this process: its pending jobs on the local pool, then its work."""
    root = root.resolve()
    params = stage_params(stage, root)
    set_threads(params.runtime.threads_per_worker)
    prepare_stage(stage, params, root)
    todo = pending_jobs(stage, params, root)
    run_jobs(todo, params.runtime.workers, params.runtime.threads_per_worker,
             description=stage.name)
    run_work(stage, params, root)
