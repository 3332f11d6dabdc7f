"""What a user sees in Prefect, on real runs: task runs named for what they run, the pipeline's
own log lines, results as artifacts, no error lines offline; and a served deployment whose
schedule fires on a real Prefect server (scheduler service on) and leaves DVC up to date."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from pipeline.dvcfile import all_stages
from tests.conftest import TINY_PARAMS, copy_project
from tests.e2e.test_dvc_and_flow import assert_up_to_date

pytestmark = pytest.mark.slow  # a real Prefect server and a served schedule: minutes

BIN = str(Path(sys.executable).parent)


async def run_details(flow_run_id):
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
        artifacts = await client.read_artifacts()
    return tasks, logs, artifacts


def test_a_flow_run_shows_its_work(tmp_path, prefect_api):
    from pipeline.flows.pipeline import memorization_pipeline

    project = copy_project(tmp_path / "ui", TINY_PARAMS)
    state = memorization_pipeline(project_root=str(project), return_state=True)
    assert state.is_completed()
    tasks, logs, artifacts = asyncio.run(run_details(state.state_details.flow_run_id))

    by_name = {task.name: task for task in tasks}
    stages = [stage.name for stage in all_stages()]
    assert set(stages) <= by_name.keys()  # every stage is a task run
    assert "capacity_train: L1-D8-N4-S0" in by_name and "text_train: L1-D8-N32-S0" in by_name
    # Edges: a stage's task run waits for its upstream stages' task runs.
    waits = {str(i.id) for i in by_name["capacity_train"].task_inputs.get("wait_for", [])}
    assert str(by_name["capacity_data"].id) in waits
    messages = "\n".join(log.message for log in logs)
    assert "alpha = " in messages  # the fit stage's own INFO line
    assert "L1-D8-N256-S0: 40 steps" in messages  # a training run's summary line
    assert "TrainSummary(" not in messages and "HTTP Request" not in messages
    assert not [log.message for log in logs if log.level >= 40], "error lines in the run"
    by_key = {artifact.key: artifact for artifact in artifacts}
    tracks = ("capacity", "text", "profiles", "retention")
    assert {f"{t}-summary" for t in tracks} | {f"{t}-report" for t in tracks} <= by_key.keys()
    for track in tracks:
        summary = by_key[f"{track}-summary"].data
        assert "/artifacts/artifact/" in summary, summary  # a link that opens in the UI
        assert "file://" not in summary and "report.md`" not in summary
        assert not re.search(r"\d\.\d{5,}", summary), summary  # rounded as the reports
    assert "# " in by_key["capacity-report"].data  # the report itself, rendered by the UI

    again = memorization_pipeline(project_root=str(project), return_state=True)
    tasks, _, _ = asyncio.run(run_details(again.state_details.flow_run_id))
    cached = {task.name: task.state for task in tasks if task.name in stages}
    assert cached.keys() == set(stages)  # up-to-date stages are task runs too
    assert all(state.name == "Cached" and "up to date" in state.message
               for state in cached.values())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def api_json(url: str, body: dict | None = None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method="POST" if data else "GET",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read())
    except OSError:
        return None


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def test_a_served_schedule_fires_and_leaves_dvc_up_to_date(tmp_path):
    project = copy_project(tmp_path / "scheduled", TINY_PARAMS)
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, "PATH": BIN + os.pathsep + os.environ["PATH"],
           "PREFECT_HOME": str(tmp_path / "prefect-home"), "PREFECT_API_URL": api,
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "2"}
    env.pop("PREFECT_TEST_MODE", None)
    logs = tmp_path / "logs"
    logs.mkdir()
    server = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
         "--port", str(port)], env=env, start_new_session=True,
        stdout=(logs / "server.log").open("w"), stderr=subprocess.STDOUT)
    serving = None
    try:
        wait_for(lambda: api_json(f"{api}/health"), 120, "the Prefect server")
        serving = subprocess.Popen(
            [sys.executable, "-m", "pipeline.flows", "serve", "--interval", "20"],
            cwd=project, env=env, start_new_session=True,
            stdout=(logs / "serve.log").open("w"), stderr=subprocess.STDOUT)

        def completed_scheduled_run():
            completed = {"flow_runs": {"state": {"type": {"any_": ["COMPLETED"]}}}}
            runs = api_json(f"{api}/flow_runs/filter", completed) or []
            return [run for run in runs if run.get("auto_scheduled")]

        runs = wait_for(completed_scheduled_run, 900, "a scheduled run to complete")
        assert runs[0]["name"]
        deployments = api_json(f"{api}/deployments/filter", {}) or []
        assert [d["name"] for d in deployments] == ["memorization-pipeline-every-20s"]
    finally:
        if serving is not None:
            stop(serving)
        stop(server)
    server_log = (logs / "server.log").read_text()
    assert "Can't evaluate bulk DML" not in server_log
    # The serving terminal: humane lines, and SIGTERM ends it without a traceback.
    served = (logs / "serve.log").read_text()
    for noise in ("HTTP Request", "Updating lock file", "Traceback", "it/s]"):
        assert noise not in served, noise
    assert serving.returncode in (0, 130, -signal.SIGTERM), serving.returncode
    assert_up_to_date(project)

