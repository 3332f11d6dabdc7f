"""The capacity report: DVC plot data (CSV), the same plots as PNG, and a Markdown summary
that says what was run, on which device, and how it compares with the paper."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import polars as pl  # noqa: E402

from pipeline.core.errors import ArtifactError  # noqa: E402
from pipeline.core.io import atomic_path, read_parquet, write_csv  # noqa: E402
from pipeline.core.report import read_findings  # noqa: E402
from pipeline.core.report import write_report as write_report_file  # noqa: E402
from pipeline.tracks.capacity import layout  # noqa: E402
from pipeline.tracks.capacity.config import CapacityParams  # noqa: E402
from pipeline.tracks.capacity.findings import CapacityFindings  # noqa: E402
from pipeline.tracks.capacity.fit import PAPER_ALPHA, PAPER_TABLE1  # noqa: E402
from pipeline.tracks.capacity.grid import capacity_runs  # noqa: E402

TEMPLATES = Path(__file__).parent / "templates"


def plot_data(by_size: pl.DataFrame, capacity: pl.DataFrame, alpha: float,
              curves: dict[str, pl.DataFrame], plots_dir: Path) -> None:
    """CSV files that ``dvc plots`` draws (dvc.yaml's top-level ``plots``). Per-N and
    per-step data are long tables with a ``series`` column, one line per series (template
    ``.dvc/plots/series.json``); capacity against parameters has the fitted line and α_paper."""
    write_csv(
        by_size.sort("params", "config", "n_sequences").select(
            pl.col("config").alias("series"), "n_sequences", "mem_bits_mean", "mem_bits_std",
            "dataset_bits"),
        plots_dir / "memorization_vs_n.csv",
    )
    write_csv(
        pl.concat([curve.select("step", "loss", "memorized_bits")
                   .with_columns(pl.lit(run_id).alias("series"))
                   for run_id, curve in sorted(curves.items())]).select(
            "series", "step", "loss", "memorized_bits"),
        plots_dir / "training_curves.csv",
    )
    write_csv(
        capacity.select(
            "config", "params", "capacity_bits",
            (pl.col("params") * alpha).alias("fitted_bits"),
            (pl.col("params") * PAPER_ALPHA).alias("paper_alpha_bits"),
        ),
        plots_dir / "capacity_vs_params.csv",
    )
    write_csv(
        pl.read_csv(PAPER_TABLE1).select(
            pl.col("params_gpt2lmhead_v2048_ctx64").alias("params"),
            "capacity_bits_bf16", "capacity_bits_fp32",
        ),
        plots_dir / "paper_capacity_vs_params.csv",
    )


def _save(fig, path: Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)


def memorization_figure(by_size: pl.DataFrame, capacity: pl.DataFrame, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for (config,), rows in sorted(by_size.group_by("config"), key=lambda g: g[1]["params"][0]):
        spread = rows["mem_bits_std"].fill_null(0.0)  # one seed: no error bar
        line = ax.errorbar(rows["n_sequences"], rows["mem_bits_mean"], yerr=spread,
                           marker="o", capsize=3, label=config)
        cap = capacity.filter(pl.col("config") == config)["capacity_bits"][0]
        ax.axhline(cap, color=line[0].get_color(), linestyle=":", linewidth=1)
    sizes = by_size.select("n_sequences", "dataset_bits").unique().sort("n_sequences")
    ax.plot(sizes["n_sequences"], sizes["dataset_bits"], "k--", linewidth=1,
            label="H(X) (all bits)")
    ax.set(xscale="log", yscale="log", xlabel="training sequences N",
           ylabel="unintended memorization (bits)",
           title="Memorization plateaus at capacity (dotted: capacity)")
    ax.legend(fontsize=8)
    _save(fig, path)


def capacity_figure(capacity: pl.DataFrame, alpha: float, path: Path) -> None:
    paper = pl.read_csv(PAPER_TABLE1)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.scatter(capacity["params"], capacity["capacity_bits"], color="C0", zorder=3, label="ours")
    for row in capacity.iter_rows(named=True):
        ax.annotate(row["config"], (row["params"], row["capacity_bits"]), fontsize=7,
                    xytext=(4, -8), textcoords="offset points")
    ax.scatter(paper["params_gpt2lmhead_v2048_ctx64"], paper["capacity_bits_bf16"], marker="x",
               color="C3", label="paper, bf16 (Table 1)")
    ax.scatter(paper["params_gpt2lmhead_v2048_ctx64"], paper["capacity_bits_fp32"], marker="+",
               color="C2", label="paper, fp32 (Table 1)")
    lo = min(capacity["params"].min(), paper["params_gpt2lmhead_v2048_ctx64"].min())
    hi = max(capacity["params"].max(), paper["params_gpt2lmhead_v2048_ctx64"].max())
    xs = [lo, hi]
    ax.plot(xs, [alpha * x for x in xs], color="C0", label=f"fit: α = {alpha:.2f} bits/param")
    ax.plot(xs, [PAPER_ALPHA * x for x in xs], color="C3", linestyle="--",
            label=f"paper: α = {PAPER_ALPHA} bits/param")
    ax.set(xscale="log", yscale="log", xlabel="parameters", ylabel="capacity (bits)",
           title="Capacity against parameters")
    ax.legend(fontsize=8)
    _save(fig, path)


def curves_figure(curves: dict[str, pl.DataFrame], path: Path) -> None:
    fig, (ax_loss, ax_mem) = plt.subplots(1, 2, figsize=(11, 4))
    for run_id, curve in sorted(curves.items()):
        ax_loss.plot(curve["step"], curve["loss"], linewidth=0.8, label=run_id)
        ax_mem.plot(curve["step"], curve["memorized_bits"], linewidth=0.8, label=run_id)
    ax_loss.set(xlabel="step", ylabel="training loss (nats/token)", title="Loss")
    ax_mem.set(xlabel="step", ylabel="memorized bits", yscale="log", title="Memorization")
    if len(curves) <= 12:
        ax_mem.legend(fontsize=6)
    _save(fig, path)


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
    figures = root / layout.FIGURES
    curves = {run.run_id: read_curve(run.run_id, root) for run in capacity_runs(config)}
    plot_data(by_size, capacity, alpha, curves, root / layout.PLOTS)
    memorization_figure(by_size, capacity, figures / "memorization_vs_n.png")
    capacity_figure(capacity, alpha, figures / "capacity_vs_params.png")
    curves_figure(curves, figures / "training_curves.png")
    write_report_file(TEMPLATES, "report.md.j2", root / layout.REPORT, findings=findings,
                      shape_rows=shape_rows(findings))
