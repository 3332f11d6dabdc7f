"""How one DVC stage runs, the same way under `dvc repro` and under the Prefect flow.

A stage module in ``stages/`` names the params schema it reads (``PARAMS``, a
:class:`~pipeline.core.config.TrackParams`) and defines up to two functions of
``(params, root)``:

* ``jobs``: the stage's grid as a list of jobs (:mod:`pipeline.core.jobs`), done or not;
* ``work``: what the stage does after its jobs (or instead of them): scoring, a fit, a report.

Under `dvc repro`, :func:`run_stage` reads the params, checks the device and removes what
a killed earlier run left in the stage's outputs, runs the pending jobs on the local process
pool and then ``work``. The Prefect flow calls the same functions, and maps the pending jobs
onto its own task runner instead.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import yaml

from pipeline.core.cli import exit_on_user_error
from pipeline.core.config import PARAMS_FILE, TrackParams, load
from pipeline.core.device import resolve_device, set_threads
from pipeline.core.integrity import remove_temporaries, remove_temporaries_of
from pipeline.core.jobs import Job, pending, run_jobs

DVC_FILE = "dvc.yaml"

log = logging.getLogger(__name__)


def stage_name(module: ModuleType) -> str:
    # Under `python -m stages.x` the module is __main__; its spec still has the real name.
    name = module.__spec__.name if module.__spec__ else module.__name__
    return name.rpartition(".")[2]


def stage_params(module: ModuleType, root: Path) -> TrackParams:
    """The stage's params, validated against the schema it declares."""
    return load(module.PARAMS, root / PARAMS_FILE)


def stage_outputs(stage: str, root: Path) -> list[Path]:
    """The paths ``dvc.yaml`` declares as the stage's outputs (outs, metrics and plots)."""
    path = root / DVC_FILE
    if not path.is_file():
        return []
    declared = (yaml.safe_load(path.read_text()) or {}).get("stages", {}).get(stage, {})
    entries = [entry for kind in ("outs", "metrics", "plots") for entry in declared.get(kind, [])]
    return [root / (next(iter(entry)) if isinstance(entry, dict) else entry)
            for entry in entries]


def prepare_stage(module: ModuleType, params: TrackParams, root: Path) -> None:
    """Before any work: the device asked for exists, and no temporary of a killed write is
    left in the stage's outputs (it would end up in what DVC records)."""
    resolve_device(params.runtime.device)
    for output in stage_outputs(stage_name(module), root):
        remove_temporaries_of(output)
        remove_temporaries(output)


def pending_jobs(module: ModuleType, params: TrackParams, root: Path) -> list[Job]:
    """The stage's jobs whose results are not yet on disk (none if it has no grid)."""
    make_jobs: Callable[[TrackParams, Path], list[Job]] | None = getattr(module, "jobs", None)
    if make_jobs is None:
        return []
    jobs = make_jobs(params, root)
    todo = pending(jobs)
    log.info("%s: %d jobs to run, %d already done", stage_name(module), len(todo),
             len(jobs) - len(todo))
    return todo


def run_work(module: ModuleType, params: TrackParams, root: Path) -> None:
    work: Callable[[TrackParams, Path], object] | None = getattr(module, "work", None)
    if work is not None:
        work(params, root)


def run_stage(module: ModuleType, root: Path = Path(".")) -> None:
    """Run a stage in this process: its pending jobs on the local pool, then its work."""
    root = root.resolve()
    params = stage_params(module, root)
    set_threads(params.runtime.threads_per_worker)
    prepare_stage(module, params, root)
    todo = pending_jobs(module, params, root)
    run_jobs(todo, params.runtime.workers, params.runtime.threads_per_worker,
             description=stage_name(module))
    run_work(module, params, root)


def stage_main(module_name: str) -> Callable[[], None]:
    """A stage module's ``main``: :func:`run_stage` with user errors as one line, exit 2."""
    def main() -> None:
        exit_on_user_error(lambda: run_stage(importlib.import_module(module_name)))
    return main
