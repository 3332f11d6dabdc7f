"""The task runners a flow's jobs run on, chosen at run time from ``runtime`` (or the CLI).

* ``local``: a pool of worker processes on this machine (``runtime.workers`` of them),
  because tiny models are bound by Python overhead and threads would not scale;
* ``dask``: a Dask cluster through ``prefect-dask``: an existing scheduler at
  ``dask_address``, or else a ``LocalCluster`` of ``runtime.workers`` processes. Workers on
  other machines need the project's ``data/`` on a shared filesystem at the same path (jobs
  carry absolute paths), or a DVC remote to pull inputs from and push results to.
"""

from __future__ import annotations

import os

from prefect.task_runners import ProcessPoolTaskRunner, TaskRunner

from pipeline.core.config import RuntimeConfig
from pipeline.core.errors import ConfigError
from pipeline.runtime.jobs import init_worker


def task_runner(runtime: RuntimeConfig) -> TaskRunner:
    if runtime.executor == "local":
        return ProcessPoolTaskRunner(max_workers=runtime.workers, initializer=init_worker,
                                     initargs=(runtime.threads_per_worker, os.getpid()))
    if runtime.executor == "dask":
        from prefect_dask import DaskTaskRunner

        if runtime.dask_address:
            return DaskTaskRunner(address=runtime.dask_address)
        return DaskTaskRunner(cluster_class="distributed.LocalCluster", cluster_kwargs={
            "n_workers": runtime.workers, "threads_per_worker": 1, "processes": True,
        })
    raise ConfigError(f"runtime.executor: unknown executor {runtime.executor!r}")
