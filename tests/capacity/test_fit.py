"""Capacity and α: known answers on constructed memorization totals."""

from __future__ import annotations

import polars as pl
import pytest

from pipeline.core.report import render
from pipeline.tracks.capacity.config import CapacityConfig
from pipeline.tracks.capacity.findings import capacity_findings
from pipeline.tracks.capacity.fit import capacity_by_config, fit_alpha, with_paper_columns
from pipeline.tracks.capacity.report import TEMPLATES, shape_rows
from tests.conftest import TINY_PARAMS


def totals_frame(alpha: float, params: dict[str, int], noise: float = 0.0) -> pl.DataFrame:
    """Memorization min(N·h, α·params) for N in a grid and two seeds (± noise)."""
    rows = []
    for config, n_params in params.items():
        for n in (1, 2, 4, 8, 16, 32):
            for seed, sign in ((0, 1), (1, -1)):
                dataset_bits = n * 100.0
                rows.append({
                    "run_id": f"{config}-N{n}-S{seed}", "config": config,
                    "n_layer": int(config[1]), "d_model": int(config.split("D")[1]),
                    "params": n_params, "n_sequences": n, "seed": seed,
                    "dataset_bits": dataset_bits,
                    "memorized_bits": min(dataset_bits, alpha * n_params) + sign * noise,
                    "converged": n != 32, "steps": 100, "device": "cpu", "precision": "fp32",
                })
    return pl.DataFrame(rows)


def findings_of(capacity: pl.DataFrame, totals: pl.DataFrame):
    config = CapacityConfig.model_validate(TINY_PARAMS["capacity"])
    return capacity_findings(config, fit_alpha(capacity), capacity, totals)


def test_capacity_is_the_max_over_n_of_seed_means_and_alpha_is_recovered():
    totals = totals_frame(3.6, {"L1-D32": 200, "L2-D32": 400})
    capacity = capacity_by_config(totals)
    assert capacity["capacity_bits"].to_list() == pytest.approx([720.0, 1440.0])
    assert capacity["n_at_capacity"].to_list() == [8, 16]
    assert capacity["grid_exceeds_capacity"].all()
    fit = fit_alpha(capacity)
    assert fit.alpha == pytest.approx(3.6)
    assert fit.r_squared == pytest.approx(1.0)


def test_alpha_interval_covers_truth_with_noise():
    params = {f"L1-D{d}": p for d, p in [(8, 100), (16, 200), (32, 300), (64, 500)]}
    totals = totals_frame(3.6, params, noise=5.0).with_columns(
        pl.col("memorized_bits") * pl.Series([1.0, 1.02, 0.98, 1.01] * 12)
    )
    fit = fit_alpha(capacity_by_config(totals))
    assert fit.ci_low < 3.6 < fit.ci_high
    assert fit.ci_high - fit.ci_low < 0.5


def test_grid_that_stops_below_capacity_is_flagged():
    totals = totals_frame(3.6, {"L1-D32": 10_000})  # capacity 36k bits > largest dataset 3.2k
    assert not capacity_by_config(totals)["grid_exceeds_capacity"][0]


def test_paper_columns_only_where_the_setting_is_the_papers():
    totals = totals_frame(3.6, {"L1-D32": 80352})
    capacity = capacity_by_config(totals)
    paper = with_paper_columns(capacity, 2048, 64)
    assert paper["paper_bits_per_param_bf16"][0] == 3.93
    assert with_paper_columns(capacity, 256, 32)["paper_bits_per_param_bf16"][0] is None
    metrics = findings_of(paper, totals).metrics()
    assert metrics["runs"] == 12 and metrics["runs_not_converged"] == 2
    assert metrics["paper_alpha_bits_per_param"] == 3.64


def test_a_maximum_where_the_data_ran_out_is_data_limited_not_a_plateau():
    # A: everything memorized up to N = 4, less beyond (under-trained there): the maximum
    # sits where the data ran out, although the largest dataset holds far more bits.
    totals = totals_frame(3.6, {"L1-D32": 200, "L2-D32": 10_000}).with_columns(
        pl.when((pl.col("config") == "L2-D32") & (pl.col("n_sequences") > 4))
        .then(300.0).otherwise(pl.col("memorized_bits")).alias("memorized_bits"))
    capacity = capacity_by_config(totals)
    limited = capacity.filter(pl.col("config") == "L2-D32").row(0, named=True)
    assert limited["n_at_capacity"] == 4 and limited["memorized_share_at_capacity"] == 1.0
    assert limited["data_limited"] and not limited["grid_exceeds_capacity"]
    plateau = capacity.filter(pl.col("config") == "L1-D32").row(0, named=True)
    assert not plateau["data_limited"] and plateau["grid_exceeds_capacity"]
    findings = findings_of(with_paper_columns(capacity, 256, 32), totals)
    report = render(TEMPLATES, "report.md.j2", findings=findings, shape_rows=shape_rows(findings))
    flagged = [line for line in report.splitlines() if line.startswith("- **")]
    assert len(flagged) == 1 and flagged[0].startswith("- **L2-D32**: capacity read at N = 4")
    assert "100.0% of the dataset" in flagged[0] and "plateau is not resolved" in flagged[0]


def test_one_seed_leaves_the_spread_undefined_not_zero():
    one_seed = totals_frame(3.6, {"L1-D32": 200}).filter(pl.col("seed") == 0)
    assert capacity_by_config(one_seed)["capacity_bits_std"].to_list() == [None]
    two_seeds = totals_frame(3.6, {"L1-D32": 200}, noise=5.0)
    assert capacity_by_config(two_seeds)["capacity_bits_std"][0] == pytest.approx(50 ** 0.5)
