"""End to end on tiny params, in temporary copies of the project: the real ``dvc repro`` and
real Prefect flow runs (local process pool and a Dask ``LocalCluster``), and their agreement
on results and on what is up to date."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import polars as pl
import pytest
import yaml

from tests.conftest import TINY_PARAMS, copy_project

BIN = str(Path(sys.executable).parent)
METRICS = ("data/metrics/capacity.json", "data/metrics/corpus.json", "data/metrics/text.json",
           "data/metrics/profiles.json", "data/metrics/audit.json")
MODEL_DIRS = ("data/capacity/models", "data/capacity/plateau/models", "data/text/models",
              "data/text/reference/models",
              "data/text/ground_truth/models", "data/text/plateau/models",
              "data/profiles/models")


def dvc(project: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": BIN + os.pathsep + os.environ["PATH"]}
    return subprocess.run([sys.executable, "-m", "dvc", *args], cwd=project, env=env,
                          capture_output=True, text=True, timeout=1800)


def assert_up_to_date(project: Path) -> None:
    status = dvc(project, "status", "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout) == {}, status.stdout


def model_stamp(project: Path, run_id: str) -> float:
    return (project / "data/capacity/models" / run_id / "model.safetensors").stat().st_mtime_ns


def weights(project: Path) -> dict[str, bytes]:
    """Every trained model's safetensors bytes, by path relative to the project."""
    files = [path for folder in MODEL_DIRS
             for path in (project / folder).glob("*/model.safetensors")]
    files += (project / "data" / "retention").glob("*/models/*/**/*.safetensors")
    return {str(path.relative_to(project)): path.read_bytes() for path in files}


def results(metrics_file: Path) -> dict:
    """A metrics file without its wall-clock timings."""
    metrics = json.loads(metrics_file.read_text())
    metrics.pop("seconds", None)
    return metrics


def set_params(project: Path, edit) -> None:
    params = yaml.safe_load((project / "params.yaml").read_text())
    edit(params)
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def run_flow(project: Path, **options) -> dict[str, str]:
    from pipeline.flows.pipeline import memorization_pipeline

    return memorization_pipeline(project_root=str(project), **options)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return copy_project(tmp_path_factory.mktemp("project"), TINY_PARAMS)


def test_dvc_repro_builds_everything_then_does_nothing(project):
    first = dvc(project, "repro")
    assert first.returncode == 0, first.stdout + first.stderr
    for path in ("data/capacity/models/L1-D8-N256-S0/config.json",
                 "data/capacity/scores/totals.parquet",
                 "data/capacity/report.md", "data/capacity/figures/capacity_vs_params.png",
                 "data/capacity/curves/L1-D8-N4-S0.csv"):
        assert (project / path).is_file(), path
    metrics = json.loads((project / "data/metrics/capacity.json").read_text())
    assert metrics["runs"] == 2 and metrics["alpha_bits_per_param"] > 0
    for path in ("data/corpus/members.parquet", "data/corpus/tokenizer.json",
                 "data/text/models/L1-D8-N32-S0/config.json", "data/text/scores/totals.parquet",
                 "data/text/report.md", "data/text/figures/double_descent.png",
                 "data/text/plots/membership_f1.csv"):
        assert (project / path).is_file(), path
    corpus = json.loads((project / "data/metrics/corpus.json").read_text())
    assert corpus["dedup"]["members"] > 0 and corpus["dedup"]["nonmembers"] > 0
    assert "NOT FineWeb" in (project / "data/text/report.md").read_text()
    text = json.loads((project / "data/metrics/text.json").read_text())
    assert text["alpha_bits_per_param_used"] == metrics["alpha_bits_per_param"]
    for path in ("data/profiles/models/L1-D16/config.json", "data/profiles/scores/grid.parquet",
                 "data/profiles/report.md", "data/profiles/figures/transitions.png",
                 "data/profiles/plots/boundary.csv"):
        assert (project / path).is_file(), path
    profiles = json.loads((project / "data/metrics/profiles.json").read_text())
    assert isinstance(profiles["degenerate"], bool) and profiles["verdicts"]
    for path in ("data/retention/encoders/models/autoencoder-n4/encoder/config.json",
                 "data/retention/followup/models/curriculum-frozen/rest.safetensors",
                 "data/retention/report.md", "data/retention/figures/retention.png",
                 "data/retention/plots/chunks.csv"):
        assert (project / path).is_file(), path
    retention = json.loads((project / "data/metrics/retention.json").read_text())
    assert set(retention["verdicts"]) == {"lm_near_floor", "autoencoder_retains",
                                          "causal_copies_at_floor", "combined_copies_well"}
    for path in ("data/audit/inputs/L1-D8-N8-S0.parquet",
                 "data/audit/logprobs/L1-D8-N32-S0/reference.parquet",
                 "data/audit/extraction/L1-D8-N8-S0.parquet", "data/audit/findings.json",
                 "data/audit/report.md", "data/audit/figures/roc.png",
                 "data/audit/plots/roc.csv"):
        assert (project / path).is_file(), path
    audit = json.loads((project / "data/metrics/audit.json").read_text())
    assert set(audit["targets"]) == {"L1-D8-N8-S0", "L1-D8-N32-S0"}
    # The N = 8 run's members are too few for intervals: its checks are untestable.
    assert audit["checks"]["untestable"] > 0
    assert all(0 <= audit["targets"][t]["auc_loss"]["estimate"] <= 1 for t in audit["targets"])

    second = dvc(project, "repro")
    assert second.returncode == 0
    assert "up to date" in second.stdout
    assert_up_to_date(project)


