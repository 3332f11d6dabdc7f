"""The ``gpu`` benchmark's logic on a CPU at its tiny scale, so that the command a researcher
runs once on a GPU cannot rot: every section runs and reports, a missing package skips the
sections that need it (naming it) instead of crashing, and ``--device cuda`` without CUDA is
one line."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest
import torch

from pipeline.benchmark.__main__ import main
from pipeline.benchmark.scales import SECTIONS
from pipeline.runtime.cli import exit_on_user_error
from tests.conftest import ROOT


@pytest.fixture(autouse=True)
def keep_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.mark.slow  # every track's stages at tiny scale
def test_every_section_runs_on_tiny_shapes(tmp_path):
    out = tmp_path / "gpu.json"
    main(["--threads", "1", "gpu", "--out", str(out), "--tracks", "capacity"])
    report = json.loads(out.read_text())
    sections = report["sections"]
    assert report["scale"] == "tiny" and report["device"] == "cpu"
    assert list(sections) == list(SECTIONS)
    assert {name: entry["status"] for name, entry in sections.items()} == dict.fromkeys(
        SECTIONS, "ok")
    assert "non_finite" not in report

    tracks = sections["tracks"]["result"]
    assert [s["stage"] for s in tracks["stages"]] == [
        "validate_params", "capacity_data", "capacity_train", "capacity_score",
        "capacity_plateau", "capacity_fit", "capacity_report"]
    assert tracks["trained_models"] == {"cpu fp32": 3}  # 2 grid runs, 1 plateau check

    capacity = sections["capacity"]["result"]
    assert set(capacity["runs"]) == {"bf16", "fp32"}
    for run in capacity["runs"].values():
        assert run["steps"] >= 1 and run["tokens_per_second"] > 0
        assert run["bits_per_param"] >= 0 and 0 <= run["share_of_dataset"] <= 1

    throughput = sections["throughput"]["result"]
    assert len(throughput["tokens_per_second"]) == 5
    assert all(v > 0 for v in throughput["tokens_per_second"].values())

    stacked = sections["stacked"]["result"]
    assert stacked["stacked"]["models"] == stacked["models"] == 3
    assert len(stacked["one_after_another"]["per_model"]) == 3 and stacked["speedup"] > 0

    shapes = sections["shapes"]["result"]["shapes"]
    assert [(s["n_layer"], s["d_model"]) for s in shapes] == [(1, 8), (2, 16)]
    assert all(s["single"]["seconds_per_step"] > 0 and s["stacked"]["models"] == 2
               for s in shapes)

    compiled = sections["compile"]["result"]
    assert compiled["backend"] == "eager"
    assert all(compiled[k]["compiled"]["tokens_per_second"] > 0 for k in ("single", "stacked"))

    cost = sections["cost"]["result"]
    assert cost["grid"]["runs"] == 800 and len(cost["per_shape"]) == 16
    # The tiny scale measures none of the grid's shapes: each is scaled, and says so.
    assert all(row["source"] != "measured" for row in cost["per_shape"])
    for mode in ("one_at_a_time", "stacked"):
        for stopping in ("all_steps", "early_stop"):
            low, high = cost["hours"][mode][stopping]
            assert 0 < low <= high and math.isfinite(high)
        assert cost["hours"][mode]["early_stop"][1] < cost["hours"][mode]["all_steps"][1]


SITECUSTOMIZE = """
import os, sys
for name in os.environ.get("BLOCKED_PACKAGES", "").split(","):
    if name:
        sys.modules[name] = None  # `import name` fails, as where it is not installed
"""


def test_missing_packages_skip_what_needs_them_and_name_them(tmp_path):
    # The GPU image has torch and transformers, not polars, dvc or prefect: the training
    # measurements still run (they need pydantic besides), the tracks and the cost are
    # skipped, each naming the package, and nothing crashes. The child process that runs the
    # tracks inherits the block.
    (tmp_path / "sitecustomize.py").write_text(SITECUSTOMIZE)
    out = tmp_path / "gpu.json"
    env = {**os.environ, "BLOCKED_PACKAGES": "polars,dvc,prefect",
           "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    sections = "environment,tracks,capacity,shapes,cost"
    done = subprocess.run([sys.executable, "-m", "pipeline.benchmark", "--threads", "1", "gpu",
                           "--out", str(out), "--sections", sections],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    sections = json.loads(out.read_text())["sections"]
    assert sections["environment"]["status"] == "ok"
    assert sections["capacity"]["status"] == sections["shapes"]["status"] == "ok"
    for name in ("tracks", "cost"):
        assert sections[name]["status"] == "skipped"
        assert "needs the package 'polars'" in sections[name]["reason"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_asking_for_cuda_without_it_is_one_line_before_any_work(tmp_path, capsys):
    out = tmp_path / "gpu.json"
    with pytest.raises(SystemExit) as exit_:
        exit_on_user_error(lambda: main(["gpu", "--device", "cuda", "--out", str(out)]))
    assert exit_.value.code == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: --device cuda: ") and "\n" not in error
    assert not out.exists()
