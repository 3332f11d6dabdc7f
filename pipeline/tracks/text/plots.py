"""The text track's DVC plot data (CSV under ``data/text/plots``) and the same plots as PNG,
all drawn from the findings: calibrated memorization against N (raw beside it), test loss
against the capacity ratio with the uniform-guess and oracle lines, the membership attack
against tokens per parameter (every point with its interval and sample size; the fitted law),
and extraction rates against N."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

from pipeline.core import figures  # noqa: E402
from pipeline.core.io import write_csv  # noqa: E402
from pipeline.core.probes.membership_fit import BoundedLawFit  # noqa: E402
from pipeline.tracks.text.findings import GridPoint, Run, TextFindings  # noqa: E402
from pipeline.tracks.text.law import law_curve, law_of  # noqa: E402

OFF_SCALE = 1.6  # the loss axis ends at this many times the uniform guess


def _by_shape(findings: TextFindings, items: list) -> list[tuple[str, list]]:
    """Items (grid points or runs) of each shape, smallest shape first, sorted by N."""
    order = [s.config for s in findings.shapes]
    return [(config, sorted((i for i in items if i.config == config),
                            key=lambda i: (i.n_sequences, getattr(i, "seed", 0))))
            for config in order]


def _nan(value: float | None) -> float:
    return np.nan if value is None else value


def grid_frame(grid: list[GridPoint]) -> pl.DataFrame:
    return pl.DataFrame([{
        "series": g.config, "n_sequences": g.n_sequences,
        "calibrated_bits": _nan(g.calibrated.estimate), "calibrated_low": _nan(g.calibrated.low),
        "calibrated_high": _nan(g.calibrated.high), "memorized_bits": g.raw_bits,
        "heldout_scaled_bits": g.heldout_scaled_bits, "dataset_bits": g.dataset_bits,
        "capacity_bits_predicted": g.capacity_bits_predicted,
        "identical_capacity_bits": g.identical_capacity_bits, "capacity_ratio": g.x_alpha,
        "test_loss_bits_per_token": g.test_bits_per_token,
        "train_loss_bits_per_token": g.train_bits_per_token, **g.extraction} for g in grid])


def run_frame(runs: list[Run], fit: BoundedLawFit) -> pl.DataFrame:
    frame = pl.DataFrame([{
        "config": r.config, "n_sequences": r.n_sequences, "seed": r.seed,
        "tokens_per_param": r.tokens_per_param, "membership_x": r.membership_x,
        "evaluated_per_class": r.evaluated_per_class, "f1": _nan(r.f1.estimate),
        "f1_low": _nan(r.f1.low), "f1_high": _nan(r.f1.high), "auc": _nan(r.auc.estimate),
        "auc_low": _nan(r.auc.low), "auc_high": _nan(r.auc.high),
        "tpr_at_1pct_fpr": _nan(r.tpr_at_1pct_fpr.estimate),
        "tpr_low": _nan(r.tpr_at_1pct_fpr.low), "tpr_high": _nan(r.tpr_at_1pct_fpr.high)}
        for r in runs])
    return frame.with_columns(pl.Series("fitted_f1", fit.predict(frame["membership_x"])))


def law_x(runs: list[Run]) -> np.ndarray:
    x = [r.membership_x for r in runs]
    return np.geomspace(min(x) / 2, max(max(x) * 4, 1000.0 * 200 / 64), 80)


def write_plot_data(findings: TextFindings, plots_dir: Path) -> None:
    """CSV files that ``dvc plots`` draws. Per-N data are long tables with a ``series``
    column, one line per series (template ``.dvc/plots/series.json``)."""
    grid, fit = grid_frame(findings.grid), law_of(findings.membership)
    write_csv(grid.select("series", "n_sequences", "calibrated_bits", "calibrated_low",
                          "calibrated_high", "memorized_bits", "heldout_scaled_bits",
                          "dataset_bits", "capacity_bits_predicted", "identical_capacity_bits",
                          pl.col("calibrated_low").alias("low"),
                          pl.col("calibrated_high").alias("high")),
              plots_dir / "memorization_vs_n.csv")
    write_csv(pl.concat([grid.select(
        "series", "capacity_ratio", "n_sequences", "test_loss_bits_per_token",
        "train_loss_bits_per_token"), reference_rows(findings, grid)], how="diagonal"),
        plots_dir / "double_descent.csv")
    prefixes = findings.extraction.prefixes
    write_csv(pl.concat([
        grid.select((pl.col("series") + f", {split}").alias("panel"),
                    pl.lit(f"prefix k = {k:>3}").alias("series"), "n_sequences",
                    (pl.col("n_sequences") * _nudge(i, len(prefixes))).alias("n_drawn"),
                    pl.col(f"extract_{column}_k{k}").alias("extraction_rate"))
        for i, k in enumerate(prefixes)
        for split, column in (("train: members", "train"), ("held-out", "test"))]),
        plots_dir / "extraction.csv")
    runs, curve = run_frame(findings.runs, fit), law_curve(fit, law_x(findings.runs),
                                                            findings.setting.seq_len)
    write_csv(runs, plots_dir / "membership_f1.csv")
    write_csv(curve, plots_dir / "membership_law.csv")
    write_csv(membership_long(runs, curve, fit.converged), plots_dir / "membership_f1_law.csv")


def _nudge(index: int, count: int) -> float:
    """A factor of a few percent along a log axis that sets the ``index``-th of ``count``
    lines apart from the others, so that equal values do not hide each other."""
    return 1.12 ** (index - (count - 1) / 2)


def reference_rows(findings: TextFindings, grid: pl.DataFrame) -> pl.DataFrame:
    """The uniform guess and the oracle's held-out loss as two flat lines over the grid's
    capacity ratios (the trivial ceiling and the reachable floor)."""
    ratios = [grid["capacity_ratio"].min(), grid["capacity_ratio"].max()]
    lines = [(f"uniform guess ({findings.setting.uniform_bits_per_token:.1f})",
              findings.setting.uniform_bits_per_token),
             ("oracle on held-out text", findings.references.oracle_test_bits_per_token)]
    return pl.DataFrame([{"series": name, "capacity_ratio": x, "test_loss_bits_per_token": y}
                         for name, y in lines for x in ratios])


def membership_long(runs: pl.DataFrame, curve: pl.DataFrame, converged: bool) -> pl.DataFrame:
    """F1 per run with its interval (``kind`` measured) beside the fitted law and the paper's
    law (``kind`` law), one long table for ``.dvc/plots/law_logx.json``."""
    measured = runs.select(pl.lit("measured").alias("kind"),
                           (pl.col("config") + " F1 (95% CI)").alias("series"),
                           "tokens_per_param", "f1", pl.col("f1_low").alias("low"),
                           pl.col("f1_high").alias("high"), "evaluated_per_class")
    laws = [("paper's law (clipped at 1)", "paper_law_f1")]
    laws += [("fitted law", "fitted_f1")] if converged else []
    return pl.concat([measured, *[curve.select(
        pl.lit("law").alias("kind"), pl.lit(name).alias("series"), "tokens_per_param",
        pl.col(column).clip(upper_bound=1.0).alias("f1"))  # the paper's law passes 1
        for name, column in laws]], how="diagonal")


def _errors(estimates: list, lows: list, highs: list) -> np.ndarray:
    """Asymmetric error bars; zero length where a point has no interval."""
    est, lo, hi = (np.array([_nan(v) for v in a], dtype=float) for a in (estimates, lows, highs))
    return np.vstack([np.nan_to_num(est - lo), np.nan_to_num(hi - est)])


def memorization_figure(findings: TextFindings, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for config, points in _by_shape(findings, findings.grid):
        n = [g.n_sequences for g in points]
        est = [_nan(g.calibrated.estimate) for g in points]
        line = ax.errorbar(n, est, yerr=_errors(est, [g.calibrated.low for g in points],
                                                [g.calibrated.high for g in points]),
                           marker="o", capsize=3, label=f"{config} calibrated (95% CI)")
        color = line[0].get_color()
        ax.plot(n, [g.raw_bits for g in points], color=color, marker=".", linestyle="--",
                linewidth=1, label=f"{config} raw Σ max(0, ·)")
        ax.axhline(points[0].capacity_bits_predicted, color=color, linestyle=":", linewidth=1,
                   label="α × params")
        ax.axhline(points[0].identical_capacity_bits, color=color, linestyle="-.", linewidth=1,
                   label="identical-architecture capacity")
    ax.axhline(0, color="k", linewidth=0.6)
    ax.set(xscale="log", xlabel="training sequences N", ylabel="unintended memorization (bits)",
           title="Text: memorization against N, calibrated by the held-out control")
    ax.legend(fontsize=7)
    figures.save(fig, path)


def double_descent_figure(findings: TextFindings, path: Path) -> None:
    uniform = findings.setting.uniform_bits_per_token
    top = OFF_SCALE * uniform
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for config, points in _by_shape(findings, findings.grid):
        x = np.array([g.x_alpha for g in points])
        test = np.array([g.test_bits_per_token for g in points])
        line, = ax.plot(x, np.where(test > top, np.nan, test), marker="o",
                        label=f"{config} test")
        ax.plot(x, [g.train_bits_per_token for g in points], marker=".", linestyle="--",
                color=line.get_color(), label=f"{config} train")
        for xi, value in zip(x[test > top], test[test > top], strict=True):
            ax.annotate(f"{value:.0f}", (xi, top), xytext=(0, -12), textcoords="offset points",
                        ha="center", fontsize=7, color=line.get_color())
            ax.plot([xi], [top], marker="^", color=line.get_color(), markersize=8)
    ax.axhline(uniform, color="grey", linestyle="-", linewidth=1,
               label=f"uniform guess ({uniform:.1f} bits/token)")
    ax.axhline(findings.references.oracle_test_bits_per_token, color="green", linestyle="-.",
               linewidth=1, label="oracle on held-out text")
    ax.axvline(1.0, color="k", linestyle=":", linewidth=1, label="dataset bits = α × params")
    ax.set(xscale="log", ylim=(0, top * 1.04), xlabel="dataset information / (α × params)",
           ylabel="loss (bits per token)",
           title="Text: loss against the capacity ratio (▲ off scale, value printed)")
    ax.legend(fontsize=7)
    figures.save(fig, path)


def membership_figure(findings: TextFindings, path: Path) -> None:
    fit = law_of(findings.membership)
    fig, (ax_f1, ax_roc) = plt.subplots(1, 2, figsize=(12, 4.8))
    for i, (config, runs) in enumerate(_by_shape(findings, findings.runs)):
        x = [r.tokens_per_param for r in runs]
        for ax, name in ((ax_f1, "f1"), (ax_roc, "auc")):
            values = [getattr(r, name) for r in runs]
            est = [_nan(v.estimate) for v in values]
            ax.errorbar(x, est, yerr=_errors(est, [v.low for v in values],
                                             [v.high for v in values]),
                        fmt="o", color=f"C{i}", capsize=3, markersize=4,
                        label=f"{config} {name.upper()} (95% CI)")
        tpr = [r.tpr_at_1pct_fpr for r in runs]
        est = [_nan(v.estimate) for v in tpr]
        ax_roc.errorbar(x, est, yerr=_errors(est, [v.low for v in tpr], [v.high for v in tpr]),
                        fmt="s", color=f"C{i}", mfc="none", capsize=3, markersize=4,
                        label=f"{config} TPR at 1% FPR")
        for r in runs:  # the sample size along the bottom, below its point
            ax_f1.text(r.tokens_per_param, 0.37, f"n={2 * r.evaluated_per_class}", fontsize=6,
                       rotation=90, ha="center", va="bottom", color="0.3")
    curve = law_curve(fit, law_x(findings.runs), findings.setting.seq_len)
    if fit.converged:
        ax_f1.plot(curve["tokens_per_param"], curve["fitted_f1"], "k-",
                   label=f"fitted law (bounded; max {fit.max_fitted_f1:.3f})")
    ax_f1.plot(curve["tokens_per_param"], np.minimum(curve["paper_law_f1"], 1.0), "r--",
               label="paper's constants (x = 1000·|D|/params; clipped at F1 = 1)")
    ax_roc.axhline(0.01, color="grey", linestyle="--", linewidth=0.8, label="TPR chance (0.01)")
    for ax, corner in ((ax_f1, "upper right"), (ax_roc, "center left")):  # where no point is
        ax.axhline(0.5, color="grey", linewidth=0.8)
        ax.axvline(100, color="grey", linestyle=":", linewidth=1,
                   label="100 tokens/param (the paper's claim)")
        ax.set(xscale="log", xlabel="training tokens per parameter")
        ax.legend(fontsize=7, loc=corner)
    ax_f1.set(ylim=(0.35, 1.05), ylabel="F1 on the evaluation half (n = sequences scored)",
              title="Loss attack: F1 and the membership law")
    ax_roc.set(ylim=(-0.02, 1.05), ylabel="ROC AUC / TPR at 1% FPR",
               title="Loss attack: AUC (chance 0.5) and TPR at 1% FPR (chance 0.01)")
    figures.save(fig, path)


def extraction_figure(findings: TextFindings, path: Path) -> None:
    """A panel per shape and split (train, held-out), a colour per prefix length k; the k
    lines are nudged apart along N (by 12% each) so that equal rates do not hide each
    other."""
    groups = _by_shape(findings, findings.grid)
    prefixes = findings.extraction.prefixes
    splits = (("train", "train: members"), ("test", "held-out: never trained on"))
    fig, axes = plt.subplots(len(groups), 2, figsize=(10, 3.8 * len(groups)), squeeze=False,
                             sharey=True, layout="constrained")
    for row, (config, points) in zip(axes, groups, strict=True):
        n = np.array([g.n_sequences for g in points], dtype=float)
        for ax, (column, name) in zip(row, splits, strict=True):
            for i, k in enumerate(prefixes):
                rates = [g.extraction[f"extract_{column}_k{k}"] for g in points]
                ax.plot(n * _nudge(i, len(prefixes)), rates,
                        marker="os^Dv"[i % 5], color=f"C{i}", label=f"prefix k = {k}")
            ax.set(xscale="log", ylim=(-0.03, 1.03),
                   xlabel="training sequences N (k lines nudged 12% apart)",
                   ylabel="exact extraction rate (share of sequences)",
                   title=f"{config}, {name}")
            ax.legend(fontsize=7)
    fig.suptitle("Greedy extraction: share of sequences whose continuation is reproduced "
                 "exactly")
    figures.save(fig, path)


def write_figures(findings: TextFindings, figures: Path) -> None:
    memorization_figure(findings, figures / "memorization_vs_n.png")
    double_descent_figure(findings, figures / "double_descent.png")
    membership_figure(findings, figures / "membership_f1.png")
    extraction_figure(findings, figures / "extraction.png")