def test_every_plot_draws_in_show_and_diff(project):
    from pipeline.core.figures import spec_problems
    from pipeline.render_plots import plot_specs, render

    subprocess.run(["git", "add", "-A"], cwd=project, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "run"],
                   cwd=project, check=True)
    for diff in (None, "HEAD"):
        specs = plot_specs(diff, root=project)  # DVC's errors would raise here
        titles = yaml.safe_load((project / "dvc.yaml").read_text())["plots"]
        assert len(specs) == len(titles) == 15
        for title, contents in specs.items():
            assert "'" not in title  # an apostrophe breaks DVC's HTML page
            (spec,) = contents
            values = spec["data"]["values"]
            layers = [spec, *spec.get("layer", [])]  # a layered template sets y per layer
            x = spec["encoding"]["x"]["field"]
            y = next(v["encoding"]["y"]["field"] for v in layers if "y" in v.get("encoding", {}))
            assert values and all(x in row and y in row for row in values), title
            assert x != "step" or "series" in values[0]  # per-run lines, not row indices
            assert spec_problems(spec) == [], title  # axis titles, shares ≤ 1, ≤ 8 colours
        revisions = {row["rev"] for contents in specs.values() for row in
                     contents[0]["data"]["values"]}
        assert revisions == ({"workspace"} if diff is None else {"workspace", "HEAD"})
    files = render(specs, project / "dvc_plots" / "offline")
    assert len(files) == 15
    assert all("<path" in f.read_text() for f in files)  # marks were drawn
    assert (project / "dvc_plots" / "offline" / "index.html").is_file()


@pytest.mark.slow  # a Dask cluster and a second full build
def test_flow_on_a_dask_cluster_gives_what_dvc_repro_gives(project, prefect_api,
                                                            tmp_path_factory):
    built = dvc(project, "repro")  # the module's project, built here when run alone (-m slow)
    assert built.returncode == 0, built.stdout + built.stderr
    params = json.loads(json.dumps(TINY_PARAMS))
    params["runtime"]["workers"] = 2  # runtime never changes a result
    twin = copy_project(tmp_path_factory.mktemp("dask"), params)
    fates = run_flow(twin, cluster="dask")  # a LocalCluster of 2 worker processes
    assert set(fates.values()) == {"ran"}, fates
    ours, theirs = weights(twin), weights(project)
    # capacity grid + its plateau run, text grid, oracle + same-size, ground truth: reference
    # + 2 N, profiles ladder, the text plateau check's longer runs; and the retention models
    checked = pl.read_parquet(twin / "data/text/plateau/results.parquet").height
    assert len([k for k in ours if "/retention/" not in k]) == 2 + 1 + 2 + 2 + 3 + 2 + checked
    assert len([k for k in ours if "/retention/" in k]) == 22
    assert ours.keys() == theirs.keys()
    assert all(ours[k] == theirs[k] for k in ours), "weights differ from dvc repro's"
    for path in METRICS:
        assert results(twin / path) == results(project / path), path
    assert_up_to_date(twin)


