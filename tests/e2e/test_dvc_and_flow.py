"""End to end on tiny params, in a temporary copy of the project: the real ``dvc repro`` and
a real Prefect flow run, and their agreement on what is up to date."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import TINY_PARAMS, copy_project

BIN = str(Path(sys.executable).parent)


def dvc(project: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": BIN + os.pathsep + os.environ["PATH"]}
    return subprocess.run([sys.executable, "-m", "dvc", *args], cwd=project, env=env,
                          capture_output=True, text=True, timeout=600)


def assert_up_to_date(project: Path) -> None:
    status = dvc(project, "status", "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout) == {}, status.stdout


def model_stamp(project: Path, run_id: str) -> float:
    return (project / "data" / "models" / run_id / "model.safetensors").stat().st_mtime_ns


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return copy_project(tmp_path_factory.mktemp("project"), TINY_PARAMS)


def test_dvc_repro_builds_everything_then_does_nothing(project):
    first = dvc(project, "repro")
    assert first.returncode == 0, first.stdout + first.stderr
    for path in ("data/models/L1-D8-N16-S0/config.json", "data/scores/totals.parquet",
                 "data/report/capacity.md", "data/report/figures/capacity_vs_params.png",
                 "data/curves/L1-D8-N4-S0.csv"):
        assert (project / path).is_file(), path
    metrics = json.loads((project / "data/metrics/capacity.json").read_text())
    assert metrics["runs"] == 2 and metrics["alpha_bits_per_param"] > 0
    for path in ("data/text/corpus/members.parquet", "data/text/corpus/tokenizer.json",
                 "data/text/models/L1-D8-N32-S0/config.json", "data/text/scores/totals.parquet",
                 "data/text/report.md", "data/text/figures/double_descent.png",
                 "data/text/plots/membership_f1.csv"):
        assert (project / path).is_file(), path
    corpus = json.loads((project / "data/metrics/corpus.json").read_text())
    assert corpus["dedup"]["members"] > 0 and corpus["dedup"]["nonmembers"] > 0
    assert "NOT FineWeb" in (project / "data/text/report.md").read_text()
    text = json.loads((project / "data/metrics/text.json").read_text())
    assert text["alpha_bits_per_param_used"] == metrics["alpha_bits_per_param"]

    second = dvc(project, "repro")
    assert second.returncode == 0
    assert "up to date" in second.stdout
    assert_up_to_date(project)


def test_flow_skips_every_stage_after_dvc_repro(project, prefect_api, monkeypatch):
    from pipeline.flows import capacity_pipeline

    monkeypatch.chdir(project)
    fates = capacity_pipeline(project_root=str(project))
    assert set(fates.values()) == {"skipped"}, fates


def test_flow_trains_only_new_models_and_leaves_dvc_up_to_date(project, prefect_api,
                                                               monkeypatch):
    from pipeline.flows import capacity_pipeline

    before = model_stamp(project, "L1-D8-N16-S0")
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["synthetic"]["seeds"] = [0, 1]
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))

    monkeypatch.chdir(project)
    fates = capacity_pipeline(project_root=str(project))
    # The text stages do not read the synthetic groups; only the text report reads α.
    assert fates == {
        **dict.fromkeys(["synthetic_data", "train", "score", "fit", "report"], "ran"),
        **dict.fromkeys(["corpus", "text_reference", "text_train", "text_score"], "skipped"),
        "text_report": "ran",
    }
    assert model_stamp(project, "L1-D8-N16-S0") == before  # seed 0 was not retrained
    assert (project / "data/models/L1-D8-N16-S1/model.safetensors").is_file()
    assert_up_to_date(project)
    assert "up to date" in dvc(project, "repro").stdout


def test_invalid_params_fail_before_any_work(tmp_path):
    params = json.loads(json.dumps(TINY_PARAMS))
    params["models"]["configs"][0]["n_head"] = 3
    project = copy_project(tmp_path / "bad", params)
    result = dvc(project, "repro")
    assert result.returncode != 0
    assert "models.configs.0" in result.stderr + result.stdout
    assert "not divisible" in result.stderr + result.stdout
    assert not (project / "data").exists()
