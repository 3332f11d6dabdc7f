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

from pipeline.core import figures  # noqa: E402
from pipeline.core.io import write_csv  # noqa: E402
from pipeline.tracks.profiles.levels import LABELS, N_LEVELS  # noqa: E402

MIN_SEQUENCES = 10  # fewer sequences than this: a boundary curve or a transition row is noise


def write_plot_data(shares: pl.DataFrame, boundary: pl.DataFrame, k: int, length: int,
                    plots: Path) -> None:
    members = shares.filter(pl.col("population").is_in(["members", "non-members"]))
    write_csv(members.filter(pl.col("k") == k).select(
        (pl.col("population") + " L=" + pl.col("L").cast(pl.String)).alias("series"),
        "params", "full_share", "mean_M").sort("series", "params"),
        plots / "full_share_vs_params.csv")
    write_csv(boundary.filter((pl.col("sequences") >= MIN_SEQUENCES)
                              & pl.col("entropy_nats").is_not_null()).select(
        pl.col("model").alias("panel"),
        ("M = " + pl.col("level").round(2).cast(pl.String)).alias("series"),
        "index", "entropy_nats", "unigram_freq", "sequences").sort("panel", "series", "index"),
        plots / "boundary.csv")


def share_figures(shares: pl.DataFrame, k: int, length: int, out: Path) -> None:
    members = shares.filter(pl.col("population") == "members")
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.4), layout="constrained")
    for L, rows in members.filter(pl.col("k") == k).group_by("L", maintain_order=True):
        rows = rows.sort("params")
        axes[0].plot(rows["params"], 100 * rows["full_share"], marker="o", label=f"k={k}, L={L[0]}")
    for K, rows in members.filter((pl.col("L") == length) & (pl.col("k") != k)).group_by(
            "k", maintain_order=True):
        rows = rows.sort("params")
        axes[0].plot(rows["params"], 100 * rows["full_share"], marker="s", linestyle="--",
                     label=f"k={K[0]}, L={length}")
    floor = shares.filter((pl.col("population") == "non-members") & (pl.col("k") == k)
                          & (pl.col("L") == length)).sort("params")
    if floor.height:  # what the model reaches on text it never saw: the trivial floor
        axes[0].plot(floor["params"], 100 * floor["full_share"], color="grey", linestyle=":",
                     marker=".", label=f"non-members (k={k}, L={length})")
    n = int(members["sequences"].max())
    axes[0].set(xscale="log", xlabel="parameters", ylabel="members at M = 1 (%)",
                ylim=(-2, 102), title="M = 1 share against size")
    axes[0].legend(fontsize=7)
    fig.suptitle(f"Share of members reproduced exactly (M = 1) by greedy decoding, n = {n} "
                 "sequences per point")
    for (model,), rows in members.group_by("model", maintain_order=True):
        at_k = rows.filter(pl.col("k") == k).sort("L")
        axes[1].plot(at_k["L"], 100 * at_k["full_share"], marker="o", label=model)
        at_l = rows.filter(pl.col("L") == length).sort("k")
        axes[2].plot(at_l["k"], 100 * at_l["full_share"], marker="o", label=model)
    axes[1].set(xlabel="continuation L (tokens)", ylabel="members at M = 1 (%)",
                ylim=(-2, 102), title=f"against L (k = {k})")
    axes[2].set(xlabel="context k (tokens)", ylabel="members at M = 1 (%)",
                ylim=(-2, 102), title=f"against k (L = {length})")
    axes[1].legend(fontsize=7)
    figures.save(fig, out / "full_share.png", dpi=110)


