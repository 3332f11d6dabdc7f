"""The cost plan reads params (or a preset) and prints per-track totals before any run."""

from __future__ import annotations

from pipeline.params import parse_params
from pipeline.plan import main, plan, render
from tests.conftest import DEFAULT_PARAMS


def test_the_plan_counts_every_training_run_of_the_tiny_params(tiny_params):
    groups = plan(parse_params(tiny_params))
    by_track = {track: sum(g.runs for g in groups if g.track == track)
                for track in ("capacity", "text", "profiles")}
    # capacity: 1 shape × 2 N × 1 seed; text: 1 shape × 2 N + 1 oracle + 1 same-size
    # + the ground truth's reference and its 2 models.
    assert by_track == {"capacity": 2, "text": 2 + 1 + 1 + 1 + 2,
                        "profiles": len(tiny_params["profiles"]["ladder"])}
    capacity = next(g for g in groups if g.track == "capacity")
    assert capacity.tokens == 40 * 8 * (4 + 8)  # batch 8 capped at N = 4 for the first run


def test_the_plan_prints_totals_for_a_preset_without_touching_params(tmp_path, capsys):
    path = tmp_path / "params.yaml"
    path.write_text(DEFAULT_PARAMS.read_text())
    main(["--params", str(path), "--preset", "paper", "--no-calibrate"])
    out = capsys.readouterr().out
    assert "| **all** | total |" in out and "A100 hours" in out
    assert path.read_text() == DEFAULT_PARAMS.read_text()


def test_render_gives_hours_here_from_the_measured_rate(tiny_params):
    table = render(plan(parse_params(tiny_params)), cpu_flops=1e9, workers=2, utilization=0.2)
    assert "hours here" in table and "1.0 GFLOP/s" in table
