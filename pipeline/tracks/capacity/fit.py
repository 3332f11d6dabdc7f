"""Capacity per model configuration and the bits-per-parameter fit (docs/science.md §1,
docs/capacity.md).

Capacity of a configuration = the maximum over N of the seed-mean dataset memorization.
A configuration enters α only if that maximum is the model's, by rule (:func:`admission`):
not data-limited, its largest dataset holding at least ``GRID_REACH`` × the capacity, and its
capacity-defining runs at their plateau by the direct test (stage capacity_plateau).
α = bits per parameter, by OLS of capacity on parameter count through the origin
(statsmodels), over the admitted configurations; its interval is a nested bootstrap over
configurations and, within each, seeds (:func:`pipeline.core.stats.nested_bootstrap`).
"""

from __future__ import annotations

import numpy as np
import polars as pl
import statsmodels.api as sm
from pydantic import BaseModel

from pipeline.core.integrity import require_finite
from pipeline.core.layout import REFERENCE
from pipeline.core.stats import Interval, nested_bootstrap
from pipeline.tracks.capacity.config import GRID_REACH, PAPER_ALPHA

# Share of a dataset memorized at a configuration's maximum from which the maximum is taken
# to be set by the data (a lower bound on capacity), not by the model.
DATA_LIMITED_SHARE = 0.95
PAPER_TABLE1 = REFERENCE / "morris2025_table1_capacity.csv"
# Fewest configurations for an interval: with 3 there are 10 distinct draws of them (each
# with its own seed draws inside), so the interval is coarse, and says so in its method.
MIN_CONFIGS = 3
PAPER_ALPHA_BF16 = 3.51  # average over the 16 configurations
PAPER_ALPHA_FP32 = 3.83


class AlphaFit(BaseModel):
    """α by OLS of capacity on parameters through the origin, over the admitted configs;
    the interval by a nested bootstrap (configs, then seeds), or none and why."""

    alpha: float
    ci_low: float | None
    ci_high: float | None
    ci_method: str = "bootstrap"
    ci_detail: str = ""
    ci_reason: str | None = None
    r_squared: float
    n_configs: int
    confidence: float
    included: list[str] = []
    excluded: dict[str, str] = {}
    admitted_only: bool = True


def memorization_by_size(totals: pl.DataFrame) -> pl.DataFrame:
    """Seed-mean (and spread of) dataset memorization per (configuration, N). With one seed
    the spread is undefined (null), not zero."""
    return (
        totals.group_by("config", "n_layer", "d_model", "params", "n_sequences")
        .agg(
            pl.col("memorized_bits").mean().alias("mem_bits_mean"),
            pl.col("memorized_bits").std().alias("mem_bits_std"),
            pl.col("dataset_bits").first(),
            pl.len().alias("seeds"),
            pl.col("converged").all().alias("all_converged"),
        )
        .sort("params", "config", "n_sequences")
    )


def capacity_by_config(totals: pl.DataFrame) -> pl.DataFrame:
    """Capacity per configuration: the N whose seed-mean memorization is largest."""
    by_size = memorization_by_size(totals)
    best = (
        by_size.sort("mem_bits_mean", descending=True)
        .group_by("config", maintain_order=True)
        .first()
        .select(
            "config", "n_layer", "d_model", "params",
            pl.col("mem_bits_mean").alias("capacity_bits"),
            pl.col("mem_bits_std").alias("capacity_bits_std"),
            pl.col("n_sequences").alias("n_at_capacity"),
            (pl.col("mem_bits_mean") / pl.col("dataset_bits")).alias("memorized_share_at_capacity"),
            pl.col("all_converged").alias("converged_at_capacity"),
        )
    )
    span = by_size.group_by("config").agg(
        pl.col("dataset_bits").min().alias("smallest_dataset_bits"),
        pl.col("dataset_bits").max().alias("largest_dataset_bits"),
    )
    runs = totals.group_by("config").agg(
        pl.len().alias("runs"), pl.col("converged").sum().alias("runs_converged")
    )
    return (
        best.join(span, on="config").join(runs, on="config")
        .with_columns(
            (pl.col("capacity_bits") / pl.col("params")).alias("bits_per_param"),
            # Nearly all of the dataset memorized where the maximum sits: the data, not the
            # model, set the value, which is then only a lower bound.
            (pl.col("memorized_share_at_capacity") >= DATA_LIMITED_SHARE).alias("data_limited"),
        )
        .with_columns(
            # A plateau can only be read off a grid whose datasets hold more than the model
            # stored, at a maximum the data did not set.
            ((pl.col("largest_dataset_bits") >= GRID_REACH * pl.col("capacity_bits"))
             & ~pl.col("data_limited")).alias("grid_exceeds_capacity"),
        )
        .sort("params", "config")
    )


def seed_capacities(totals: pl.DataFrame, capacity: pl.DataFrame) -> pl.DataFrame:
    """Each seed's memorization at its configuration's N at capacity (the N chosen by the
    seed mean): the items α's bootstrap resamples within a configuration."""
    return (
        totals.join(capacity.select("config", "n_at_capacity"), on="config")
        .filter(pl.col("n_sequences") == pl.col("n_at_capacity"))
        .select("config", "params", "seed", pl.col("memorized_bits").alias("capacity_bits"))
        .sort("params", "config", "seed")
    )


def plateau_by_config(plateau: pl.DataFrame) -> pl.DataFrame:
    """Mean relative gain of each configuration's retrained capacity-defining runs."""
    return plateau.group_by("config").agg(pl.col("gain").mean().alias("plateau_gain"),
                                          pl.len().alias("plateau_runs"))


