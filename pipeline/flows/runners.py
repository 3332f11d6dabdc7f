"""The task runners a flow's jobs run on, chosen from ``runtime.cluster`` (or the CLI), and the
one Prefect API every task run reports to, wherever it runs.

* ``local``: a pool of worker processes on this machine (``runtime.workers`` of them),
  because tiny models are bound by Python overhead and threads would not scale;
* ``dask``: a Dask cluster through ``prefect-dask``: an existing scheduler at
  ``cluster.address``, or else a ``LocalCluster`` of ``runtime.workers`` processes;
* ``slurm``, ``pbs``, ``lsf``: batch jobs through dask-jobqueue
  (:mod:`pipeline.runtime.cluster`), scaled to the waiting jobs, cancelled at the end.

Workers see the project at the same path (a shared filesystem; jobs carry absolute paths),
or, with ``cluster.shared_filesystem: false``, exchange inputs and outputs through the
project's DVC remote (:mod:`pipeline.flows.remote`).

Task runs on workers report to the flow's Prefect API: workers get its URL (a temporary
server's too, when every worker is on this machine). Batch jobs or a Dask scheduler on other
hosts cannot reach a temporary server on loopback: such a flow is refused, before anything is
submitted, with the one line saying to start ``prefect server`` and set ``PREFECT_API_URL``.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

from distributed.diagnostics.plugin import WorkerPlugin
from prefect.settings import PREFECT_API_URL
from prefect.task_runners import ProcessPoolTaskRunner, TaskRunner

from pipeline.core.config import RuntimeConfig
from pipeline.core.errors import ConfigError
from pipeline.runtime import cluster as batch
from pipeline.runtime.jobs import init_worker, stop_workers

START_A_SERVER = ("start one with `prefect server start --host 0.0.0.0` and set "
                  "PREFECT_API_URL=http://{host}:4200/api before the flow")


def is_loopback(url: str) -> bool:
    host = urlparse(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def workers_elsewhere(runtime: RuntimeConfig) -> bool:
    """Whether some worker may run on another machine than the flow."""
    cluster = runtime.cluster
    if cluster.kind == "dask":
        return cluster.address is not None and not is_loopback(
            cluster.address.replace("tcp://", "http://"))
    if batch.is_batch(runtime):
        return not batch.on_this_host_only(runtime)
    return False


def check_api(runtime: RuntimeConfig, api_url: str | None) -> None:
    """Refuse (one line) a flow whose task runs would be lost: workers on other machines
    while the API is a temporary server, or a loopback URL, here."""
    if not workers_elsewhere(runtime):
        return
    kind = runtime.cluster.kind
    host = socket.gethostname()
    if api_url is None:
        raise ConfigError(
            f"runtime.cluster.kind: {kind} runs task runs on other machines, which cannot "
            "report to this flow's temporary Prefect server (their runs and logs would be "
            f"lost): {START_A_SERVER.format(host=host)}")
    if is_loopback(api_url):
        raise ConfigError(
            f"PREFECT_API_URL is {api_url}, which {kind} workers on other machines cannot "
            f"reach: {START_A_SERVER.format(host=host)}")


def api_url() -> str | None:
    """The flow's Prefect API: PREFECT_API_URL, or the temporary server's, or None."""
    url = PREFECT_API_URL.value()
    if url:
        return url
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer()
    return server.api_url if server.running else None


def worker_environment(url: str | None) -> dict[str, str]:
    """What a worker's Prefect needs to report to the flow's API, with the pipeline's logs."""
    env = {"PREFECT_LOGGING_EXTRA_LOGGERS": "pipeline,stages",
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    if url:
        env["PREFECT_API_URL"] = url
    return env


@contextlib.contextmanager
def task_runner(runtime: RuntimeConfig, root: Path, url: str | None) -> Iterator[TaskRunner]:
    """A started task runner for ``runtime.cluster``, closed (with its cluster) at the end."""
    cluster = runtime.cluster
    env = worker_environment(url)
    if cluster.kind == "local":
        os.environ.update(env)  # the pool's processes inherit it
        runner = ProcessPoolTaskRunner(max_workers=runtime.workers, initializer=init_worker,
                                       initargs=(runtime.threads_per_worker, os.getpid()))
        with runner:
            try:
                yield runner
            except BaseException:  # Ctrl-C, SIGTERM, a failed stage: no job goes on writing
                if runner._executor is not None:
                    stop_workers(runner._executor)
                raise
        return
    from prefect_dask import DaskTaskRunner

    if cluster.kind == "dask":
        if cluster.address:
            runner = DaskTaskRunner(address=cluster.address)
        else:
            os.environ.update(env)  # the LocalCluster's processes inherit it
            runner = DaskTaskRunner(cluster_class="distributed.LocalCluster", cluster_kwargs={
                "n_workers": runtime.workers, "threads_per_worker": 1, "processes": True,
                "dashboard_address": ":0"})
        with runner:
            _hand_over_environment(runner, env)
            yield runner
            _drain_worker_logs(runner)
        return
    with batch.batch_cluster(runtime, root, env) as jobs, \
            DaskTaskRunner(address=jobs.scheduler_address) as runner:
        yield runner
        _drain_worker_logs(runner)


def drain_logs() -> None:
    """Send this process's pending log records to the Prefect API now (they go in batches
    every few seconds, and a batch job may be cancelled sooner)."""
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=10)


def _drain_worker_logs(runner) -> None:
    """Every worker's pending log records to the API, before the cluster closes."""
    try:
        runner.client.run(drain_logs)
    except Exception as error:  # noqa: BLE001 - a lost worker loses only its last lines
        runner.logger.warning("could not collect the workers' last log lines: %s", error)


def _hand_over_environment(runner, env: dict[str, str]) -> None:
    """Give every worker of the Dask cluster, present and future, the API's environment."""
    runner.client.register_plugin(EnvironmentPlugin(env), name="pipeline-environment")


class EnvironmentPlugin(WorkerPlugin):
    """A Dask worker plugin setting environment variables in each worker process."""

    def __init__(self, env: dict[str, str]):
        self.env = env

    def setup(self, worker) -> None:
        os.environ.update(self.env)
