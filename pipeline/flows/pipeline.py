"""The whole pipeline as one Prefect flow over DVC's own stage graph.

For every stage of ``dvc.yaml``, as soon as the stages it depends on are done (independent
stages, such as the two tracks, run at the same time), the flow asks DVC whether the stage
is stale. An up-to-date stage is skipped. A stale one has its non-persistent outputs removed
(as `dvc repro` does), its pending jobs mapped onto the task runner (a local process pool or
Dask; see :mod:`pipeline.flows.runners`), its own work run, and is recorded in ``dvc.lock``
with ``dvc commit``. So after a flow run ``dvc status`` is clean, and after ``dvc repro`` the
flow skips every stage. The flow holds DVC's repository lock throughout, so a `dvc repro`
started meanwhile fails at once instead of writing into the same folders.

Jobs and stage work are retried on failure (a training job resumes from its checkpoint),
except for configuration and input errors, which no retry can fix.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

# Our own loggers' records appear in the Prefect UI next to Prefect's; no telemetry (this
# runs offline, where every attempt would log an error).
os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "pipeline,stages")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

from prefect import flow, get_run_logger, task  # noqa: E402
from prefect.task_runners import TaskRunner  # noqa: E402

from pipeline.core.device import set_threads  # noqa: E402
from pipeline.core.errors import ConfigError, PipelineError  # noqa: E402
from pipeline.dvcfile import find_stage  # noqa: E402
from pipeline.flows.artifacts import publish  # noqa: E402
from pipeline.flows.dvc_graph import DvcProject, locked_project  # noqa: E402
from pipeline.flows.runners import task_runner  # noqa: E402
from pipeline.params import PARAMS_FILE, load_params  # noqa: E402
from pipeline.runtime.jobs import Job, longest_first  # noqa: E402
from pipeline.runtime.stage import (  # noqa: E402
    pending_jobs,
    prepare_stage,
    run_work,
    stage_params,
)

FLOW_NAME = "memorization-pipeline"


def show_pipeline_logs() -> None:
    """The pipeline's INFO records (α, per-model summaries) go to the run's logs in the UI,
    through the handlers Prefect gives its "extra" loggers, even when Prefect configured
    logging before PREFECT_LOGGING_EXTRA_LOGGERS was set."""
    for name in ("pipeline", "stages"):
        logger = logging.getLogger(name)
        logger.setLevel(logging.INFO)
        for handler in logging.getLogger("prefect.extra").handlers:
            if handler not in logger.handlers:
                logger.addHandler(handler)


def retry_unless_user_error(task, task_run, state) -> bool:
    """Retry a failed task unless parameters or inputs caused the failure."""
    try:
        state.result()
    except PipelineError:
        return False
    except Exception:
        return True
    return True


@task(retries=2, retry_delay_seconds=5, retry_condition_fn=retry_unless_user_error)
def run_job(job: Job, threads: int) -> str:
    """Run one job wherever the task runner put it; a retry of a training job resumes from
    its last checkpoint."""
    show_pipeline_logs()
    set_threads(threads)
    result = job.run()
    get_run_logger().info("%s: %s", job.id, result)
    return job.id


@task(retries=1, retry_delay_seconds=5, retry_condition_fn=retry_unless_user_error)
def run_stage_work(stage: str, root: str) -> None:
    """A stage's own work (scoring, fitting, a report) in the flow's process."""
    declared = find_stage(stage)
    run_work(declared, stage_params(declared, Path(root)), Path(root))


class StageRunner:
    """Brings one stage up to date once its upstream stages are, inside the flow."""

    def __init__(self, project: DvcProject, runner: TaskRunner, root: Path):
        self.project, self.runner, self.root = project, runner, root
        self.log = get_run_logger()

    def __call__(self, stage: str, upstream: list[Future]) -> str:
        failed = [f for f in upstream if f.exception() is not None]
        if failed:
            raise RuntimeError(f"stage {stage} not run: an upstream stage failed")
        if not self.project.is_stale(stage):
            self.log.info("stage %s is up to date; skipping", stage)
            return "skipped"
        self.log.info("stage %s is stale; running it", stage)
        self.project.remove_outputs(stage)
        declared = find_stage(stage)
        params = stage_params(declared, self.root)
        prepare_stage(declared, params, self.root)
        jobs = pending_jobs(declared, params, self.root)
        threads = params.runtime.threads_per_worker
        futures = [self.runner.submit(run_job.with_options(task_run_name=f"{stage}: {job.id}"),
                                      {"job": job, "threads": threads})
                   for job in longest_first(jobs)]
        for future in futures:
            future.result()
        run_stage_work.with_options(task_run_name=stage)(stage, str(self.root))
        self.project.commit(stage)
        self.log.info("stage %s done and recorded in dvc.lock", stage)
        return "ran"


def run_graph(graph: dict[str, list[str]], run_one) -> dict[str, Future]:
    """Start every stage in a thread of its own, each waiting for its upstream stages."""
    futures: dict[str, Future] = {}
    pool = ThreadPoolExecutor(max_workers=max(1, len(graph)), thread_name_prefix="stage")
    remaining = dict(graph)
    while remaining:  # submit in dependency order, so every upstream future exists
        ready = [s for s, up in remaining.items() if all(u in futures for u in up)]
        if not ready:
            raise RuntimeError(f"dvc.yaml has a cycle among {sorted(remaining)}")
        for stage in sorted(ready):
            upstream = [futures[u] for u in remaining.pop(stage)]
            # Each stage thread runs in a copy of the flow's context, so its tasks belong to
            # this flow run.
            context = contextvars.copy_context()
            futures[stage] = pool.submit(context.run, _after, upstream, run_one, stage)
    pool.shutdown(wait=True)
    return futures


def restrict_to(graph: dict[str, list[str]], targets: list[str] | None) -> dict[str, list[str]]:
    """The part of ``graph`` that ``targets`` need: the targets and everything upstream of
    them, as `dvc repro TARGET` runs (all of it when there are no targets)."""
    if not targets:
        return graph
    unknown = sorted(set(targets) - set(graph))
    if unknown:
        raise ConfigError(f"no stage {', '.join(unknown)} in dvc.yaml; stages: "
                          f"{', '.join(sorted(graph))}")
    needed, todo = set(), list(targets)
    while todo:
        stage = todo.pop()
        if stage not in needed:
            needed.add(stage)
            todo.extend(graph[stage])
    return {stage: upstream for stage, upstream in graph.items() if stage in needed}


def _after(upstream: list[Future], run_one, stage: str) -> str:
    wait(upstream)  # run_one sees a failed upstream stage and refuses to run
    return run_one(stage, upstream)


@flow(name=FLOW_NAME, log_prints=True)
def memorization_pipeline(project_root: str = ".", executor: str | None = None,
                          dask_address: str | None = None,
                          targets: list[str] | None = None) -> dict[str, str]:
    """Bring every DVC stage (or ``targets`` and what they need) up to date; returns each
    stage's fate ("ran" or "skipped")."""
    show_pipeline_logs()
    root = Path(project_root).resolve()
    params = load_params(root / PARAMS_FILE)  # the whole file, before any work
    overrides: dict[str, Any] = {}
    if executor:
        overrides["executor"] = executor
    if dask_address:
        overrides["executor"], overrides["dask_address"] = "dask", dask_address
    runtime = params.runtime.model_copy(update=overrides)
    log = get_run_logger()
    log.info("project %s; jobs run on %s", root, runtime.executor
             + (f" at {runtime.dask_address}" if runtime.dask_address else ""))
    # DVC resolves stage addresses against the working directory; jobs carry absolute paths
    # and never depend on it.
    with contextlib.chdir(root), locked_project(root) as project, \
            task_runner(runtime) as runner:
        graph = restrict_to(project.stage_graph(), targets)
        futures = run_graph(graph, StageRunner(project, runner, root))
    fates, errors = {}, []
    for stage, future in futures.items():
        try:
            fates[stage] = future.result()
        except Exception as error:
            fates[stage] = "failed"
            errors.append(f"{stage}: {error}")
    if errors:
        raise RuntimeError("stages failed:\n  " + "\n  ".join(errors))
    publish(root)
    return fates

