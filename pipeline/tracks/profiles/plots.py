"""The profiles track's figures (PNG) and DVC plot data (long CSVs with a ``series``
column): shares of M = 1 against parameters, L and k; histograms of M, members beside
non-members; transition heatmaps; boundary curves; the embeddings' PCA picture."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

from pipeline.core.io import atomic_path, write_csv  # noqa: E402
from pipeline.tracks.profiles.levels import LABELS, N_LEVELS  # noqa: E402


def _save(fig, path: Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)


def write_plot_data(shares: pl.DataFrame, boundary: pl.DataFrame, k: int, length: int,
                    plots: Path) -> None:
    members = shares.filter(pl.col("population").is_in(["members", "non-members"]))
    write_csv(members.filter(pl.col("k") == k).select(
        (pl.col("population") + " L=" + pl.col("L").cast(pl.String)).alias("series"),
        "params", "full_share", "mean_M").sort("series", "params"),
        plots / "full_share_vs_params.csv")
    write_csv(boundary.select(
        (pl.col("model") + " M=" + pl.col("level").cast(pl.String)).alias("series"),
        "index", "entropy_nats", "unigram_freq").sort("series", "index"),
        plots / "boundary.csv")


def share_figures(shares: pl.DataFrame, k: int, length: int, figures: Path) -> None:
    members = shares.filter(pl.col("population") == "members")
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for L, rows in members.filter(pl.col("k") == k).group_by("L", maintain_order=True):
        rows = rows.sort("params")
        axes[0].plot(rows["params"], 100 * rows["full_share"], marker="o", label=f"k={k}, L={L[0]}")
    for K, rows in members.filter((pl.col("L") == length) & (pl.col("k") != k)).group_by(
            "k", maintain_order=True):
        rows = rows.sort("params")
        axes[0].plot(rows["params"], 100 * rows["full_share"], marker="s", linestyle="--",
                     label=f"k={K[0]}, L={length}")
    axes[0].set(xscale="log", xlabel="parameters", ylabel="members at M = 1 (%)",
                title="M = 1 share against size")
    axes[0].legend(fontsize=7)
    for (model,), rows in members.group_by("model", maintain_order=True):
        at_k = rows.filter(pl.col("k") == k).sort("L")
        axes[1].plot(at_k["L"], 100 * at_k["full_share"], marker="o", label=model)
        at_l = rows.filter(pl.col("L") == length).sort("k")
        axes[2].plot(at_l["k"], 100 * at_l["full_share"], marker="o", label=model)
    axes[1].set(xlabel="continuation L", ylabel="members at M = 1 (%)",
                title=f"against L (k = {k})")
    axes[2].set(xlabel="context k", ylabel="members at M = 1 (%)",
                title=f"against k (L = {length})")
    axes[1].legend(fontsize=7)
    _save(fig, figures / "full_share.png")


def histogram_figure(main: pl.DataFrame, models: list[str], length: int, path: Path) -> None:
    fig, axes = plt.subplots(1, len(models), figsize=(3.2 * len(models), 3), sharey=True)
    bins = np.arange(length + 2) / length - 0.5 / length
    for ax, name in zip(np.atleast_1d(axes), models, strict=True):
        rows = main.filter(pl.col("model") == name)
        for member, label in ((True, "members"), (False, "non-members")):
            values = rows.filter(pl.col("member") == member)["M"].to_numpy()
            ax.hist(values, bins=bins, alpha=0.6, label=label,
                    weights=np.full(len(values), 1 / max(len(values), 1)))
        ax.set(title=name, xlabel="M", yscale="log")
    np.atleast_1d(axes)[0].set_ylabel("share of sequences")
    np.atleast_1d(axes)[0].legend(fontsize=7)
    _save(fig, path)


def transition_figure(matrices: pl.DataFrame, path: Path) -> None:
    pairs = matrices.select("source", "target", "direction").unique(maintain_order=True)
    if pairs.height == 0:
        return
    columns = (pairs.height + 1) // 2
    fig, axes = plt.subplots(2, columns, figsize=(4.2 * columns, 8.5), squeeze=False,
                             layout="constrained")
    for ax, (source, target, _) in zip(axes.T.ravel(), pairs.iter_rows(), strict=False):
        rows = matrices.filter((pl.col("source") == source) & (pl.col("target") == target))
        matrix = rows["share"].to_numpy().reshape(N_LEVELS, N_LEVELS)
        ax.imshow(np.nan_to_num(matrix), vmin=0, vmax=1, cmap="Blues")
        for i in range(N_LEVELS):
            for j in range(N_LEVELS):
                if np.isfinite(matrix[i, j]):
                    ax.text(j, i, f"{matrix[i, j]:.2f}", ha="center", va="center", fontsize=7)
        ax.set(title=f"{source} → {target}", xlabel=f"level in {target}",
               ylabel=f"level in {source}", xticks=range(N_LEVELS), yticks=range(N_LEVELS))
        ax.set_xticklabels(LABELS, fontsize=6, rotation=30)
        ax.set_yticklabels(LABELS, fontsize=6)
    _save(fig, path)


def boundary_figure(curves: pl.DataFrame, models: list[str], k: int, length: int,
                    path: Path) -> None:
    fig, axes = plt.subplots(2, len(models), figsize=(3.6 * len(models), 6), squeeze=False)
    levels = sorted(curves["level"].unique().to_list())
    colours = {m: plt.cm.viridis(i / max(1, len(levels) - 1)) for i, m in enumerate(levels)}
    for col, name in enumerate(models):
        rows = curves.filter((pl.col("model") == name) & (pl.col("sequences") > 0))
        for (m,), t in rows.group_by("level", maintain_order=True):
            t = t.sort("index")
            axes[0, col].plot(t["index"], t["unigram_freq"], color=colours[m],
                              label=f"M={m:g} (n={t['sequences'][0]})")
            axes[1, col].plot(t["index"], t["entropy_nats"], color=colours[m],
                              label=f"M={m:g}")
        for ax in axes[:, col]:
            for x in (k - 1, k, k + length // 2):
                ax.axvline(x, color="grey", linestyle=":", linewidth=0.8)
        axes[0, col].set(title=name, ylabel="1-gram frequency of the true token")
        axes[1, col].set(xlabel="token index", ylabel="entropy (nats)")
        axes[0, col].legend(fontsize=6)
    _save(fig, path)


def embedding_figure(embedding: dict, models: list[str], path: Path) -> None:
    fig, axes = plt.subplots(1, len(models), figsize=(3.6 * len(models), 3.4), squeeze=False)
    for ax, name in zip(axes[0], models, strict=True):
        points = pl.DataFrame(embedding[name]["pca_points"])
        scatter = ax.scatter(points["x"], points["y"], c=points["level"], cmap="viridis",
                             s=12, vmin=0, vmax=1)
        ax.set(title=f"{name} (silhouette {embedding[name]['silhouette_five_levels'] or 0:.2f})",
               xlabel="PC1", ylabel="PC2")
    fig.colorbar(scatter, ax=axes[0].tolist(), label="M")
    _save(fig, path)
