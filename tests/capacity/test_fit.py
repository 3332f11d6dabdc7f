"""Capacity and α: known answers on constructed memorization totals."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from pipeline.core.report import render
from pipeline.tracks.capacity.config import CapacityConfig
from pipeline.tracks.capacity.findings import capacity_findings
from pipeline.tracks.capacity.fit import (
    admission,
    alpha_interval,
    capacity_by_config,
    exclusion_reason,
    fit_alpha,
    seed_capacities,
    with_paper_columns,
)
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


def seed_frame(alpha: float, params: dict[str, int], seeds: int, noise: float,
               rng: np.random.Generator) -> pl.DataFrame:
    """Per-seed capacities alpha · params · (1 + noise · z), z standard normal."""
    return pl.DataFrame([
        {"config": config, "params": n, "seed": seed,
         "capacity_bits": alpha * n * (1 + noise * rng.standard_normal())}
        for config, n in params.items() for seed in range(seeds)])


def test_bootstrap_interval_covers_the_true_slope_at_its_nominal_rate():
    """Synthetic capacities with a known α and 3% seed noise: the nested bootstrap's 90%
    interval covers the truth in most of 40 draws (percentile bootstraps over few groups
    undercover somewhat, so the bar is 75%), and narrows with less noise."""
    params = {f"L1-D{d}": p for d, p in [(8, 3000), (16, 8000), (24, 11000), (32, 20000)]}
    rng = np.random.default_rng(1)
    covered, widths = 0, []
    for _ in range(40):
        per_seed = seed_frame(3.6, params, 3, 0.03, rng)
        interval = alpha_interval(per_seed, 0.90, 400)
        covered += interval.low <= 3.6 <= interval.high
        widths.append(interval.high - interval.low)
    assert covered >= 30
    quiet = alpha_interval(seed_frame(3.6, params, 3, 0.003, rng), 0.90, 400)
    assert quiet.high - quiet.low < np.median(widths) / 3
    assert interval.method.startswith("nested percentile bootstrap")


def test_alpha_interval_needs_three_configs_and_two_seeds():
    rng = np.random.default_rng(0)
    two = alpha_interval(seed_frame(3.6, {"A": 100, "B": 200}, 3, 0.02, rng), 0.95, 200)
    assert two.low is None and "2 groups, fewer than 3" in two.reason
    one_seed = alpha_interval(seed_frame(3.6, {"A": 100, "B": 200, "C": 300}, 1, 0.02, rng),
                              0.95, 200)
    assert one_seed.low is None and "1 items in the smallest group" in one_seed.reason


def test_fit_uses_only_the_admitted_configs_and_names_the_others():
    totals = totals_frame(3.6, {"L1-D8": 100, "L1-D16": 200, "L1-D32": 300, "L2-D32": 10_000},
                          noise=2.0)
    capacity = capacity_by_config(totals)
    plateau = plateau_frame({"L1-D8": 0.01, "L1-D16": 0.0, "L1-D32": 0.08})
    admitted = admission(capacity, plateau, tolerance=0.03, factor=2.0)
    fit = fit_alpha(admitted, 0.95, seed_capacities(totals, admitted), 400)
    assert fit.included == ["L1-D8", "L1-D16"] and fit.admitted_only
    assert fit.excluded["L1-D32"].startswith("still rising: 2× the steps gained +8.0%")
    # L2-D32's 36 kbit capacity exceeds every dataset: the maximum is where the data ran out.
    assert fit.excluded["L2-D32"].startswith("data-limited: at N = 32 it memorized 100.0%")
    assert fit.alpha == pytest.approx(3.6, rel=0.01)
    assert fit.ci_low is None and "2 groups" in fit.ci_reason  # two admitted: no interval


def plateau_frame(gains: dict[str, float]) -> pl.DataFrame:
    return pl.DataFrame({"config": list(gains), "gain": list(gains.values())})


def test_grid_that_stops_below_capacity_is_flagged():
    totals = totals_frame(3.6, {"L1-D32": 10_000})  # capacity 36k bits > largest dataset 3.2k
    assert not capacity_by_config(totals)["grid_exceeds_capacity"][0]


def test_a_grid_reaching_less_than_twice_the_capacity_is_excluded():
    # Capacity 2,160 bits, largest dataset 3,200 bits: 1.48×, not 2×.
    row = capacity_by_config(totals_frame(3.6, {"L1-D32": 600})).row(0, named=True)
    assert not row["data_limited"] and not row["grid_exceeds_capacity"]
    reason = exclusion_reason({**row, "plateau_gain": 0.0}, 0.03, 2.0)
    assert reason == "grid too short: the largest N holds 1.48× the capacity, less than 2×"


def test_the_plateau_test_excludes_a_run_still_rising_and_admits_a_flat_one():
    row = capacity_by_config(totals_frame(3.6, {"L1-D32": 200})).row(0, named=True)
    assert exclusion_reason({**row, "plateau_gain": 0.05}, 0.03, 2.0) == (
        "still rising: 2× the steps gained +5.0% (tolerance 3%)")
    assert exclusion_reason({**row, "plateau_gain": 0.029}, 0.03, 2.0) is None
    assert exclusion_reason({**row, "plateau_gain": None}, 0.03, 2.0).startswith(
        "no plateau test")


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
