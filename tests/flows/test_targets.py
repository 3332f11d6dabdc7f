"""``python -m pipeline.flows run STAGE``: the flow runs exactly the stages `dvc repro STAGE`
runs, in twin projects built each by its own tool, from scratch and after a parameter
change; what neither was asked for stays stale in both."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from pipeline.flows.pipeline import restrict_to
from tests.conftest import TINY_PARAMS, copy_project
from tests.e2e.test_dvc_and_flow import dvc

pytestmark = pytest.mark.slow  # builds tiny projects through dvc repro and the flow: minutes


def repro(project: Path, target: str) -> set[str]:
    """The stages `dvc repro TARGET` ran."""
    result = dvc(project, "repro", target)
    assert result.returncode == 0, result.stderr
    return set(re.findall(r"Running stage '([^']+)'", result.stdout))


def stale(project: Path) -> set[str]:
    status = json.loads(dvc(project, "status", "--json").stdout)
    return {name.split(":")[-1] for name in status}


def set_confidence(project: Path, value: float) -> None:
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["capacity"]["fit"]["confidence"] = value
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def test_targets_run_what_dvc_repro_runs(tmp_path, prefect_api):
    from pipeline.flows.pipeline import memorization_pipeline

    by_dvc = copy_project(tmp_path / "dvc", TINY_PARAMS)
    by_flow = copy_project(tmp_path / "flow", TINY_PARAMS)

    def flow(target: str) -> set[str]:
        fates = memorization_pipeline(project_root=str(by_flow), targets=[target])
        return {stage for stage, fate in fates.items() if fate == "ran"}

    first = flow("capacity_fit")
    assert first == repro(by_dvc, "capacity_fit") == {
        "validate_params", "capacity_data", "capacity_train", "capacity_score",
        "capacity_plateau", "capacity_fit"}
    assert stale(by_flow) == stale(by_dvc)
    assert "capacity_report" in stale(by_flow) and "text_train" in stale(by_flow)

    for project in (by_dvc, by_flow):
        set_confidence(project, 0.9)
    # validate_params reads the whole params.yaml; capacity_fit the changed key.
    assert flow("capacity_report") == repro(by_dvc, "capacity_report") == {
        "validate_params", "capacity_fit", "capacity_report"}
    assert stale(by_flow) == stale(by_dvc)
    assert "up to date" in dvc(by_flow, "repro", "capacity_report").stdout


def test_a_target_is_itself_and_everything_upstream():
    graph = {"a": [], "b": ["a"], "c": ["a"], "d": ["b"], "x": []}
    assert restrict_to(graph, ["d"]) == {"a": [], "b": ["a"], "d": ["b"]}
    assert restrict_to(graph, ["dvc.yaml:c", "x"]) == {"a": [], "c": ["a"], "x": []}
    assert restrict_to(graph, None) == graph
