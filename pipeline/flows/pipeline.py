"""The whole pipeline as one Prefect flow over DVC's own stage graph.

For every stage of ``dvc.yaml``, as soon as the stages it depends on are done (independent
stages, such as the two tracks, run at the same time), the flow runs the stage's task, which
asks DVC whether the stage is stale. An up-to-date stage's task ends "Cached", with that
reason. A stale one has its non-persistent outputs removed (as `dvc repro` does), its pending
jobs mapped onto the task runner (a local process pool, Dask, or batch jobs on a cluster; see
:mod:`pipeline.flows.runners`), its own work run, and is recorded in ``dvc.lock`` with
``dvc commit``. So after a flow run ``dvc status`` is clean, and after ``dvc repro`` the flow
skips every stage. The flow holds DVC's repository lock throughout, so a `dvc repro` started
meanwhile fails at once instead of writing into the same folders. Every stage is a task run
in the Prefect UI, drawn after the stages it waits for, with its jobs and its work inside.

Jobs and stage work are retried on failure (a training job resumes from its checkpoint),
except for configuration and input errors, which no retry can fix.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

# Our own loggers' records appear in the Prefect UI next to Prefect's; no telemetry (this
# runs offline, where every attempt would log an error).
os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "pipeline,stages")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

from prefect import flow, get_run_logger, task  # noqa: E402
from prefect.cache_policies import NO_CACHE  # noqa: E402
from prefect.settings import PREFECT_API_URL, temporary_settings  # noqa: E402
from prefect.states import Completed, Failed, State  # noqa: E402
from prefect.task_runners import TaskRunner  # noqa: E402

from pipeline.core.device import set_threads  # noqa: E402
from pipeline.core.errors import ConfigError, PipelineError  # noqa: E402
from pipeline.dvcfile import find_stage  # noqa: E402
from pipeline.flows.artifacts import publish  # noqa: E402
from pipeline.flows.dvc_graph import DvcProject, ProjectBusy, locked_project  # noqa: E402
from pipeline.flows.remote import RemoteExchange, run_job_in_scratch  # noqa: E402
from pipeline.flows.runners import api_url, check_api, drain_logs, task_runner  # noqa: E402
from pipeline.params import PARAMS_FILE, load_params  # noqa: E402
from pipeline.runtime import cluster as batch  # noqa: E402
from pipeline.runtime.jobs import Job, longest_first  # noqa: E402
from pipeline.runtime.stage import (  # noqa: E402
    pending_jobs,
    prepare_stage,
    run_work,
    stage_params,
)

FLOW_NAME = "memorization-pipeline"
NOISY_LOGGERS = ("httpx", "httpcore", "dvc", "filelock", "urllib3", "distributed")
UP_TO_DATE = "up to date: dvc status finds no change in its deps, params, outputs or command"


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
    # No line per HTTP request, nor DVC's "Updating lock file" (the stage task says it).
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def retry_unless_user_error(task, task_run, state) -> bool:
    """Retry a failed task unless parameters or inputs caused the failure."""
    try:
        state.result()
    except PipelineError:
        return False
    except Exception:
        return True
    return True


def describe(result: Any) -> str:
    """A job's result as a log line: its own summary, never a repr."""
    if isinstance(result, list | tuple):
        return "; ".join(describe(item) for item in result)
    if isinstance(result, dict):
        return ", ".join(f"{key} {value:.4g}" if isinstance(value, float) else f"{key} {value}"
                         for key, value in result.items()
                         if isinstance(value, str | int | float | bool))
    return str(result)


@task(retries=2, retry_delay_seconds=5, retry_condition_fn=retry_unless_user_error)
def run_job(job: Job, threads: int) -> str:
    """Run one job wherever the task runner put it; a retry of a training job resumes from
    its last checkpoint."""
    show_pipeline_logs()
    set_threads(threads)
    result = job.run()
    get_run_logger().info("%s", describe(result))
    drain_logs()
    return job.id


@task(retries=2, retry_delay_seconds=5, retry_condition_fn=retry_unless_user_error)
def run_remote_job(spec: dict, threads: int) -> dict:
    """Run one job in a scratch folder of the worker's own, exchanging inputs and outputs
    through the DVC remote (:mod:`pipeline.flows.remote`)."""
    show_pipeline_logs()
    set_threads(threads)
    outcome = run_job_in_scratch(spec)
    get_run_logger().info("%s", describe(outcome.pop("result")))
    drain_logs()
    return outcome


