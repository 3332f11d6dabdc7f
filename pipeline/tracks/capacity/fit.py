"""Capacity per model configuration and the bits-per-parameter fit (docs/science.md §1).

Capacity of a configuration = the maximum over N of the seed-mean dataset memorization.
α = bits per parameter, by OLS of capacity on parameter count through the origin
(statsmodels), with its confidence interval and (uncentered) R².
"""

from __future__ import annotations

import numpy as np
import polars as pl
import statsmodels.api as sm
from pydantic import BaseModel

from pipeline.core.integrity import require_finite
from pipeline.core.layout import REFERENCE

# Share of a dataset memorized at a configuration's maximum from which the maximum is taken
# to be set by the data (a lower bound on capacity), not by the model.
DATA_LIMITED_SHARE = 0.95
PAPER_TABLE1 = REFERENCE / "morris2025_table1_capacity.csv"
PAPER_ALPHA = 3.64  # bits per parameter, Morris et al. 2025
PAPER_ALPHA_BF16 = 3.51  # average over the 16 configurations
PAPER_ALPHA_FP32 = 3.83


class AlphaFit(BaseModel):
    """α by OLS of capacity on parameters through the origin; no interval from one shape."""

    alpha: float
    ci_low: float | None
    ci_high: float | None
    r_squared: float
    n_configs: int
    confidence: float


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
            ((pl.col("largest_dataset_bits") > 1.1 * pl.col("capacity_bits"))
             & ~pl.col("data_limited")).alias("grid_exceeds_capacity"),
        )
        .sort("params", "config")
    )


def fit_alpha(capacity: pl.DataFrame, confidence: float = 0.95) -> AlphaFit:
    """OLS of capacity on parameters with no intercept."""
    x = capacity["params"].to_numpy().astype(float)
    y = capacity["capacity_bits"].to_numpy().astype(float)
    require_finite(np.concatenate([x, y]), "capacity fit inputs (params, capacity_bits)",
                   "a scored run is broken; rerun capacity_score")
    result = sm.OLS(y, x, hasconst=False).fit()  # through the origin, even for one row
    low = high = None
    if len(x) > 1:
        low, high = (float(v) for v in result.conf_int(alpha=1 - confidence)[0])
    return AlphaFit(
        alpha=float(result.params[0]),
        ci_low=low,
        ci_high=high,
        r_squared=float(result.rsquared),
        n_configs=len(x),
        confidence=confidence,
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
