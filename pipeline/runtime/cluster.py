"""Batch clusters from ``runtime.cluster``: Slurm, PBS or LSF through dask-jobqueue.

Each batch job is one Dask worker node running ``cores / threads_per_worker`` worker
processes (one pipeline job each, ``threads_per_worker`` torch threads apiece). The flow
starts the cluster's scheduler here, lets Dask scale the batch jobs between 0 and
``max_jobs`` to the jobs that are waiting, and closes it at the end, whatever the end
(every batch job still queued or running is cancelled). Here too: the checks that run before
anything is submitted (each names its key and the fix) and the batch script for
``python -m pipeline.plan``.
"""

from __future__ import annotations

import contextlib
import logging
import math
import shlex
import shutil
import socket
import subprocess
import sys
import unittest.mock
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from pipeline.core.config import RuntimeConfig
from pipeline.core.errors import ConfigError

log = logging.getLogger(__name__)

BATCH_KINDS = ("slurm", "pbs", "lsf")
JOBQUEUE_CLASS = {"slurm": "SLURMCluster", "pbs": "PBSCluster", "lsf": "LSFCluster"}
SUBMIT_COMMAND = {"slurm": "sbatch", "pbs": "qsub", "lsf": "bsub"}
# Where the flow writes the batch jobs' own logs (Slurm's -o/-e), inside DVC's ignored tmp.
LOG_FOLDER = Path(".dvc") / "tmp" / "cluster-logs"


def is_batch(runtime: RuntimeConfig) -> bool:
    return runtime.cluster.kind in BATCH_KINDS


def gpus_per_job(runtime: RuntimeConfig) -> int:
    """GPUs each batch job asks for: as set, or one when the params run on CUDA."""
    asked = runtime.cluster.gpus_per_job
    if asked is not None:
        return asked
    return 1 if runtime.device == "cuda" else 0


