"""Stages capacity_plateau and capacity_fit on the tiny grid: the capacity-defining run is
trained again for twice the steps, compared, and the fit names what enters α and why."""

from __future__ import annotations

import yaml

from pipeline.core.io import read_json, read_parquet
from pipeline.dvcfile import find_stage
from pipeline.runtime.stage import run_stage
from pipeline.tracks.capacity import layout
from pipeline.tracks.capacity.plateau import check_run_id


def test_plateau_then_fit_admit_or_exclude_every_shape_with_a_reason(tmp_path, tiny_params):
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(tiny_params))
    for name in ("capacity_data", "capacity_train", "capacity_score", "capacity_plateau",
                 "capacity_fit"):
        run_stage(find_stage(name), tmp_path)
    steps = read_parquet(tmp_path / layout.PLATEAU_RESULTS)
    totals = read_parquet(tmp_path / layout.TOTALS)
    metrics = read_json(tmp_path / layout.METRICS)
    included, excluded = metrics["alpha_configs_included"], metrics["alpha_configs_excluded"]
    assert sorted(included + list(excluded)) == ["L1-D8"]
    assert metrics["alpha_ci_method"] == "bootstrap"
    if steps.height:  # a data-limited maximum is not trained again
        row = steps.row(0, named=True)
        assert row["steps_long"] == 2 * row["steps_short"] or row["steps_long"] < 80
        assert (tmp_path / layout.PLATEAU_MODELS / check_run_id(row["run_id"], 2.0)).is_dir()
        assert row["memorized_bits_short"] == read_json(
            tmp_path / layout.MODELS / row["run_id"] / "training.json")["memorized_bits"]
    else:
        assert excluded["L1-D8"].startswith("data-limited")
    assert totals.height == 2
