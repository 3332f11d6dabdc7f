"""The parts of the ``gpu`` benchmark that carry numbers: the cost of Table 1's grid from
measured step times (a known answer), the scales against the paper preset, the tiny params
the tracks run on, the stages a track needs, step timing and the JSON."""

from __future__ import annotations

import json
import math

import pytest

from pipeline.benchmark.common import StepTimes
from pipeline.benchmark.grid_cost import grid_cost
from pipeline.benchmark.report import write_report
from pipeline.benchmark.scales import FULL, PAPER_SHAPES, count_params
from pipeline.benchmark.tracks import select, tiny_params
from pipeline.core.cost import training_flops_per_token
from pipeline.core.model import count_params as model_count_params
from pipeline.dvcfile import all_stages
from pipeline.tracks.capacity.track import PRESETS
from tests.conftest import ROOT, TINY_PARAMS


def measured(shapes, single=1e-3, stack=2.5e-3, models=5, batch=2048) -> dict:
    return {"shapes": [
        {"shape": f"L{n}-D{d}", "n_layer": n, "d_model": d, "batch": batch,
         "flops_per_token": training_flops_per_token(2048, 64, n, d),
         "single": {"seconds_per_step": single},
         "stacked": {"seconds_per_step": stack, "models": models, "peak_memory_bytes": 2**30}}
        for n, d, _ in shapes]}


def test_grid_cost_known_answer():
    # Every shape measured at 1 ms a step alone and 2.5 ms for a stack of 5. The 1×32: 5
    # seeds × N = 2^8 … 2^17, 10^6 steps, batch min(2048, N); Table 1 (bf16) holds 316 kbit,
    # so only N = 256 (177 kbit) can stop early, at the first evaluation point, step 20,408.
    cost = grid_cost(measured(PAPER_SHAPES), "NVIDIA H100 80GB HBM3", 80 * 2**30,
                     params_path=ROOT / "params.yaml")
    [row] = [r for r in cost["per_shape"] if r["shape"] == "L1-D32"]
    hours = row["hours"]["one_at_a_time"]
    batch_shares = 0.125 + 0.25 + 0.5 + 7  # N = 256, 512, 1024, then 7 sizes at the full batch
    assert hours["all_steps"] == pytest.approx([5 * 1e3 * batch_shares / 3600,
                                                50 * 1e3 / 3600])
    assert hours["early_stop"] == pytest.approx([
        5 * (20_408 * 0.125 + 1e6 * (batch_shares - 0.125)) * 1e-3 / 3600,
        (45e6 + 5 * 20_408) * 1e-3 / 3600])
    assert row["hours"]["stacked"]["all_steps"] == pytest.approx(
        [h / 2 for h in hours["all_steps"]])  # 2.5 ms / 5 = 0.5 ms a member
    assert row["runs_stopping_early"] == 5 and row["stack_speedup"] == pytest.approx(2.0)
    assert row["largest_stack"] == 35  # N ≥ 2048: 7 sizes × 5 seeds share the full batch
    assert row["largest_stack_gib_estimate"] == pytest.approx(35 / 5)
    # The 8×256 holds 25.1 Mbit: N up to 2^15 (22.7 Mbit) stops early, 8 sizes × 5 seeds.
    [big] = [r for r in cost["per_shape"] if r["shape"] == "L8-D256"]
    assert big["runs_stopping_early"] == 40
    assert cost["grid"]["runs"] == 800 and cost["grid"]["stop_steps"] == 20_408
    assert cost["hours"]["one_at_a_time"]["all_steps"][1] == pytest.approx(16 * 50 * 1e3 / 3600)
    assert "plan_hours_at_assumed_utilization" in cost and cost["stacks_over_memory"] == []


def test_an_unmeasured_shape_takes_the_nearest_measured_ones_flops():
    cost = grid_cost(measured([(1, 32, 2)]), params_path=ROOT / "params.yaml", stop_steps=1000)
    rows = {r["shape"]: r for r in cost["per_shape"]}
    ratio = training_flops_per_token(2048, 64, 2, 32) / training_flops_per_token(2048, 64, 1, 32)
    assert rows["L2-D32"]["seconds_per_step"] == pytest.approx(1e-3 * ratio)
    assert rows["L2-D32"]["source"].startswith("L1-D32") and rows["L1-D32"]["source"] == "measured"
    assert rows["L2-D32"]["achieved_tflops"] == pytest.approx(rows["L1-D32"]["achieved_tflops"],
                                                              rel=1e-3)
    assert cost["grid"]["stop_steps"] == 1000 and "plan_hours_at_assumed_utilization" not in cost


def test_scales_follow_the_paper_preset_and_the_model():
    assert [dict(n_layer=n, d_model=d, n_head=h) for n, d, h in PAPER_SHAPES] \
        == PRESETS["paper"]["models"]
    for shape in [(2048, 64, 1, 32), (2048, 64, 8, 256), (64, 8, 2, 16)]:
        assert count_params(*shape) == model_count_params(*shape)
    # The N: about 2 × 3.6 bits × 80,352 parameters / 693 bits a sequence.
    assert FULL.capacity_sequences() == round(2 * 3.6 * 80_352 / 693) == 835
    assert sum(FULL.estimate.values()) < 8 * 60


def test_the_tracks_run_on_the_tests_tiny_params():
    assert tiny_params() == TINY_PARAMS


def test_a_track_brings_the_stages_whose_artifacts_it_reads():
    # The text track's report reads the corpus and the capacity track's metrics.
    names = [s.name for s in select(list(all_stages()), {"text"})]
    assert names[:2] == ["validate_params", "corpus_build"]
    assert [n for n in names if n.startswith("capacity_")][-1] == "capacity_fit"
    assert "text_report" in names and not any(n.startswith(("profiles", "retention"))
                                              for n in names)
    with pytest.raises(ValueError, match="no track"):
        select(list(all_stages()), {"nonsense"})


def test_step_times_leave_out_the_warmup():
    timer = StepTimes(members=2)
    timer.stamps += [5.0, 6.0, 7.0, 8.0]  # the ends of a slow first step, then of 1 s ones
    assert timer.seconds_per_step(warmup=1) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="too few"):
        timer.seconds_per_step(warmup=3)
    counted = StepTimes(members=2)
    for _ in range(3):
        counted(1)
    assert len(counted.stamps) == 1  # one step of a stack of two: two reports


def test_a_non_finite_number_is_written_as_null_and_named(tmp_path):
    write_report({"a": {"b": math.nan}, "c": [1.0, math.inf]}, tmp_path / "r.json")
    assert json.loads((tmp_path / "r.json").read_text()) == {
        "a": {"b": None}, "c": [1.0, None], "non_finite": ["a.b", "c[1]"]}