def processes_per_job(runtime: RuntimeConfig) -> int:
    """Pipeline jobs one batch job runs at once (one worker process each)."""
    return max(1, runtime.cluster.cores // runtime.threads_per_worker)


def batch_jobs_for(runtime: RuntimeConfig, pipeline_jobs: int) -> int:
    """The most batch jobs the flow submits at once for ``pipeline_jobs`` waiting jobs."""
    return min(runtime.cluster.max_jobs, math.ceil(pipeline_jobs / processes_per_job(runtime)))


def walltime_hours(walltime: str) -> float:
    """``HH:MM:SS`` (or ``MM:SS``, or ``D-HH:MM:SS``) as hours; a bad one names the key."""
    try:
        days, _, clock = walltime.rpartition("-")
        parts = [int(p) for p in clock.split(":")]
        if not 1 <= len(parts) <= 3 or any(p < 0 for p in parts):
            raise ValueError
        while len(parts) < 3:
            parts.insert(0, 0)
        hours, minutes, seconds = parts
        return (int(days or 0) * 24 + hours + minutes / 60 + seconds / 3600)
    except ValueError:
        raise ConfigError(f"runtime.cluster.walltime: {walltime!r} is not HH:MM:SS "
                          "(e.g. \"04:00:00\", quoted in params.yaml)") from None


def jobqueue_class(kind: str):
    """dask-jobqueue's cluster class for ``kind``; a missing package is one line."""
    try:
        dask_jobqueue = _import_jobqueue()
    except ImportError:
        raise ConfigError(f"runtime.cluster.kind: {kind} needs dask-jobqueue, which is not "
                          "installed here: pip install -e . (or pip install dask-jobqueue)"
                          ) from None
    return getattr(dask_jobqueue, JOBQUEUE_CLASS[kind])


def _import_jobqueue():
    """dask_jobqueue, imported without the SIGINT handler its runner module installs at
    import (``sys.exit`` on Ctrl-C, which would skip no cleanup but hides KeyboardInterrupt;
    and outside the main thread, where the flow may run, installing one raises)."""
    if sys.modules.get("dask_jobqueue") is not None:
        return sys.modules["dask_jobqueue"]
    with unittest.mock.patch("signal.signal"):
        import dask_jobqueue
    return dask_jobqueue


def jobqueue_kwargs(runtime: RuntimeConfig, env: Mapping[str, str],
                    workdir: Path | None, log_directory: Path | None) -> dict[str, Any]:
    """The cluster's keyword arguments: sizes, queue, account, GPUs, extra directives, and a
    prologue that enters ``workdir`` and exports ``env`` before the worker starts."""
    cluster = runtime.cluster
    kind = cluster.kind
    processes = processes_per_job(runtime)
    gpus = gpus_per_job(runtime)
    prologue = [f"cd {shlex.quote(str(workdir))}"] if workdir is not None else []
    prologue += [f"export {name}={shlex.quote(value)}" for name, value in sorted(env.items())]
    prologue += list(cluster.prologue)
    directives = list(cluster.directives)
    # One Dask thread per worker process: each process runs one pipeline job at a time,
    # with threads_per_worker torch threads; the batch job books all the cores.
    kwargs: dict[str, Any] = dict(
        cores=processes, processes=processes, memory=cluster.memory,
        walltime=cluster.walltime, queue=cluster.queue, name="pipeline-worker",
        job_name="pipeline-worker",
        job_script_prologue=prologue, interface=cluster.interface,
        python=cluster.python, log_directory=str(log_directory) if log_directory else None,
    )
    if kind == "slurm":
        kwargs.update(account=cluster.account, job_cpu=cluster.cores)
        if gpus:
            directives.append(f"--gres=gpu:{gpus}")
    elif kind == "pbs":
        spec = f"select=1:ncpus={cluster.cores}:mem={cluster.memory}"
        kwargs.update(account=cluster.account,
                      resource_spec=spec + (f":ngpus={gpus}" if gpus else ""))
    else:  # lsf
        hours, minutes = divmod(round(walltime_hours(cluster.walltime) * 60), 60)
        kwargs.update(project=cluster.account, ncpus=cluster.cores,
                      walltime=f"{hours:02d}:{minutes:02d}")
        if gpus:
            directives.append(f'-gpu "num={gpus}"')
    kwargs["job_extra_directives"] = directives
    return kwargs


def batch_script(runtime: RuntimeConfig, root: Path, env: Mapping[str, str] | None = None,
                 ) -> str:
    """The script each batch job runs (the scheduler's address is filled in at run time)."""
    job_class = jobqueue_class(runtime.cluster.kind).job_cls
    shared = runtime.cluster.shared_filesystem
    kwargs = jobqueue_kwargs(runtime, env or {}, root if shared else None,
                             root / LOG_FOLDER if shared else None)
    return job_class(scheduler="tcp://SCHEDULER:8786", **kwargs).job_script()


def _run(*command: str) -> str:
    try:
        return subprocess.run(list(command), capture_output=True, text=True, timeout=60,
                              check=True).stdout
    except subprocess.CalledProcessError as error:
        raise ConfigError(f"{command[0]} failed: {(error.stderr or error.stdout).strip()}"
                          ) from None


def check(runtime: RuntimeConfig) -> None:
    """What can be checked before anything is submitted: dask-jobqueue, the submit command,
    the walltime, and for Slurm the partition and its GPUs."""
    kind = runtime.cluster.kind
    if kind not in BATCH_KINDS:
        return
    jobqueue_class(kind)
    walltime_hours(runtime.cluster.walltime)
    submit = SUBMIT_COMMAND[kind]
    if shutil.which(submit) is None:
        raise ConfigError(f"runtime.cluster.kind: {kind}, but {submit} is not on PATH here: "
                          "run the flow on a login node of the cluster, or set kind: local")
    if kind == "slurm":
        _check_slurm_partition(runtime)


def _check_slurm_partition(runtime: RuntimeConfig) -> None:
    cluster = runtime.cluster
    partitions = {line.strip().rstrip("*"): line.strip().endswith("*")
                  for line in _run("sinfo", "-h", "-o", "%P").split()}
    if cluster.queue is not None and cluster.queue not in partitions:
        raise ConfigError(f"runtime.cluster.queue: Slurm has no partition {cluster.queue!r}; "
                          f"its partitions: {', '.join(sorted(partitions)) or 'none'}")
    partition = cluster.queue or next((p for p, default in partitions.items() if default), None)
    gpus = gpus_per_job(runtime)
    if gpus and partition is not None:
        gres = _run("sinfo", "-h", "-p", partition, "-o", "%G")
        if "gpu" not in gres:
            why = ("runtime.cluster.gpus_per_job" if cluster.gpus_per_job is not None
                   else "runtime.device: cuda (runtime.cluster.gpus_per_job: null)")
            raise ConfigError(f"{why} asks for {gpus} GPU(s) per job, but Slurm partition "
                              f"{partition!r} has none (gres: {gres.strip() or 'none'}); set "
                              "runtime.cluster.queue to a GPU partition, or "
                              "runtime.cluster.gpus_per_job: 0 and runtime.device: cpu")


def slurm_nodes(runtime: RuntimeConfig) -> list[str]:
    """The hosts of the partition the jobs go to."""
    args = ["-p", runtime.cluster.queue] if runtime.cluster.queue else []
    return sorted(set(_run("sinfo", "-h", "-N", *args, "-o", "%N").split()))


def on_this_host_only(runtime: RuntimeConfig) -> bool:
    """Whether every node the batch jobs can land on is this machine."""
    if runtime.cluster.kind != "slurm":
        return False
    here = {socket.gethostname().split(".")[0], "localhost"}
    return all(node.split(".")[0] in here for node in slurm_nodes(runtime))


@contextlib.contextmanager
def batch_cluster(runtime: RuntimeConfig, root: Path, env: Mapping[str, str]) -> Iterator:
    """A started dask-jobqueue cluster scaling between 0 and ``max_jobs`` batch jobs, closed
    (every batch job cancelled) when the block ends, normally or not."""
    cluster_class = jobqueue_class(runtime.cluster.kind)
    shared = runtime.cluster.shared_filesystem
    logs = root / LOG_FOLDER if shared else None
    if logs is not None:
        logs.mkdir(parents=True, exist_ok=True)
    kwargs = jobqueue_kwargs(runtime, env, root if shared else None, logs)
    cluster = cluster_class(**kwargs, scheduler_options=_scheduler_options(runtime))
    try:
        log.info("%s cluster: scheduler %s; batch jobs of %d core(s), %s, %s, %d GPU(s), "
                 "%d at most", runtime.cluster.kind, cluster.scheduler_address,
                 runtime.cluster.cores, runtime.cluster.memory, runtime.cluster.walltime,
                 gpus_per_job(runtime), runtime.cluster.max_jobs)
        # A tiny target duration: Dask asks for one worker per waiting job (jobs last
        # minutes, far beyond its default guess of half a second each).
        cluster.adapt(minimum_jobs=0, maximum_jobs=runtime.cluster.max_jobs,
                      target_duration="0.1s", interval="1s",
                      wait_count=runtime.cluster.idle_seconds)
        yield cluster
    finally:
        _close(cluster, runtime.cluster.kind)


def _scheduler_options(runtime: RuntimeConfig) -> dict[str, Any]:
    options: dict[str, Any] = {"dashboard_address": ":0"}
    if runtime.cluster.interface:
        options["interface"] = runtime.cluster.interface
    return options


def _close(cluster, kind: str) -> None:
    """Close the cluster; cancel any batch job that survived it."""
    job_ids = [getattr(job, "job_id", None) for job in list(cluster.workers.values())]
    try:
        cluster.close(timeout=30)
    except Exception as error:  # noqa: BLE001 - the jobs below are cancelled regardless
        log.warning("closing the %s cluster: %s", kind, error)
    cancel = {"slurm": "scancel", "pbs": "qdel", "lsf": "bkill"}[kind]
    leftover = [job_id for job_id in job_ids if job_id]
    if leftover and shutil.which(cancel):
        subprocess.run([cancel, *leftover], capture_output=True, timeout=60)
    log.info("%s cluster closed; %d batch job(s) cancelled", kind, len(leftover))
