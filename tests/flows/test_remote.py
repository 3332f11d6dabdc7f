"""Workers without the project's filesystem (``runtime.cluster.shared_filesystem: false``):
jobs pull their inputs from a local-directory DVC remote into scratch folders of their own and
push their outputs there; the flow pulls them back. The weights equal `dvc repro`'s and
``dvc status`` is clean; a job runs with the project moved out of reach."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.core.errors import ConfigError
from tests.conftest import ROOT, TINY_PARAMS, copy_project
from tests.e2e.test_dvc_and_flow import dvc

pytestmark = pytest.mark.slow  # builds tiny projects and a DVC remote: minutes

MODELS = "data/capacity/models"


def remote_params() -> dict:
    params = copy.deepcopy(TINY_PARAMS)
    params["runtime"]["cluster"] = {"shared_filesystem": False}
    return params


def with_remote(project: Path, remote: Path) -> Path:
    added = dvc(project, "remote", "add", "-d", "storage", str(remote))
    assert added.returncode == 0, added.stderr
    return project


def model_bytes(project: Path) -> dict[str, bytes]:
    return {path.parent.name: path.read_bytes()
            for path in (project / MODELS).glob("*/model.safetensors")}


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """capacity_train built by `dvc repro` on this machine's filesystem."""
    project = copy_project(tmp_path_factory.mktemp("reference"), TINY_PARAMS)
    built = dvc(project, "repro", "capacity_train")
    assert built.returncode == 0, built.stderr
    return project


def test_the_flow_exchanges_job_data_through_the_remote(tmp_path, reference, prefect_api,
                                                        monkeypatch):
    from pipeline.flows.pipeline import memorization_pipeline

    monkeypatch.setenv("PIPELINE_SCRATCH", str(tmp_path / "node"))
    remote = tmp_path / "remote"
    project = with_remote(copy_project(tmp_path / "project", remote_params()), remote)
    fates = memorization_pipeline(project_root=str(project), targets=["capacity_train"])
    assert fates["capacity_train"] == "ran"
    ours, theirs = model_bytes(project), model_bytes(reference)
    assert len(ours) == 2 and ours == theirs
    status = dvc(project, "status", "--json", "capacity_train")
    assert json.loads(status.stdout) == {}, status.stdout
    # The models went through the remote, and no job's scratch project is left behind.
    pushed = {path.read_bytes() for path in remote.rglob("*") if path.is_file()}
    assert set(ours.values()) <= pushed
    assert [p.name for p in (tmp_path / "node" / "pipeline-scratch").iterdir()] == ["cache"]


def test_a_job_needs_nothing_of_the_project_but_the_remote(tmp_path, reference):
    """The job's spec names no path in the project; it runs (in another process, another
    working directory) while the project is moved away, and its outputs come back."""
    from pipeline.dvcfile import find_stage
    from pipeline.flows.dvc_graph import locked_project
    from pipeline.flows.remote import RemoteExchange
    from pipeline.runtime.stage import pending_jobs, stage_params

    project = with_remote(copy_project(tmp_path / "project", remote_params()),
                          tmp_path / "remote")
    assert dvc(project, "repro", "capacity_data").returncode == 0
    stage = find_stage("capacity_train")
    with locked_project(project) as dvc_project:
        exchange = RemoteExchange.for_project(project, None)
        exchange.attach(dvc_project)
        jobs = pending_jobs(stage, stage_params(stage, project), project)
        specs = exchange.prepare(stage, jobs)
    assert len(specs) == 2 and str(project) not in json.dumps(specs)

    away = project.rename(tmp_path / "out-of-reach")
    elsewhere = tmp_path / "worker"
    elsewhere.mkdir()
    script = ("import json, sys; from pipeline.flows.remote import run_job_in_scratch; "
              "outcome = run_job_in_scratch(json.load(sys.stdin)); outcome.pop('result'); "
              "print(json.dumps(outcome))")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PIPELINE_SCRATCH": str(tmp_path / "node")}
    outcomes = []
    for spec in specs:
        ran = subprocess.run([sys.executable, "-c", script], input=json.dumps(spec), env=env,
                             cwd=elsewhere, capture_output=True, text=True, timeout=600)
        assert ran.returncode == 0, ran.stderr[-3000:]
        outcomes.append(json.loads(ran.stdout.strip().splitlines()[-1]))
    away.rename(project)

    with locked_project(project) as dvc_project:
        exchange.attach(dvc_project)
        for outcome in outcomes:
            exchange.collect(outcome)
    assert model_bytes(project) == model_bytes(reference)


def test_no_remote_is_one_line_naming_the_key(tmp_path):
    from pipeline.flows.remote import RemoteExchange

    project = copy_project(tmp_path / "project", remote_params())
    with pytest.raises(ConfigError) as error:
        RemoteExchange.for_project(project, None)
    assert "runtime.cluster.shared_filesystem" in str(error.value)
    assert "dvc remote add -d" in str(error.value) and "\n" not in str(error.value)
    with pytest.raises(ConfigError, match="runtime.cluster.dvc_remote: no DVC remote 'nas'"):
        RemoteExchange.for_project(project, "nas")
