"""The cost plan reads params (or a preset) and prints per-track totals before any run."""

from __future__ import annotations

from pipeline.params import parse_params
from pipeline.plan import main, plan, render
from tests.conftest import DEFAULT_PARAMS


def test_the_plan_counts_every_training_run_of_the_tiny_params(tiny_params):
    groups = plan(parse_params(tiny_params))
    by_track = {track: sum(g.runs for g in groups if g.track == track)
                for track in ("capacity", "text", "profiles", "retention")}
    # capacity: 1 shape × 2 N × 1 seed, and its capacity run again for the plateau test;
    # text: 1 shape × 2 N + 1 oracle + 1 same-size
    # + the ground truth's reference and its 2 models + 2 N of the identical capacity;
    # retention: the trained LM (budget 1; budget 0 trains nothing), the autoencoder,
    # 4 decoders (2 budgets, the autoencoder, the null) and 4 memory models.
    assert by_track == {"capacity": 2 + 1, "text": 2 + 1 + 1 + 1 + 2 + 2,
                        "profiles": len(tiny_params["profiles"]["ladder"]),
                        "retention": 1 + 1 + 4 + 4}
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


def test_retention_memory_models_count_the_chunks_their_objective_decodes(tiny_params):
    groups = {g.what: g for g in plan(parse_params(tiny_params)) if g.track == "retention"}
    causal = groups["memory model: causal, frozen"]
    assert causal.tokens == 4 * 8 * 16  # steps × batch × 4 chunks of 4 tokens
    assert groups["memory model: blank_copy, none"].tokens == causal.tokens // 2
    assert groups["memory model: combined, trainable"].tokens == 3 * causal.tokens