def test_flow_skips_every_stage_after_dvc_repro(project, prefect_api):
    fates = run_flow(project)
    assert set(fates.values()) == {"skipped"}, fates


def test_flow_trains_only_new_models_and_leaves_dvc_up_to_date(project, prefect_api):
    before = model_stamp(project, "L1-D8-N256-S0")
    set_params(project, lambda p: p["capacity"]["data"].update(seeds=[0, 1]))
    fates = run_flow(project)
    # The text stages do not read the capacity group; only the text report reads α.
    assert fates == {
        "validate_params": "ran",
        **dict.fromkeys(["capacity_data", "capacity_train", "capacity_score",
                         "capacity_plateau", "capacity_fit", "capacity_report"], "ran"),
        **dict.fromkeys(["corpus_build", "text_reference", "text_train", "text_score",
                         "text_plateau", "text_ground_truth", "text_capacity"], "skipped"),
        "text_report": "ran",
        **dict.fromkeys(["profiles_data", "profiles_train", "profiles_score", "profiles_analyze",
                         "profiles_predictor", "profiles_report"], "skipped"),
        **dict.fromkeys(["retention_encoders", "retention_decoders", "retention_memory",
                         "retention_followup", "retention_report"], "skipped"),
        **dict.fromkeys(["audit_inputs", "audit_logprobs", "audit_memorization",
                         "audit_extraction", "audit_attacks", "audit_blind", "audit_report"],
                        "skipped"),
    }
    assert model_stamp(project, "L1-D8-N256-S0") == before  # seed 0 was not retrained
    assert (project / "data/capacity/models/L1-D8-N256-S1/model.safetensors").is_file()
    assert_up_to_date(project)
    assert "up to date" in dvc(project, "repro").stdout


def test_shrinking_the_grid_leaves_no_stale_output(project, prefect_api):
    set_params(project, lambda p: p["capacity"]["data"].update(seeds=[0]))
    run_flow(project)
    scored = sorted(p.name for p in (project / "data/capacity/scores/runs").iterdir())
    assert scored == ["L1-D8-N256-S0.parquet", "L1-D8-N4-S0.parquet"]
    assert sorted(p.name for p in (project / "data/capacity/synthetic").iterdir()) == [
        "N256-S0.parquet", "N4-S0.parquet"]
    assert json.loads((project / "data/metrics/capacity.json").read_text())["runs"] == 2
    assert_up_to_date(project)


@pytest.mark.slow  # a second full build under the flow
def test_dvc_repro_during_a_flow_run_fails_fast(tmp_path, prefect_api):
    params = json.loads(json.dumps(TINY_PARAMS))
    params["capacity"]["train"]["steps"] = 4000  # keeps the flow busy for a while
    project = copy_project(tmp_path / "busy", params)
    outcome: dict = {}
    flow = threading.Thread(target=lambda: outcome.update(fates=run_flow(project)))
    flow.start()
    deadline = time.monotonic() + 120
    while not (project / "data/capacity/synthetic").exists() and time.monotonic() < deadline:
        time.sleep(0.2)  # the flow holds DVC's lock from its start; wait until it writes
    started = time.monotonic()
    result = dvc(project, "repro")
    waited = time.monotonic() - started
    flow.join(timeout=1800)
    assert result.returncode != 0
    assert "Unable to acquire lock" in result.stderr
    assert waited < 30
    assert set(outcome["fates"].values()) == {"ran"}
    assert_up_to_date(project)


def test_unknown_top_level_key_fails_dvc_repro_naming_it(tmp_path):
    params = {**json.loads(json.dumps(TINY_PARAMS)), "foo": 1}
    project = copy_project(tmp_path / "foo", params)
    result = dvc(project, "repro")
    assert result.returncode != 0
    assert "foo" in result.stderr and "Extra inputs are not permitted" in result.stderr
    assert not (project / "data" / "capacity" / "synthetic").exists()


def test_invalid_params_fail_before_any_work(tmp_path):
    params = json.loads(json.dumps(TINY_PARAMS))
    params["capacity"]["models"][0]["n_head"] = 3
    project = copy_project(tmp_path / "bad", params)
    result = dvc(project, "repro")
    assert result.returncode != 0
    assert "capacity.models.0" in result.stderr + result.stdout
    assert "not divisible" in result.stderr + result.stdout
    assert not (project / "data" / "capacity" / "synthetic").exists()
