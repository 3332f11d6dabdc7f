"""The capacity report: DVC plot data (CSV), the same plots as PNG, and a Markdown summary
that says what was run, on which device, and how it compares with the paper."""

from __future__ import annotations

import platform
from datetime import UTC, datetime
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import polars as pl  # noqa: E402

from pipeline.capacity.config import CapacityConfig  # noqa: E402
from pipeline.capacity.fit import (  # noqa: E402
    DATA_LIMITED_SHARE,
    PAPER_ALPHA,
    PAPER_ALPHA_BF16,
    PAPER_ALPHA_FP32,
    PAPER_TABLE1,
)
from pipeline.core.io import atomic_path, write_csv  # noqa: E402


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


def _fmt(value, digits: int = 2) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}"


def data_limited_section(capacity: pl.DataFrame, totals: pl.DataFrame) -> list[str]:
    """Shapes whose capacity was read where the data, not the model, was the limit: nearly
    the whole dataset memorized at the N of the maximum. That value is a lower bound, and a
    plateau is resolved only if a larger N, trained to convergence, memorizes no more."""
    lines = []
    for row in capacity.filter(pl.col("data_limited")).iter_rows(named=True):
        share = row["memorized_share_at_capacity"]
        larger = totals.filter((pl.col("config") == row["config"])
                               & (pl.col("n_sequences") > row["n_at_capacity"]))
        unresolved = larger.height and not larger["converged"].all()
        lines.append(
            f"- **{row['config']}**: capacity read at N = {row['n_at_capacity']:,}, where "
            f"{share:.1%} of the dataset was memorized: the data set this value, so it is a "
            "lower bound"
            + ("; the larger N memorize less but did not all converge, so the plateau is not "
               "resolved" if unresolved else "")
            + ".")
    if not lines:
        return []
    return ["", "## Regime check: data-limited capacities", "",
            f"Where ≥ {DATA_LIMITED_SHARE:.0%} of the dataset at the maximum was memorized, the "
            "grid must extend to larger N before the capacity can be read (\"grid exceeds "
            "capacity\" is then no):", "",
            *lines]


def markdown_report(config: CapacityConfig, metrics: dict, capacity: pl.DataFrame,
                    totals: pl.DataFrame) -> str:
    device = ", ".join(sorted(set(totals["device"]))) if totals.height else "–"
    precision = ", ".join(sorted(set(totals["precision"]))) if totals.height else "–"
    synthetic = config.data
    lines = [
        "# Capacity in bits per parameter (Morris et al. 2025, §1 of SCIENCE.md)",
        "",
        f"Generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.node()} "
        f"({platform.processor() or platform.machine()}); trained on **{device}** in "
        f"**{precision}**.",
        "",
        "## What was run",
        "",
        f"- Uniform i.i.d. tokens, V = {synthetic.vocab_size}, S = {synthetic.seq_len}, "
        f"first-token convention `{config.score.first_token}` "
        f"({config.scored_tokens} scored tokens, H(x) = {config.sequence_entropy_bits:.1f} bits "
        "per sequence).",
        f"- {len(config.models)} configurations × N ∈ {synthetic.dataset_sizes} × "
        f"seeds {synthetic.seeds} = {totals.height} runs.",
        f"- AdamW, lr {config.train.lr}, batch {config.train.batch_size}, up to "
        f"{config.train.steps} steps (warmup {config.train.warmup_fraction:.0%}, cosine to "
        f"{config.train.min_lr_ratio}× lr), early stop at "
        f"{config.train.convergence.full_fraction:.0%} of H(X): {config.train.early_stop}.",
        "",
        "## Result",
        "",
        f"**α = {metrics['alpha_bits_per_param']:.3f} bits per parameter** "
        f"({100 * metrics['alpha_confidence']:.0f}% CI {_fmt(metrics['alpha_ci_low'], 3)} – "
        f"{_fmt(metrics['alpha_ci_high'], 3)}, uncentred R² through the origin = "
        f"{metrics['r_squared']:.4f}, "
        f"{metrics['configs']} configurations). "
        f"Paper: α ≈ {PAPER_ALPHA} (configuration averages {PAPER_ALPHA_BF16} in bf16, "
        f"{PAPER_ALPHA_FP32} in fp32).",
        "",
        "| config | params | N at capacity | capacity (bits) | bits/param | paper bits/param bf16 "
        "| paper bits/param fp32 | grid exceeds capacity | runs converged |",
        "|---|---:|---:|---:|---:|---:|---:|:-:|---:|",
    ]
    for row in capacity.iter_rows(named=True):
        lines.append(
            f"| {row['config']} | {row['params']:,} | {row['n_at_capacity']:,} | "
            f"{row['capacity_bits']:,.0f} | {row['bits_per_param']:.3f} | "
            f"{_fmt(row['paper_bits_per_param_bf16'])} | "
            f"{_fmt(row['paper_bits_per_param_fp32'])} | "
            f"{'yes' if row['grid_exceeds_capacity'] else '**no**'} | "
            f"{row['runs_converged']}/{row['runs']} |"
        )
    if synthetic.vocab_size != 2048 or synthetic.seq_len != 64:
        lines += ["", "Table 1's per-configuration columns apply only at V = 2048, S = 64; here "
                  "compare bits per parameter with the paper's α (the paper found α independent "
                  "of V and S within about 2%)."]
    lines += data_limited_section(capacity, totals)
    not_converged = totals.filter(~pl.col("converged"))
    lines += ["", "## Convergence", ""]
    if not_converged.height:
        lines += [
            f"**{not_converged.height} of {totals.height} runs did not converge** (memorization "
            f"still rising by more than {config.train.convergence.tolerance:.0%} over the last "
            f"{config.train.convergence.window:.0%} of training). An under-trained run "
            "understates capacity, so α is a lower bound:",
            "",
        ]
        lines += [f"- `{r['run_id']}`: {r['memorized_bits']:,.0f} of {r['dataset_bits']:,.0f} bits "
                  f"after {r['steps']} steps" for r in not_converged.iter_rows(named=True)]
    else:
        lines.append(f"All {totals.height} runs converged.")
    lines += [
        "",
        "## Figures",
        "",
        "![memorization against N](figures/memorization_vs_n.png)",
        "",
        "![capacity against parameters](figures/capacity_vs_params.png)",
        "",
        "![training curves](figures/training_curves.png)",
        "",
    ]
    return "\n".join(lines)

