"""From per-run text scores to the paper's pictures: memorization against N, test loss
against the capacity ratio (double descent), the membership-F1 law and its comparison with
Table 2, extraction on training vs held-out data, and the most memorized sequences."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from tokenizers import Tokenizer

from pipeline.core import corpus
from pipeline.core.errors import ArtifactError
from pipeline.core.io import read_json, read_parquet
from pipeline.core.layout import REFERENCE
from pipeline.core.probes.membership import (
    MembershipFit,
    fit_membership_law,
    paper_law,
    paper_table2_comparison,
)
from pipeline.tracks.text import layout
from pipeline.tracks.text.double_descent import capacity_ratio, peak_ratio

TABLE2 = REFERENCE / "morris2025_table2_membership.csv"
PAPER_TABLE2_SEQ_LEN = 64
CLAIM_TOKENS_PER_PARAM = 100.0  # the paper: F1 ≈ 0.5 from here on


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
    dataset information (reference code length) / (α · params)."""
    ratios = [capacity_ratio(bits, alpha, params)
              for bits, params in zip(totals["dataset_bits"], totals["params"], strict=True)]
    return totals.with_columns(
        (pl.col("params") * alpha).alias("capacity_bits_predicted"),
        pl.Series("capacity_ratio", ratios, dtype=pl.Float64),
    )


X_LOW, X_HIGH = 0.3, 30.0  # the x range that makes a peak near x ≈ 1 resolvable
IDENTICAL_TARGET = 0.7  # peak mem_U / identical-architecture capacity the defaults aim for


def with_identical_capacity(table: pl.DataFrame, identical: pl.DataFrame) -> pl.DataFrame:
    """Adds each shape's capacity on uniform tokens of the same V and S
    (``identical_capacity_bits``) and x against it (``capacity_ratio_identical``)."""
    capacity = identical.group_by("config").agg(
        pl.col("capacity_bits").first().alias("identical_capacity_bits"))
    missing = set(table["config"]) - set(capacity["config"])
    if missing:
        raise ArtifactError(f"{layout.IDENTICAL_RESULTS}: no capacity for {sorted(missing)}; "
                            "rerun stage text_capacity")
    return table.join(capacity, on="config", how="left").with_columns(
        (pl.col("dataset_bits") / pl.col("identical_capacity_bits"))
        .alias("capacity_ratio_identical"))


def capacity_comparison(table: pl.DataFrame, identical: pl.DataFrame) -> list[dict[str, Any]]:
    """Per shape: the peak ``mem_U`` on text against the identical architecture's capacity
    and against α × params, and the x range the grid spans against each."""
    rows = []
    for (config,), runs in sorted(table.group_by("config")):
        peak = runs.sort("memorized_bits", descending=True).row(0, named=True)
        own = identical.filter(pl.col("config") == config).row(0, named=True)
        x_alpha, x_identical = runs["capacity_ratio"], runs["capacity_ratio_identical"]
        rows.append({
            "config": config,
            "params": int(peak["params"]),
            "peak_memorized_bits": float(peak["memorized_bits"]),
            "peak_at_n": int(peak["n_sequences"]),
            "identical_capacity_bits": float(own["capacity_bits"]),
            "identical_capacity_at_n": int(own["capacity_at_n"]),
            "identical_capacity_data_limited": bool(own["capacity_data_limited"]),
            "alpha_capacity_bits": float(peak["capacity_bits_predicted"]),
            "peak_over_identical": float(peak["memorized_bits"] / own["capacity_bits"]),
            "peak_over_alpha": float(peak["memorized_bits"] / peak["capacity_bits_predicted"]),
            "x_alpha_range": [float(x_alpha.min()), float(x_alpha.max())],
            "x_identical_range": [float(x_identical.min()), float(x_identical.max())],
            "x_resolvable": bool(min(x_alpha.min(), x_identical.min()) <= X_LOW
                                 and min(x_alpha.max(), x_identical.max()) >= X_HIGH),
        })
    return rows


def by_size(totals: pl.DataFrame) -> pl.DataFrame:
    """Mean (and spread) over seeds of each (config, N)."""
    numeric = [c for c, t in totals.schema.items() if t.is_numeric()
               and c not in ("n_sequences", "seed", "params", "n_layer", "d_model")]
    return (
        totals.group_by("config", "params", "n_sequences")
        .agg([pl.col(c).mean() for c in numeric]
             + [pl.col("memorized_bits").std().fill_null(0.0).alias("memorized_bits_std"),
                pl.col("converged").sum().alias("converged_runs"),
                pl.col("device").unique().sort().str.join(", ").alias("device"),
                pl.len().alias("seeds")])
        .sort("params", "config", "n_sequences")
    )


