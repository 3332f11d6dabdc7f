"""The retention track's figures (PNG) and DVC plot data (long CSVs with a ``series``
column): retention by encoder and budget, copy accuracy and causal loss by objective, and
causal loss by chunk. Held-out and train rows are bars side by side, never stacked
(``.dvc/plots/bars.json``)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import polars as pl  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from pipeline.core import figures  # noqa: E402
from pipeline.core.io import write_csv  # noqa: E402


def write_plot_data(retention: pl.DataFrame, memory: pl.DataFrame, chunks: pl.DataFrame,
                    directory: Path) -> None:
    # held-out and train are two bars of their own (never stacked: each is an accuracy), and
    # the majority rate on held-out text is a third, the floor a decoder reaches unaided
    floor = retention.filter(pl.col("split") == "heldout").select(
        pl.col("run_id").alias("probe"), pl.lit("majority-rate floor").alias("series"),
        pl.col("majority_rate").alias("accuracy"))
    write_csv(pl.concat([retention.select(
        pl.col("run_id").alias("probe"), pl.col("split").alias("series"), "accuracy",
        "ce_ratio", "retained_fraction"), floor], how="diagonal"), directory / "retention.csv")
    write_csv(memory.select(
        "run_id", pl.col("split").alias("series"), "causal_ce_bits", "copy_accuracy",
        "blank_copy_accuracy"), directory / "memory.csv")
    if not chunks.is_empty():
        write_csv(chunks.select(pl.col("run_id").alias("series"), "chunk", "ce_bits"),
                  directory / "chunks.csv")


def retention_figure(retention: pl.DataFrame, path: Path) -> None:
    held = retention.filter(pl.col("split") == "heldout")
    figure, axes = plt.subplots(1, 2, figsize=(11, 0.45 * len(held) + 1.5), sharey=True)
    labels = [f"{r['encoder']} ({r['kind']}, n={r['length']})" for r in held.iter_rows(named=True)]
    axes[0].barh(labels, held["accuracy"], color="tab:blue")
    axes[0].scatter(held["majority_rate"], labels, color="black", marker="|", s=200,
                    label="majority rate (null floor)")
    axes[0].set_xlabel("held-out token accuracy (share of tokens)")
    axes[0].set_xlim(0, 1)
    axes[0].legend(loc="lower right", fontsize=8)
    axes[1].barh(labels, held["ce_ratio"], color="tab:orange")
    axes[1].axvline(1.0, color="black", lw=0.8)
    axes[1].set_xlabel("CE / CE(null memory)  (ratio; 1 = nothing retained)")
    axes[0].set_ylabel("encoder (kind, input length n)")
    figure.suptitle("Held-out reconstruction from one embedding, by encoder and budget")
    figures.save(figure, path)


def memory_figure(memory: pl.DataFrame, path: Path) -> None:
    held = memory.filter(pl.col("split") == "heldout")
    runs = held["run_id"].to_list()
    figure, axes = plt.subplots(1, 2, figsize=(11, 0.45 * len(runs) + 1.5), sharey=True)
    y = range(len(runs))
    axes[0].barh([i - 0.2 for i in y], held["blank_copy_accuracy"], height=0.4,
                 label="blank-copy", color="tab:green")
    axes[0].barh([i + 0.2 for i in y], held["copy_accuracy"], height=0.4, label="copy",
                 color="tab:olive")
    axes[0].set_yticks(list(y), runs)
    axes[0].set_xlim(0, 1)
    axes[0].set_xlabel("held-out copy accuracy (share of second-half tokens)")
    axes[0].set_ylabel("memory model (run)")
    axes[0].legend(fontsize=8)
    axes[1].barh(list(y), held["causal_ce_bits"], color="tab:red")
    axes[1].set_xlabel("held-out causal CE (bits/token)")
    figure.suptitle("Memory models: copy accuracy and causal loss by objective")
    figures.save(figure, path)


def chunks_figure(chunks: pl.DataFrame, path: Path) -> None:
    figure, axis = plt.subplots(figsize=(6, 4))
    for run in chunks["run_id"].unique(maintain_order=True).to_list():
        rows = chunks.filter(pl.col("run_id") == run)
        axis.plot(rows["chunk"], rows["ce_bits"], marker="o", label=run)
    axis.set_xlabel("chunk (index in the sequence)")
    axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    axis.set_ylabel("held-out causal CE (bits/token)")
    axis.set_title("Held-out causal loss by chunk, one line per memory model")
    axis.legend(fontsize=7)
    figures.save(figure, path)