def histogram_figure(main: pl.DataFrame, models: list[str], length: int, path: Path) -> None:
    fig, axes = plt.subplots(1, len(models), figsize=(3.2 * len(models), 3.3), sharey=True,
                             layout="constrained")
    bins = np.arange(length + 2) / length - 0.5 / length
    for ax, name in zip(np.atleast_1d(axes), models, strict=True):
        rows = main.filter(pl.col("model") == name)
        for member, label in ((True, "members"), (False, "non-members")):
            values = rows.filter(pl.col("member") == member)["M"].to_numpy()
            ax.hist(values, bins=bins, alpha=0.6, label=f"{label} (n = {len(values)})",
                    weights=np.full(len(values), 1 / max(len(values), 1)))
        ax.set(title=name, xlabel="match score M (share of the L tokens)", yscale="log")
        ax.legend(fontsize=6)
    np.atleast_1d(axes)[0].set_ylabel("share of sequences (log)")
    fig.suptitle(f"Match score M of greedy continuations (L = {length}), members beside "
                 "non-members")
    figures.save(fig, path, dpi=110)


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
        counts = rows["count"].to_numpy().reshape(N_LEVELS, N_LEVELS)
        totals = counts.sum(axis=1)
        # a row of few sequences is drawn faint: its shares are not yet shares
        shown = np.where((totals >= MIN_SEQUENCES)[:, None], np.nan_to_num(matrix), 0.0)
        image = ax.imshow(shown, vmin=0, vmax=1, cmap="Blues")
        for i in range(N_LEVELS):
            for j in range(N_LEVELS):
                if totals[i] and np.isfinite(matrix[i, j]):
                    ax.text(j, i, f"{matrix[i, j]:.2f}\n({counts[i, j]})", ha="center",
                            va="center", fontsize=6,
                            color="black" if totals[i] >= MIN_SEQUENCES else "0.6")
        ax.set(title=f"{source} → {target}", xlabel=f"level of M in {target}",
               ylabel=f"level of M in {source}", xticks=range(N_LEVELS),
               yticks=range(N_LEVELS))
        ax.set_xticklabels(LABELS, fontsize=6, rotation=30)
        ax.set_yticklabels([f"{label} (n={int(t)})" for label, t in zip(LABELS, totals,
                                                                      strict=True)], fontsize=6)
    fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.6,
                 label="share of the row's sequences")
    fig.suptitle("Where each sequence's level of M goes in the next model (share, count); "
                 f"rows of fewer than {MIN_SEQUENCES} sequences grey and uncoloured")
    figures.save(fig, path, dpi=110)


def boundary_figure(curves: pl.DataFrame, models: list[str], k: int, length: int,
                    path: Path) -> None:
    fig, axes = plt.subplots(2, len(models), figsize=(3.8 * len(models), 6.4), squeeze=False,
                             sharex=True,
                             layout="constrained")
    levels = sorted(curves["level"].unique().to_list())
    colours = {m: plt.cm.viridis(i / max(1, len(levels) - 1)) for i, m in enumerate(levels)}
    for col, name in enumerate(models):
        rows = curves.filter((pl.col("model") == name) & (pl.col("sequences") > 0))
        few = rows.filter(pl.col("sequences") < MIN_SEQUENCES).group_by("level").agg(
            pl.col("sequences").first()).sort("level")
        rows = rows.filter(pl.col("sequences") >= MIN_SEQUENCES)
        for (m,), t in rows.group_by("level", maintain_order=True):
            t = t.sort("index")
            axes[0, col].plot(t["index"], t["unigram_freq"], color=colours[m],
                              label=f"M={m:g} (n={t['sequences'][0]})")
            axes[1, col].plot(t["index"], t["entropy_nats"], color=colours[m],
                              label=f"M={m:g}")
        for ax in axes[:, col]:
            for x in (k - 1, k, k + length // 2):
                ax.axvline(x, color="grey", linestyle=":", linewidth=0.8)
        omitted = ", ".join(f"{m:g} ({n})" for m, n in few.iter_rows())
        axes[0, col].set_title(name + (f"\nnot drawn, M (n): {omitted}" if omitted else ""),
                               fontsize=9)
        axes[0, col].set_ylabel("1-gram frequency of the true token")
        axes[1, col].set(xlabel="token index", ylabel="next-token entropy (nats)")
        axes[0, col].legend(fontsize=6)
    fig.suptitle(f"Across the boundary (dotted: k - 1, k = {k}, k + L/2), by level of M; "
                 f"levels with fewer than {MIN_SEQUENCES} sequences not drawn")
    figures.save(fig, path, dpi=110)


def embedding_figure(embedding: dict, models: list[str], path: Path) -> None:
    fig, axes = plt.subplots(1, len(models), figsize=(3.8 * len(models), 3.6), squeeze=False,
                             layout="constrained")
    for ax, name in zip(axes[0], models, strict=True):
        points = pl.DataFrame(embedding[name]["pca_points"])
        scatter = ax.scatter(points["x"], points["y"], c=points["level"], cmap="viridis",
                             s=12, vmin=0, vmax=1)
        ax.set(title=f"{name} (silhouette {embedding[name]['silhouette_five_levels'] or 0:.2f})",
               xlabel="first principal component", ylabel="second principal component")
    fig.colorbar(scatter, ax=axes[0].tolist(), label="match score M")
    fig.suptitle("Sequence embeddings projected on their first two principal components, "
                 "coloured by M (silhouette of the five levels)")
    figures.save(fig, path, dpi=110)
