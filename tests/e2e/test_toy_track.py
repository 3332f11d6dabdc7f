"""A track is one package and one params group: a toy track dropped into a copy of the project
as ``pipeline/tracks/toy`` (and a ``toy:`` group in params.yaml), with no edit anywhere else,
is validated, planned, generated into dvc.yaml, run by `dvc repro` and by the Prefect flow,
and publishes its artifact."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, TINY_PARAMS, copy_project
from tests.e2e.test_dvc_and_flow import dvc

pytestmark = pytest.mark.slow  # builds a project through dvc repro and the flow: minutes

TOY = ROOT / "tests" / "toy_track"


def python(project: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=project, capture_output=True, text=True,
                          timeout=600, env={**os.environ, **(env or {})})


def test_a_toy_track_plugs_in_without_editing_another_package(tmp_path, prefect_api):
    from prefect.settings import PREFECT_API_URL

    project = copy_project(tmp_path / "toy", {**TINY_PARAMS, "toy": {"count": 3}})
    shutil.copytree(TOY, project / "pipeline" / "tracks" / "toy")
    before = {path: path.read_bytes() for path in (project / "pipeline").rglob("*.py")
              if "toy" not in path.parts}

    generated = python(project, "-m", "pipeline.dvcfile")
    assert generated.returncode == 0, generated.stderr
    stages = yaml.safe_load((project / "dvc.yaml").read_text())["stages"]
    assert {"toy_numbers", "toy_total"} <= set(stages)
    assert stages["toy_total"]["deps"][-1] == "data/toy/numbers"
    assert python(project, "-m", "pipeline.params").stdout.count("`toy.count`") == 1
    assert python(project, "-m", "pipeline.plan", "--no-calibrate").returncode == 0

    result = dvc(project, "repro", "toy_total")
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads((project / "data/metrics/toy.json").read_text()) == {"total": 3}

    toy = yaml.safe_load((project / "params.yaml").read_text())
    toy["toy"]["count"] = 4
    (project / "params.yaml").write_text(yaml.safe_dump(toy, sort_keys=False))
    flow = python(project, "-m", "pipeline.flows", "run", "toy_total",
                  env={"PREFECT_API_URL": PREFECT_API_URL.value()})
    assert flow.returncode == 0, flow.stdout + flow.stderr
    assert "ran validate_params, toy_numbers, toy_total" in flow.stdout
    assert "capacity_train" not in flow.stdout  # only what the target needs
    assert json.loads((project / "data/metrics/toy.json").read_text()) == {"total": 6}
    status = dvc(project, "status", "toy_total", "--json")
    assert json.loads(status.stdout) == {}, status.stdout

    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        keys = {artifact.key for artifact in client.read_artifacts()}
    assert "toy-total" in keys
    assert before == {path: path.read_bytes() for path in before}  # no other file edited