@task(retries=1, retry_delay_seconds=5, retry_condition_fn=retry_unless_user_error)
def run_stage_work(stage: str, root: str) -> None:
    """A stage's own work (scoring, fitting, a report) in the flow's process."""
    declared = find_stage(stage)
    run_work(declared, stage_params(declared, Path(root)), Path(root))


class StageRunner:
    """Brings one stage up to date, as a task run, once its upstream stages are."""

    def __init__(self, project: DvcProject, runner: TaskRunner, root: Path,
                 exchange: RemoteExchange | None, stop: threading.Event | None = None):
        self.project, self.runner, self.root, self.exchange = project, runner, root, exchange
        self.stop = stop or threading.Event()

    def check(self) -> None:
        """Refuse the next step of a stage once the flow is ending."""
        if self.stop.is_set():
            raise Stopped("the flow run is ending; the stage stopped before its next step")

    def __call__(self, stage: str, upstream: list[Future]) -> State:
        failed = [f for f in upstream if f.exception() is not None]
        if failed:
            raise RuntimeError(f"stage {stage} not run: an upstream stage failed")
        # The upstream stages' states as wait_for: the UI draws the edges.
        state = stage_task.with_options(name=stage, task_run_name=stage)(
            stage, wait_for=[f.result() for f in upstream], return_state=True)
        if state.is_failed():
            state.result()  # raises the stage's error
        return state

    def bring_up_to_date(self, stage: str) -> State:
        log = get_run_logger()
        self.check()
        if not self.project.is_stale(stage):
            log.info("%s is %s", stage, UP_TO_DATE)
            return Completed(name="Cached", message=UP_TO_DATE, data="skipped")
        log.info("%s is stale; running it", stage)
        self.check()
        self.project.remove_outputs(stage)
        declared = find_stage(stage)
        params = stage_params(declared, self.root)
        prepare_stage(declared, params, self.root)
        jobs = longest_first(pending_jobs(declared, params, self.root))
        threads = params.runtime.threads_per_worker
        if self.exchange is not None and jobs:
            self._run_remote(declared, jobs, threads)
        else:
            futures = [self.runner.submit(
                run_job.with_options(task_run_name=f"{stage}: {job.id}"),
                {"job": job, "threads": threads}) for job in jobs]
            for future in futures:
                future.result()
        self.check()
        run_stage_work.with_options(task_run_name=f"{stage}: work")(stage, str(self.root))
        self.check()  # no commit of what an interrupted run may have left half done
        self.project.commit(stage)
        log.info("%s done and recorded in dvc.lock", stage)
        return Completed(message="ran and recorded in dvc.lock", data="ran")

    def _run_remote(self, declared, jobs: list[Job], threads: int) -> None:
        specs = self.exchange.prepare(declared, jobs)
        futures = [self.runner.submit(
            run_remote_job.with_options(task_run_name=f"{declared.name}: {job.id}"),
            {"spec": spec, "threads": threads}) for job, spec in zip(jobs, specs, strict=True)]
        for future in futures:
            self.exchange.collect(future.result())


# The flow's StageRunner, for the stage tasks (a task's parameters are only the stage's name).
_stage_runner: contextvars.ContextVar[StageRunner] = contextvars.ContextVar("stage_runner")


def bring_stage_up_to_date(stage: str) -> State:
    """One DVC stage, brought up to date (or found so)."""
    return _stage_runner.get().bring_up_to_date(stage)


# Made from a module-level function (not a decorated one) so that the jobs a stage submits,
# which carry this task in their context, pickle it by reference.
stage_task = task(bring_stage_up_to_date, cache_policy=NO_CACHE)


def run_stages(graph: dict[str, list[str]], runner: StageRunner,
               pool: ThreadPoolExecutor) -> dict[str, Future]:
    """Every stage of ``graph`` as a task run of this flow, brought up to date by ``runner``."""
    # Set here, not in the flow's body: a flow's function travels to workers by value, with
    # the globals it names, and a ContextVar does not pickle.
    _stage_runner.set(runner)
    return run_graph(graph, runner, pool)


@contextlib.contextmanager
def stage_threads() -> Iterator[tuple[ThreadPoolExecutor, threading.Event]]:
    """The threads the stages run in, and the event telling them to stop. However the block
    ends (Ctrl-C and SIGTERM too), they are told to stop and are waited for, so that none
    writes or commits after the flow lets go of DVC's lock (enter it outside that lock,
    inside it the task runner, whose closing ends the jobs they wait for)."""
    # Threads start only as stages are submitted; one per stage (each waits for its upstream
    # stages in its thread), so the bound only has to exceed any graph.
    pool = ThreadPoolExecutor(max_workers=256, thread_name_prefix="stage")
    stop = threading.Event()
    try:
        yield pool, stop
    finally:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)