def exclusion_reason(row: dict, tolerance: float, factor: float) -> str | None:
    """Why a configuration's capacity cannot enter α, or None: the first rule it fails."""
    if row["data_limited"]:
        return (f"data-limited: at N = {row['n_at_capacity']} it memorized "
                f"{row['memorized_share_at_capacity']:.1%} of its dataset (≥ "
                f"{DATA_LIMITED_SHARE:.0%}): a lower bound")
    reach = row["largest_dataset_bits"] / row["capacity_bits"]
    if reach < GRID_REACH:
        return (f"grid too short: the largest N holds {reach:.2f}× the capacity, less than "
                f"{GRID_REACH:g}×")
    gain = row.get("plateau_gain")
    if gain is None:
        return "no plateau test: its capacity-defining runs were not trained again"
    if not gain < tolerance:
        return (f"still rising: {factor:g}× the steps gained {gain:+.1%} (tolerance "
                f"{tolerance:.0%})")
    return None


def admission(capacity: pl.DataFrame, plateau: pl.DataFrame, tolerance: float,
              factor: float) -> pl.DataFrame:
    """``capacity`` with the plateau test's mean gain and whether each configuration enters
    α (``included``) or why not (``exclusion_reason``)."""
    out = capacity.join(plateau_by_config(plateau), on="config", how="left")
    reasons = [exclusion_reason(row, tolerance, factor) for row in out.iter_rows(named=True)]
    return out.with_columns(pl.Series("exclusion_reason", reasons, dtype=pl.Utf8)).with_columns(
        pl.col("exclusion_reason").is_null().alias("included"))


def ols_through_origin(x: np.ndarray, y: np.ndarray):
    return sm.OLS(y, x, hasconst=False).fit()  # through the origin, even for one row


def alpha_statistic(bits: np.ndarray, params: np.ndarray, draw: np.ndarray) -> float:
    """α of a resample: OLS through the origin of each drawn config's seed-mean capacity."""
    counts = np.bincount(draw)
    means = np.bincount(draw, bits) / counts
    x = np.bincount(draw, params) / counts
    return float(x @ means / (x @ x))


def alpha_interval(per_seed: pl.DataFrame, confidence: float, n_resamples: int) -> Interval:
    return nested_bootstrap(
        alpha_statistic, per_seed["capacity_bits"].to_numpy().astype(float),
        per_seed["params"].to_numpy().astype(float), groups=per_seed["config"].to_numpy(),
        confidence=confidence, n_resamples=n_resamples, seed=0, min_groups=MIN_CONFIGS)


def fit_alpha(capacity: pl.DataFrame, confidence: float = 0.95,
              per_seed: pl.DataFrame | None = None, n_resamples: int = 4000) -> AlphaFit:
    """OLS of capacity on parameters with no intercept, over the admitted configurations
    (all of them when ``capacity`` has no ``included`` column, or when none is admitted:
    then ``admitted_only`` is false and α is no finding). The interval: a nested bootstrap
    over configurations and seeds of ``per_seed`` (:func:`seed_capacities`)."""
    excluded = {}
    admitted_only = True
    if "included" in capacity.columns:
        excluded = {r["config"]: r["exclusion_reason"]
                    for r in capacity.filter(~pl.col("included")).iter_rows(named=True)}
        if capacity["included"].any():
            capacity = capacity.filter(pl.col("included"))
        else:
            admitted_only = False
    x = capacity["params"].to_numpy().astype(float)
    y = capacity["capacity_bits"].to_numpy().astype(float)
    require_finite(np.concatenate([x, y]), "capacity fit inputs (params, capacity_bits)",
                   "a scored run is broken; rerun capacity_score")
    result = ols_through_origin(x, y)
    if per_seed is None:
        interval = None
        reason, detail = "no per-seed capacities given", ""
    else:
        seeds = per_seed.filter(pl.col("config").is_in(capacity["config"].to_list()))
        interval = alpha_interval(seeds, confidence, n_resamples)
        reason = interval.reason
        detail = f"{interval.method}, {interval.n_resamples} resamples, {interval.n} configs"
    return AlphaFit(
        alpha=float(result.params[0]),
        ci_low=interval.low if interval else None,
        ci_high=interval.high if interval else None,
        ci_detail=detail, ci_reason=reason,
        r_squared=float(result.rsquared),
        n_configs=len(x),
        confidence=confidence,
        included=capacity["config"].to_list() if admitted_only else [],
        excluded=excluded, admitted_only=admitted_only,
    )


def with_paper_columns(capacity: pl.DataFrame, vocab_size: int, seq_len: int) -> pl.DataFrame:
    """Add Table 1's capacities and bits per parameter where the setting is the paper's own
    (V=2048, S=64); elsewhere those columns are null and only α_paper · params is shown."""
    paper = pl.read_csv(PAPER_TABLE1).select(
        "n_layer", "d_model",
        pl.col("params_gpt2lmhead_v2048_ctx64").alias("paper_params"),
        pl.col("capacity_bits_bf16").cast(pl.Float64).alias("paper_capacity_bits_bf16"),
        pl.col("capacity_bits_fp32").cast(pl.Float64).alias("paper_capacity_bits_fp32"),
        pl.col("bits_per_param_bf16").alias("paper_bits_per_param_bf16"),
        pl.col("bits_per_param_fp32").alias("paper_bits_per_param_fp32"),
    )
    out = capacity.join(paper, on=["n_layer", "d_model"], how="left")
    if (vocab_size, seq_len) != (2048, 64):
        paper_cols = [c for c in paper.columns if c.startswith("paper_")]
        out = out.with_columns(pl.lit(None, pl.Float64).alias(c) for c in paper_cols)
    return out.with_columns(
        (PAPER_ALPHA * pl.col("params")).alias("paper_alpha_prediction_bits")
    )