def double_descent_peaks(table: pl.DataFrame) -> dict[str, float]:
    """Per config, the capacity ratio at which test loss is highest."""
    return {
        config: peak_ratio(rows["capacity_ratio"].to_numpy(),
                           rows["test_loss_bits_per_token"].to_numpy())
        for (config,), rows in table.group_by("config")
    }


def peak_position(table: pl.DataFrame, config: str, ratio: float) -> str:
    """Where a config's test-loss peak lies: ``interior``, ``smallest N`` or ``largest N``
    (a peak at an end of the N range is no double-descent peak)."""
    ratios = table.filter(pl.col("config") == config)["capacity_ratio"]
    if ratio <= ratios.min():
        return "smallest N"
    return "largest N" if ratio >= ratios.max() else "interior"


@dataclass(frozen=True)
class MembershipSummary:
    fit: MembershipFit
    table2: pl.DataFrame
    claim: dict[str, Any]


def membership_summary(totals: pl.DataFrame, seq_len: int, confidence: float
                       ) -> MembershipSummary:
    """Fit the sigmoid law on our runs, compare with Table 2 and with "F1 ≈ 0.5 at ≥ 100
    tokens per parameter"."""
    fit = fit_membership_law(totals["membership_x"].to_numpy(), totals["f1"].to_numpy(),
                             confidence)
    table2 = paper_table2_comparison(fit, TABLE2, seq_len=PAPER_TABLE2_SEQ_LEN)
    at_claim = totals.filter(pl.col("tokens_per_param") >= CLAIM_TOKENS_PER_PARAM)
    most = totals.sort("tokens_per_param").tail(1).row(0, named=True)
    x_claim = 1000.0 * CLAIM_TOKENS_PER_PARAM / seq_len  # membership_x at 100 tokens/param
    claim = {
        "tokens_per_param_threshold": CLAIM_TOKENS_PER_PARAM,
        "runs_at_or_above": at_claim.height,
        "f1_mean_at_or_above": float(at_claim["f1"].mean()) if at_claim.height else None,
        "f1_sd_at_or_above": float(at_claim["f1"].std()) if at_claim.height > 1 else None,
        "max_tokens_per_param": float(most["tokens_per_param"]),
        "f1_at_max_tokens_per_param": float(most["f1"]),
        "run_at_max_tokens_per_param": most["run_id"],
        "fitted_f1_at_threshold": float(fit.predict(x_claim)),
        "paper_law_f1_at_threshold": float(paper_law(x_claim)),
        "x_at_threshold": x_claim,
    }
    return MembershipSummary(fit=fit, table2=table2, claim=claim)


def law_curve(fit: MembershipFit, x: np.ndarray, seq_len: int, params: float) -> pl.DataFrame:
    """The fitted law and the paper's constants along ``x`` for one model size."""
    return pl.DataFrame({
        "membership_x": x,
        "tokens_per_param": x * seq_len / 1000.0,
        "n_sequences": x * params / 1000.0,
        "fitted_f1": fit.predict(x),
        "paper_law_f1": paper_law(x),
    })


def extraction_gap(totals: pl.DataFrame, prefixes: list[int]) -> list[dict[str, Any]]:
    """Train and test exact-extraction rates at each config's smallest and largest N."""
    rows = []
    for (config,), runs in sorted(totals.group_by("config")):
        table = by_size(runs)
        for label, row in (("smallest N", table.row(0, named=True)),
                           ("largest N", table.row(-1, named=True))):
            for k in prefixes:
                rows.append({
                    "config": config, "at": label, "n_sequences": row["n_sequences"], "k": k,
                    "train": row[f"extract_train_k{k}"], "test": row[f"extract_test_k{k}"],
                })
    return rows


def top_memorized_sequences(totals: pl.DataFrame, decoder: Tokenizer, k: int,
                            root: Path = Path(".")) -> tuple[str, pl.DataFrame]:
    """The ``k`` most memorized training sequences of the run that memorized most, with
    their text."""
    best = totals.sort("memorized_bits", descending=True).row(0, named=True)
    scores = read_parquet(layout.run_scores(best["run_id"], root))
    top = scores.sort("mem_bits", descending=True).head(k)
    members = corpus.read_pool("members", root)
    texts = decoder.decode_batch([members[i].tolist() for i in top["pool_index"]],
                                 skip_special_tokens=False)
    return best["run_id"], top.select("pool_index", "mem_bits", "nll_bits", "reference_bits",
                                      "tfidf").with_columns(pl.Series("text", texts))
