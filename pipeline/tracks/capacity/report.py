"""The capacity report: DVC plot data (CSV), the same plots as PNG, and a Markdown summary
that says what was run, on which device, and how it compares with the paper."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

from pipeline.core import figures  # noqa: E402
from pipeline.core.errors import ArtifactError  # noqa: E402
from pipeline.core.figures import MAX_SERIES  # noqa: E402
from pipeline.core.io import read_parquet, write_csv  # noqa: E402
from pipeline.core.report import read_findings  # noqa: E402
from pipeline.core.report import write_report as write_report_file  # noqa: E402
from pipeline.tracks.capacity import layout  # noqa: E402
from pipeline.tracks.capacity.config import CapacityParams  # noqa: E402
from pipeline.tracks.capacity.findings import CapacityFindings, Setting  # noqa: E402
from pipeline.tracks.capacity.fit import PAPER_ALPHA, PAPER_TABLE1  # noqa: E402
from pipeline.tracks.capacity.grid import capacity_runs  # noqa: E402

TEMPLATES = Path(__file__).parent / "templates"


def plot_data(by_size: pl.DataFrame, capacity: pl.DataFrame, alpha: float,
              curves: dict[str, pl.DataFrame], plots_dir: Path, vocab: str = "") -> None:
    """CSV files that ``dvc plots`` draws (dvc.yaml's top-level ``plots``). Long tables with a
    ``series`` column, one line per series (templates ``.dvc/plots/*.json``): memorization
    per N by shape; capacity against parameters (ours, the fitted α and the paper's α over our
    range; ``vocab`` names our vocabulary and length, the paper's α being for V = 2048, S = 64);
    training curves with a ``panel`` per shape, a colour per N, a line per seed."""
    write_csv(
        by_size.sort("params", "config", "n_sequences").select(
            pl.col("config").alias("series"), "n_sequences", "mem_bits_mean", "mem_bits_std",
            "dataset_bits"),
        plots_dir / "memorization_vs_n.csv",
    )
    write_csv(
        pl.concat([curve.select("step", "loss", "memorized_bits").with_columns(
            pl.lit(run_id).alias("run"), pl.lit(run_id.rsplit("-N", 1)[0]).alias("panel"),
            pl.lit(_n_label(run_id, curves)).alias("series"),
            pl.lit(run_id.rsplit("-S", 1)[1]).alias("seed"))
            for run_id, curve in sorted(curves.items())]).select(
            "panel", "series", "seed", "run", "step", "loss", "memorized_bits"),
        plots_dir / "training_curves.csv",
    )
    ours = capacity.sort("params")
    write_csv(
        pl.concat([
            ours.select(pl.lit(f"ours{vocab} (largest seed mean over N)").alias("series"), "config",
                        "params", pl.col("capacity_bits").alias("bits")),
            ours.select(pl.lit(f"fit: α = {alpha:.2f} bits/param").alias("series"), "config",
                        "params", (pl.col("params") * alpha).alias("bits")),
            ours.select(pl.lit(f"paper: α = {PAPER_ALPHA} bits/param").alias("series"),
                        "config", "params", (pl.col("params") * PAPER_ALPHA).alias("bits")),
        ]),
        plots_dir / "capacity_vs_params.csv",
    )
    write_csv(
        pl.read_csv(PAPER_TABLE1).select(
            pl.col("params_gpt2lmhead_v2048_ctx64").alias("params"),
            "capacity_bits_bf16", "capacity_bits_fp32",
        ),
        plots_dir / "paper_capacity_vs_params.csv",
    )


def _n_label(run_id: str, runs) -> str:
    """"N = 32" padded with spaces to the widest N, so that sorting the labels as text (as
    Vega-Lite's legend does) sorts them by N."""
    width = max(len(r.rsplit("-N", 1)[1].split("-")[0]) for r in runs)
    return "N = " + run_id.rsplit("-N", 1)[1].split("-")[0].rjust(width)


def _shape_panels(by_size: pl.DataFrame) -> list[list[str]]:
    """The shapes, smallest first, in panels of at most MAX_SERIES (one colour each)."""
    order = by_size.sort("params")["config"].unique(maintain_order=True).to_list()
    return [order[i:i + MAX_SERIES] for i in range(0, len(order), MAX_SERIES)]


def memorization_figure(by_size: pl.DataFrame, capacity: pl.DataFrame, setting: Setting,
                        path: Path) -> None:
    panels = _shape_panels(by_size)
    fig, axes = plt.subplots(1, len(panels), figsize=(7 * len(panels), 4.5), squeeze=False)
    sizes = by_size.select("n_sequences", "dataset_bits").unique().sort("n_sequences")
    for ax, configs in zip(axes[0], panels, strict=True):
        for i, config in enumerate(configs):
            rows = by_size.filter(pl.col("config") == config).sort("n_sequences")
            spread = rows["mem_bits_std"].fill_null(0.0)  # one seed: no error bar
            ax.errorbar(rows["n_sequences"], rows["mem_bits_mean"], yerr=spread, marker="o",
                        capsize=3, color=f"C{i}", label=f"{config} (mean ± s.d. over seeds)")
            cap = capacity.filter(pl.col("config") == config)["capacity_bits"][0]
            ax.axhline(cap, color=f"C{i}", linestyle=":", linewidth=1)
        ax.plot(sizes["n_sequences"], sizes["dataset_bits"], "k--", linewidth=1,
                label="H(X): every bit of the data (ceiling)")
        ax.set(xscale="log", yscale="log", xlabel="training sequences N",
               ylabel="unintended memorization (bits)")
        ax.legend(fontsize=7)
    fig.suptitle(f"Memorization against N by shape, V = {setting.vocab_size}, "
                 f"S = {setting.seq_len} (dotted: each shape's capacity, its largest mean)")
    figures.save(fig, path)


def capacity_figure(capacity: pl.DataFrame, findings: CapacityFindings, path: Path) -> None:
    """Ours and the paper's Table 1 (another vocabulary and length, so other bit totals),
    each α line drawn over its own data's range; the band is α's interval."""
    paper = pl.read_csv(PAPER_TABLE1)
    paper_params = paper["params_gpt2lmhead_v2048_ctx64"]
    fit, setting = findings.alpha, findings.setting
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    ax.scatter(capacity["params"], capacity["capacity_bits"], color="C0", zorder=3,
               label=f"ours (V = {setting.vocab_size}, S = {setting.seq_len})")
    for row in capacity.iter_rows(named=True):
        ax.annotate(row["config"], (row["params"], row["capacity_bits"]), fontsize=7,
                    xytext=(4, -8), textcoords="offset points")
    ax.scatter(paper_params, paper["capacity_bits_bf16"], marker="x", color="C3",
               label="paper, bf16 (Table 1, V = 2048, S = 64)")
    ax.scatter(paper_params, paper["capacity_bits_fp32"], marker="+", color="C2",
               label="paper, fp32 (Table 1)")
    ours = np.geomspace(capacity["params"].min(), capacity["params"].max(), 20)
    ax.plot(ours, fit.alpha * ours, color="C0", label=f"fit: α = {fit.alpha:.2f} bits/param")
    if fit.ci_low is not None and fit.ci_high is not None:
        ax.fill_between(ours, fit.ci_low * ours, fit.ci_high * ours, color="C0", alpha=0.15,
                        label=f"α {fit.confidence:.0%} interval "
                              f"[{fit.ci_low:.2f}, {fit.ci_high:.2f}]")
    theirs = np.geomspace(paper_params.min(), paper_params.max(), 20)
    ax.plot(theirs, PAPER_ALPHA * theirs, color="C3", linestyle="--",
            label=f"paper: α = {PAPER_ALPHA} bits/param")
    ax.set(xscale="log", yscale="log", xlabel="parameters", ylabel="capacity (bits)",
           title="Capacity against parameters, ours beside the paper's Table 1")
    ax.legend(fontsize=7)
    figures.save(fig, path)


def curves_figure(curves: dict[str, pl.DataFrame], path: Path) -> None:
    """One row per shape (loss, memorized bits); a colour per N, seeds as line styles."""
    by_shape: dict[str, list[str]] = {}
    for run_id in sorted(curves, key=lambda r: (r.rsplit("-N", 1)[0],
                                                int(r.rsplit("-N", 1)[1].split("-")[0]), r)):
        by_shape.setdefault(run_id.rsplit("-N", 1)[0], []).append(run_id)
    fig, axes = plt.subplots(len(by_shape), 2, figsize=(11, 3.2 * len(by_shape)), squeeze=False,
                             layout="constrained")
    for (ax_loss, ax_mem), (shape, runs) in zip(axes, by_shape.items(), strict=True):
        sizes = sorted({int(r.rsplit("-N", 1)[1].split("-")[0]) for r in runs})
        for run_id in runs:
            n, seed = run_id.rsplit("-N", 1)[1].split("-S")
            colour = f"C{sizes.index(int(n)) % 10}"
            style = ["-", "--", ":", "-."][int(seed) % 4]
            curve = curves[run_id]
            label = f"N = {n}" if style == "-" else None
            # a run that stops at its first evaluation is one point: a marker shows it
            ax_loss.plot(curve["step"], curve["loss"], linewidth=0.9, color=colour,
                         linestyle=style, label=label, marker=".", markersize=4)
            bits = curve["memorized_bits"].to_numpy().astype(float)
            ax_mem.plot(curve["step"], np.where(bits > 0, bits, np.nan), linewidth=0.9,
                        color=colour, linestyle=style, label=label, marker=".", markersize=4)
        ax_loss.set(xlabel="step", ylabel="training loss (nats/token)", yscale="log",
                    title=f"{shape}: loss")
        ax_mem.set(xlabel="step", ylabel="memorized (bits)", yscale="log",
                   title=f"{shape}: memorization (seeds: solid, dashed, ...)")
        ax_mem.legend(fontsize=6, ncol=2)
    figures.save(fig, path)


def shape_rows(findings: CapacityFindings) -> list[list]:
    """The per-shape table of the report."""
    return [[shape.config, shape.params, shape.n_at_capacity, round(shape.capacity_bits),
             shape.bits_per_param, shape.paper_bits_per_param_bf16,
             shape.paper_bits_per_param_fp32,
             "yes" if shape.grid_exceeds_capacity else "**no**",
             f"{shape.runs_converged}/{shape.runs}"] for shape in findings.shapes]


def read_curve(run_id: str, root: Path) -> pl.DataFrame:
    path = layout.curve(run_id, root)
    try:
        return pl.read_csv(path)
    except (FileNotFoundError, pl.exceptions.PolarsError) as error:
        raise ArtifactError(f"{path}: missing or unreadable training curve ({error})") from error


def write_report(params: CapacityParams, root: Path) -> None:
    """Stage capacity_report: plot data, figures and the Markdown report, from the
    findings stage capacity_fit wrote."""
    config = params.capacity
    findings = read_findings(CapacityFindings, root / layout.FINDINGS)
    capacity, by_size = read_parquet(root / layout.CAPACITY), read_parquet(root / layout.BY_SIZE)
    alpha = findings.alpha.alpha
    out = root / layout.FIGURES
    curves = {run.run_id: read_curve(run.run_id, root) for run in capacity_runs(config)}
    setting = findings.setting
    plot_data(by_size, capacity, alpha, curves, root / layout.PLOTS,
              f", V = {setting.vocab_size}, S = {setting.seq_len}")
    memorization_figure(by_size, capacity, findings.setting, out / "memorization_vs_n.png")
    capacity_figure(capacity, findings, out / "capacity_vs_params.png")
    curves_figure(curves, out / "training_curves.png")
    write_report_file(TEMPLATES, "report.md.j2", root / layout.REPORT, findings=findings,
                      shape_rows=shape_rows(findings))
