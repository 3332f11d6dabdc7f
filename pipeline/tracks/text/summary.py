"""From per-run text scores to the grid's picture: means over seeds with the calibrated total's
interval, the capacity ratios, each shape's calibrated peak against the identical
architecture's capacity and α × params, the double-descent reading, extraction at the ends of
the grid, and the most memorized sequences."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from tokenizers import Tokenizer

from pipeline.core import corpus
from pipeline.core.errors import ArtifactError
from pipeline.core.io import read_json, read_parquet
from pipeline.core.probes.calibration import mean_calibrated_memorization
from pipeline.core.stats import Interval
from pipeline.tracks.text import layout
from pipeline.tracks.text.config import TextConfig
from pipeline.tracks.text.double_descent import capacity_ratio

X_LOW, X_HIGH = 0.3, 30.0  # the x range that makes a peak near x ≈ 1 resolvable
IDENTICAL_TARGET = 0.7  # peak mem_U / identical-architecture capacity the defaults aim for
# Columns averaged over seeds for each (shape, N); intervals are recomputed, never averaged.
MEANS = ("dataset_bits", "dataset_bits_oracle", "memorized_bits", "memorized_bits_oracle",
         "memorized_bits_same_size", "heldout_scaled_bits", "train_loss_bits_per_token",
         "test_loss_bits_per_token", "steps", "greedy_agreement", "f1", "auc")


def read_alpha(path: Path) -> float:
    """α (bits per parameter) from the synthetic capacity fit."""
    metrics = read_json(path)
    alpha = metrics.get("alpha_bits_per_param")
    if not isinstance(alpha, (int, float)) or not math.isfinite(alpha) or alpha <= 0:
        raise ArtifactError(f"{path}: key 'alpha_bits_per_param' missing or not positive "
                            f"(got {alpha!r}); rerun the fit stage")
    return float(alpha)


def with_capacity_ratio(totals: pl.DataFrame, alpha: float) -> pl.DataFrame:
    """Adds ``capacity_bits_predicted = α · params`` and ``capacity_ratio`` =
    dataset information (the oracle's code length) / (α · params)."""
    ratios = [capacity_ratio(bits, alpha, params) for bits, params
              in zip(totals["dataset_bits_oracle"], totals["params"], strict=True)]
    return totals.with_columns(
        (pl.col("params") * alpha).alias("capacity_bits_predicted"),
        pl.Series("capacity_ratio", ratios, dtype=pl.Float64),
    )


def with_identical_capacity(table: pl.DataFrame, identical: pl.DataFrame) -> pl.DataFrame:
    """Adds each shape's capacity on uniform tokens of the same V and S
    (``identical_capacity_bits``) and x against it (``capacity_ratio_identical``)."""
    capacity = identical.group_by("config").agg(
        pl.col("capacity_bits").first().alias("identical_capacity_bits"),
        pl.col("capacity_at_n").first().alias("identical_capacity_at_n"),
        pl.col("capacity_data_limited").first().alias("identical_capacity_data_limited"))
    missing = set(table["config"]) - set(capacity["config"])
    if missing:
        raise ArtifactError(f"{layout.IDENTICAL_RESULTS}: no capacity for {sorted(missing)}; "
                            "rerun stage text_capacity")
    return table.join(capacity, on="config", how="left").with_columns(
        (pl.col("dataset_bits_oracle") / pl.col("identical_capacity_bits"))
        .alias("capacity_ratio_identical"))


def by_size(totals: pl.DataFrame) -> pl.DataFrame:
    """Means over seeds of each (shape, N), with the runs' spread, convergence and references."""
    means = [pl.col(c).mean() for c in (*MEANS, *extraction_columns(totals))]
    return (
        totals.group_by("config", "params", "n_sequences", "capacity_bits_predicted")
        .agg(means + [
            pl.col("capacity_ratio").mean(),
            pl.col("memorized_bits").std().fill_null(0.0).alias("memorized_bits_std"),
            pl.col("converged").sum().alias("converged_runs"),
            pl.col("device").unique().sort().str.join(", ").alias("device"),
            pl.col("references_used").unique().sort().str.join("; ").alias("references_used"),
            pl.col("references_refused").unique().sort().str.join("; ")
            .alias("references_refused"),
            pl.col("run_id").sort().alias("run_ids"),
            pl.len().alias("seeds")])
        .sort("params", "config", "n_sequences"))


def extraction_columns(totals: pl.DataFrame) -> list[str]:
    return [c for c in totals.columns if c.startswith(("extract_train_k", "extract_test_k"))]


def run_memorization(run_id: str, root: Path) -> tuple[np.ndarray, np.ndarray]:
    """Per-sequence ``mem_U`` of one run's training sequences and of the held-out ones."""
    scores = read_parquet(layout.run_scores(run_id, root))
    member = scores["member"].to_numpy()
    mem = scores["mem_bits"].to_numpy()
    return mem[member], mem[~member]


def calibrated_by_size(table: pl.DataFrame, text: TextConfig, root: Path) -> list[Interval]:
    """Per row of :func:`by_size`: the mean over its seeds of the calibrated total, with a
    bootstrap interval over sequences (untestable where no reference was admitted)."""
    out = []
    for row in table.iter_rows(named=True):
        runs = [run_memorization(run_id, root) for run_id in row["run_ids"]]
        if any(np.isnan(m).any() for m, _ in runs):
            out.append(Interval(None, None, None, text.confidence, row["n_sequences"],
                                "percentile bootstrap", reason="no reference admitted"))
            continue
        out.append(mean_calibrated_memorization(runs, confidence=text.confidence,
                                                n_resamples=text.calibration.resamples))
    return out


def x_span(runs: pl.DataFrame) -> dict[str, Any]:
    """The x range the grid spans against α·params and the identical architecture."""
    x_alpha, x_identical = runs["capacity_ratio"], runs["capacity_ratio_identical"]
    return {"x_alpha_range": [float(x_alpha.min()), float(x_alpha.max())],
            "x_identical_range": [float(x_identical.min()), float(x_identical.max())],
            "x_resolvable": bool(min(x_alpha.min(), x_identical.min()) <= X_LOW
                                 and min(x_alpha.max(), x_identical.max()) >= X_HIGH)}


def extraction_gap(table: pl.DataFrame, prefixes: list[int]) -> list[dict[str, Any]]:
    """Train and held-out exact-extraction rates at each shape's smallest and largest N."""
    rows = []
    for (config,), runs in sorted(table.group_by("config")):
        runs = runs.sort("n_sequences")
        for label, row in (("smallest N", runs.row(0, named=True)),
                           ("largest N", runs.row(-1, named=True))):
            rows += [{"config": config, "at": label, "n_sequences": row["n_sequences"], "k": k,
                      "train": row[f"extract_train_k{k}"], "test": row[f"extract_test_k{k}"]}
                     for k in prefixes]
    return rows


def nothing_extracted_from(table: pl.DataFrame, prefixes: list[int]) -> int | None:
    """The smallest N from which no training sequence is extracted at any prefix (for every
    larger N too), or None."""
    columns = [f"extract_train_k{k}" for k in prefixes]
    extracted = table.group_by("n_sequences").agg(
        pl.max_horizontal(*[pl.col(c).max() for c in columns]).alias("rate")).sort("n_sequences")
    zero_from = None
    for n, rate in extracted.iter_rows():
        zero_from = (zero_from or n) if rate == 0 else None
    return zero_from


def top_memorized_sequences(run_id: str, decoder: Tokenizer, k: int,
                            root: Path = Path(".")) -> pl.DataFrame:
    """The ``k`` most memorized training sequences of a run, with the held-out mean
    ``mem_U`` subtracted (``calibrated_bits``) and their text."""
    scores = read_parquet(layout.run_scores(run_id, root))
    floor = float(scores.filter(~pl.col("member"))["mem_bits"].mean())
    top = scores.filter(pl.col("member")).sort("mem_bits", descending=True).head(k)
    members = corpus.read_pool("members", root)
    texts = decoder.decode_batch([members[i].tolist() for i in top["pool_index"]],
                                 skip_special_tokens=False)
    return top.select("pool_index", "mem_bits", "nll_bits", "reference_bits", "tfidf") \
        .with_columns((pl.col("mem_bits") - floor).alias("calibrated_bits"),
                      pl.Series("text", texts))