class Stopped(RuntimeError):
    """The flow is ending (interrupted, or a failure elsewhere): no more stage steps."""


def run_graph(graph: dict[str, list[str]], run_one,
              pool: ThreadPoolExecutor | None = None) -> dict[str, Future]:
    """Start every stage in a thread of its own, each waiting for its upstream stages."""
    futures: dict[str, Future] = {}
    own = pool is None
    pool = pool or ThreadPoolExecutor(max_workers=max(1, len(graph)),
                                      thread_name_prefix="stage")
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
    if own:
        pool.shutdown(wait=True)
    else:
        wait(futures.values())
    return futures


def restrict_to(graph: dict[str, list[str]], targets: list[str] | None) -> dict[str, list[str]]:
    """The part of ``graph`` that ``targets`` need: the targets and everything upstream of
    them, as `dvc repro TARGET` runs (all of it when there are no targets). A target may be
    written as DVC writes it, ``dvc.yaml:NAME``."""
    if not targets:
        return graph
    targets = [target.removeprefix("dvc.yaml:") for target in targets]
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


def _after(upstream: list[Future], run_one, stage: str):
    wait(upstream)  # run_one sees a failed upstream stage and refuses to run
    return run_one(stage, upstream)


def resolve_runtime(params, cluster: str | None = None, dask_address: str | None = None):
    """``runtime`` with the command line's choice of cluster over params.yaml's."""
    updates: dict[str, Any] = {}
    if cluster:
        updates["kind"] = cluster
    if dask_address:
        updates["kind"], updates["address"] = "dask", dask_address
    runtime = params.runtime
    return runtime.model_copy(update={"cluster": runtime.cluster.model_copy(update=updates)})


def preflight(root: Path, runtime, api: str | None) -> RemoteExchange | None:
    """Everything checkable before a job is submitted, each failure one line naming its key:
    the cluster (package, partition, GPUs), the Prefect API its workers report to, the DVC
    remote when the workers share no filesystem."""
    batch.check(runtime)
    check_api(runtime, api)
    if runtime.cluster.shared_filesystem:
        return None
    return RemoteExchange.for_project(root, runtime.cluster.dvc_remote)


@flow(name=FLOW_NAME, log_prints=True)
def memorization_pipeline(project_root: str = ".", cluster: str | None = None,
                          dask_address: str | None = None,
                          targets: list[str] | None = None) -> dict[str, str]:
    """Bring every DVC stage (or ``targets`` and what they need) up to date; returns each
    stage's fate ("ran" or "skipped")."""
    show_pipeline_logs()
    root = Path(project_root).resolve()
    params = load_params(root / PARAMS_FILE)  # the whole file, before any work
    runtime = resolve_runtime(params, cluster, dask_address)
    api = api_url()
    exchange = preflight(root, runtime, PREFECT_API_URL.value())
    log = get_run_logger()
    where = runtime.cluster.kind + (f" at {runtime.cluster.address}"
                                    if runtime.cluster.address else "")
    log.info("project %s; jobs run on %s", root, where)
    # Workers (and their task runs) report to this API, a temporary server's too.
    settings = temporary_settings(updates={PREFECT_API_URL: api}) if api and \
        not PREFECT_API_URL.value() else contextlib.nullcontext()
    # DVC resolves stage addresses against the working directory; jobs carry absolute paths
    # and never depend on it.
    try:
        with settings, contextlib.chdir(root), locked_project(root) as project, \
                stage_threads() as (pool, stop), task_runner(runtime, root, api) as runner:
            graph = restrict_to(project.stage_graph(), targets)
            if exchange is not None:
                exchange.attach(project)
            futures = run_stages(graph, StageRunner(project, runner, root, exchange, stop),
                                 pool)
    except ProjectBusy as busy:  # e.g. a scheduled run while the last one still runs
        log.error("%s", busy)
        return Failed(message=str(busy))
    fates, errors = {}, []
    for stage, future in futures.items():
        try:
            fates[stage] = future.result().result()
        except Exception as error:
            fates[stage] = "failed"
            errors.append(f"{stage}: {error}")
    if errors:
        raise RuntimeError("stages failed:\n  " + "\n  ".join(errors))
    publish(root)
    return fates
