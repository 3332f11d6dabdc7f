"""The text track's DVC plot data (CSV under ``data/text/plots``) and the same plots as PNG:
memorization against N, test loss against the capacity ratio (double descent), membership
F1 against tokens per parameter with the fitted law, extraction rates against N."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

from pipeline.core.io import atomic_path, write_csv  # noqa: E402
from pipeline.core.probes.membership import MembershipFit  # noqa: E402
from pipeline.tracks.text.summary import law_curve  # noqa: E402


def _configs(table: pl.DataFrame) -> list[tuple[str, pl.DataFrame]]:
    groups = [(config, rows.sort("n_sequences")) for (config,), rows in table.group_by("config")]
    return sorted(groups, key=lambda g: (g[1]["params"][0], g[0]))


def _law_x(table: pl.DataFrame) -> np.ndarray:
    lo, hi = table["membership_x"].min(), table["membership_x"].max()
    return np.geomspace(lo / 2, max(hi * 4, 1000.0 * 200 / 64), 60)


def write_plot_data(table: pl.DataFrame, fit: MembershipFit, prefixes: list[int],
                    seq_len: int, plots_dir: Path) -> None:
    """CSV files that ``dvc plots`` draws. Per-N data are long tables with a ``series``
    column, one line per series (template ``.dvc/plots/series.json``)."""
    ordered = table.sort("params", "config", "n_sequences")
    series = pl.col("config").alias("series")
    write_csv(ordered.select(series, "n_sequences", "memorized_bits", "memorized_bits_std",
                             "memorized_bits_oracle", "memorized_bits_same_size",
                             "dataset_bits", "capacity_bits_predicted"),
              plots_dir / "memorization_vs_n.csv")
    write_csv(ordered.select(series, "capacity_ratio", "n_sequences", "test_loss_bits_per_token",
                             "train_loss_bits_per_token"),
              plots_dir / "double_descent.csv")
    write_csv(pl.concat([
        ordered.select((pl.col("config") + f" k={k} {split}").alias("series"), "n_sequences",
                       pl.col(f"extract_{column}_k{k}").alias("extraction_rate"))
        for k in prefixes for split, column in (("train", "train"), ("held-out", "test"))
    ]), plots_dir / "extraction.csv")
    write_csv(table.select("config", "n_sequences", "tokens_per_param", "membership_x", "f1",
                           "auc").with_columns(
                  pl.Series("fitted_f1", fit.predict(table["membership_x"].to_numpy()))),
              plots_dir / "membership_f1.csv")
    params = float(table["params"].max())
    write_csv(law_curve(fit, _law_x(table), seq_len, params), plots_dir / "membership_law.csv")


def _save(fig, path: Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)


def memorization_figure(table: pl.DataFrame, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for config, rows in _configs(table):
        line = ax.errorbar(rows["n_sequences"], rows["memorized_bits"],
                           yerr=rows["memorized_bits_std"], marker="o", capsize=3, label=config)
        ax.axhline(rows["capacity_bits_predicted"][0], color=line[0].get_color(),
                   linestyle=":", linewidth=1)
        ax.axhline(rows["identical_capacity_bits"][0], color=line[0].get_color(),
                   linestyle="--", linewidth=1)
    ax.set(xscale="log", xlabel="training sequences N", ylabel="unintended memorization (bits)",
           title="Text: memorization against N (dotted: α × params; "
                 "dashed: the identical architecture's capacity)")
    ax.legend(fontsize=8)
    _save(fig, path)


def double_descent_figure(table: pl.DataFrame, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for config, rows in _configs(table):
        ax.plot(rows["capacity_ratio"], rows["test_loss_bits_per_token"], marker="o",
                label=f"{config} test")
        ax.plot(rows["capacity_ratio"], rows["train_loss_bits_per_token"], marker=".",
                linestyle="--", label=f"{config} train")
    ax.axvline(1.0, color="k", linestyle=":", linewidth=1, label="dataset bits = α × params")
    ax.set(xscale="log", xlabel="dataset information / (α × params)",
           ylabel="loss (bits per token)", title="Text: loss against the capacity ratio")
    ax.legend(fontsize=8)
    _save(fig, path)


def membership_figure(table: pl.DataFrame, fit: MembershipFit, seq_len: int,
                      path: Path) -> None:
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for config, rows in _configs(table):
        ax.scatter(rows["tokens_per_param"], rows["f1"], label=config, zorder=3)
    curve = law_curve(fit, _law_x(table), seq_len, float(table["params"].max()))
    if fit.converged:
        ax.plot(curve["tokens_per_param"], curve["fitted_f1"], "k-", label="fitted law")
    ax.plot(curve["tokens_per_param"], curve["paper_law_f1"], "r--",
            label="paper's constants (x = 1000·|D|/params)")
    ax.axhline(0.5, color="grey", linewidth=0.8)
    ax.axvline(100, color="grey", linestyle=":", linewidth=1, label="100 tokens/param")
    ax.set(xscale="log", ylim=(0.4, 1.05), xlabel="training tokens per parameter",
           ylabel="membership F1 (held-out half)", title="Loss-threshold membership inference")
    ax.legend(fontsize=8)
    _save(fig, path)


def extraction_figure(table: pl.DataFrame, prefixes: list[int], path: Path) -> None:
    groups = _configs(table)
    fig, axes = plt.subplots(1, len(groups), figsize=(4.5 * len(groups), 4), squeeze=False,
                             sharey=True)
    for ax, (config, rows) in zip(axes[0], groups, strict=True):
        for i, k in enumerate(prefixes):
            ax.plot(rows["n_sequences"], rows[f"extract_train_k{k}"], marker="o", color=f"C{i}",
                    label=f"train, k={k}")
            ax.plot(rows["n_sequences"], rows[f"extract_test_k{k}"], marker="x", color=f"C{i}",
                    linestyle="--", label=f"held-out, k={k}")
        ax.set(xscale="log", xlabel="training sequences N", title=config)
    axes[0][0].set_ylabel("exact extraction rate")
    axes[0][0].legend(fontsize=7)
    _save(fig, path)
