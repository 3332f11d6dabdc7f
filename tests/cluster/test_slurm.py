"""The flow on a real single-node Slurm (``--cluster slurm``, dask-jobqueue's batch jobs):
the models equal `dvc repro`'s byte for byte, a batch job cancelled mid-training is retried
and resumes to the same result, the task runs on the batch jobs are in the flow's Prefect
API with their logs, and no batch job outlives the flow (a failure, SIGTERM). Bad cluster
settings are one line before anything is submitted."""

from __future__ import annotations

import asyncio
import copy
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from pipeline.core.errors import ConfigError
from pipeline.params import parse_params
from tests.conftest import TINY_PARAMS, copy_project
from tests.e2e.test_dvc_and_flow import dvc, weights

LONG_RUN = "L1-D8-N256-S0"


def cluster_params(steps: int, **cluster) -> dict:
    params = copy.deepcopy(TINY_PARAMS)
    params["runtime"].update(checkpoint_every=25)
    params["runtime"]["cluster"] = {"kind": "slurm", "memory": "1GB", "max_jobs": 2,
                                    "idle_seconds": 300, **cluster}
    params["capacity"]["train"].update(steps=steps, eval_points=2)
    return params


def capacity_weights(project: Path) -> dict[str, bytes]:
    return {k: v for k, v in weights(project).items() if "/capacity/" in k}


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


async def task_runs_and_logs(flow_run_id):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterId,
        LogFilter,
        LogFilterFlowRunId,
    )

    async with get_client() as client:
        runs = FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        tasks = await client.read_task_runs(flow_run_filter=runs)
        logs = await client.read_logs(
            log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])))
    return tasks, logs


def test_a_cancelled_batch_job_is_retried_to_the_same_models(slurm, prefect_api, tmp_path):
    """One flow run on Slurm: capacity_train's two jobs in batch jobs, both cancelled
    (`scancel`) once the long run has checkpointed; Dask resubmits them to new batch jobs,
    the long run resumes, and every model equals the uninterrupted `dvc repro`'s."""
    from pipeline.flows.pipeline import memorization_pipeline

    started = time.monotonic()
    params = cluster_params(steps=600)
    reference = copy_project(tmp_path / "reference", params)
    built = dvc(reference, "repro", "capacity_train")  # the local pool, uninterrupted
    assert built.returncode == 0, built.stderr
    project = copy_project(tmp_path / "on-slurm", params)
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["state"] = memorization_pipeline(
                project_root=str(project), targets=["capacity_train"], return_state=True)
        except BaseException as error:  # noqa: BLE001 - reported by the test below
            outcome["error"] = error

    flow = threading.Thread(target=run)
    flow.start()
    checkpoint = project / "data/checkpoints/capacity" / LONG_RUN / "last.pt"

    def checkpointed() -> bool:
        assert flow.is_alive(), f"the flow ended early: {outcome}"
        return checkpoint.is_file()

    wait_for(checkpointed, 300, "the long run's first checkpoint on Slurm")
    cancelled = slurm.jobs()
    assert cancelled, "no batch job was running"
    slurm.run("scancel", *cancelled)
    flow.join(timeout=600)
    state = outcome["state"]
    assert state.is_completed(), state.message
    assert state.result() == {"validate_params": "ran", "capacity_data": "ran",
                              "capacity_train": "ran"}

    ours, theirs = capacity_weights(project), capacity_weights(reference)
    assert len(ours) == 2 and ours.keys() == theirs.keys()
    assert all(ours[k] == theirs[k] for k in ours), "Slurm's models differ from dvc repro's"
    summary = json.loads((project / "data/capacity/models" / LONG_RUN / "training.json")
                         .read_text())
    assert summary["resumed_from_step"] > 0  # it resumed: the cancel came mid-training
    status = dvc(project, "status", "--json", "capacity_train")
    assert json.loads(status.stdout) == {}, status.stdout
    assert not set(slurm.jobs()) & set(cancelled)  # nothing left of the cancelled jobs
    wait_for(lambda: not slurm.jobs(), 60, "the cluster's batch jobs to end")

    tasks, logs = asyncio.run(task_runs_and_logs(state.state_details.flow_run_id))
    by_name = {task.name: task for task in tasks}
    for run in ("L1-D8-N4-S0", LONG_RUN):
        assert by_name[f"capacity_train: {run}"].state.is_completed()
    assert {"validate_params", "capacity_data", "capacity_train"} <= by_name.keys()
    messages = [log.message for log in logs]
    # The training summary is logged on the batch job's worker and reaches the flow's API.
    assert any(m.startswith(f"{LONG_RUN}: 600 steps") for m in messages), messages[-20:]
    print(f"\nSlurm test: {time.monotonic() - started:.0f} s wall, Slurm started in "
          f"{slurm.startup_seconds:.1f} s")


def test_sigterm_cancels_every_batch_job(slurm, prefect_api, tmp_path):
    from prefect.settings import PREFECT_API_URL

    project = copy_project(tmp_path / "stopped", cluster_params(steps=100_000))
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()}
    flow = subprocess.Popen([sys.executable, "-m", "pipeline.flows", "run", "capacity_train"],
                            cwd=project, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        wait_for(slurm.jobs, 300, "a batch job in Slurm's queue")
        flow.send_signal(signal.SIGTERM)
        output, _ = flow.communicate(timeout=120)
    finally:
        if flow.poll() is None:
            flow.kill()
    assert flow.returncode == 130, output[-3000:]
    assert "batch jobs cancelled" in output
    wait_for(lambda: not slurm.jobs(), 30, "the batch jobs to be cancelled")
    # DVC's lock is released: a dvc command that takes it runs.
    assert dvc(project, "commit", "-f", "validate_params").returncode == 0


def test_the_cluster_is_closed_when_its_block_fails(slurm, tmp_path):
    from pipeline.runtime.cluster import batch_cluster

    runtime = parse_params(cluster_params(steps=10)).runtime
    with pytest.raises(RuntimeError, match="a stage failed"), \
            batch_cluster(runtime, tmp_path, {}) as cluster:
        cluster.scale(jobs=1)
        wait_for(slurm.jobs, 60, "a batch job")
        raise RuntimeError("a stage failed")
    wait_for(lambda: not slurm.jobs(), 30, "the batch job to be cancelled")


@pytest.mark.parametrize("cluster, key, fix", [
    ({"queue": "gpu-nodes"}, "runtime.cluster.queue", "partitions: debug"),
    ({"gpus_per_job": 1}, "runtime.cluster.gpus_per_job", "GPU partition"),
])
def test_bad_cluster_settings_are_one_line_before_any_job(slurm, cluster, key, fix):
    from pipeline.runtime.cluster import check

    runtime = parse_params(cluster_params(steps=10, **cluster)).runtime
    with pytest.raises(ConfigError) as error:
        check(runtime)
    message = str(error.value)
    assert key in message and fix in message and "\n" not in message
    assert not slurm.jobs()
