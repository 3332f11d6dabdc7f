"""The audit report (stage audit_report): the findings and metrics, DVC plot data (CSV), the
same plots as PNG, and a Markdown report rendered from the findings."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402
from sklearn.metrics import roc_curve  # noqa: E402

from pipeline.core import figures  # noqa: E402
from pipeline.core.io import read_parquet, write_csv  # noqa: E402
from pipeline.core.report import fmt_interval  # noqa: E402
from pipeline.core.report import write_report as write_report_file  # noqa: E402
from pipeline.tracks.audit import layout  # noqa: E402
from pipeline.tracks.audit.config import AuditParams  # noqa: E402
from pipeline.tracks.audit.findings import (  # noqa: E402
    ATTACK_NAMES,
    AuditFindings,
    TargetFindings,
    findings_stage,
)
from pipeline.tracks.audit.inputs import MEMBER  # noqa: E402

TEMPLATES = Path(__file__).parent / "templates"
BLIND = "blind"


def roc_lines(findings: AuditFindings, root: Path) -> pl.DataFrame:
    """Every target's ROC curves (the attacks and the blind baseline), thinned to the points
    where the curve turns (scikit-learn's ``drop_intermediate``: the same curve)."""
    frames = []
    for target in findings.targets:
        scores = read_parquet(layout.attack_scores(target.name, root))
        blind = read_parquet(layout.blind_scores(target.name, root))
        columns = [(a.attack, scores[a.attack]) for a in target.attacks]
        columns.append((BLIND, blind[BLIND]))
        is_member = scores[MEMBER].to_numpy().astype(bool)
        for attack, values in columns:
            fpr, tpr, _ = roc_curve(is_member, values.to_numpy(), drop_intermediate=True)
            frames.append(pl.DataFrame({"series": ATTACK_NAMES[attack], "panel": target.name,
                                        "target": target.name, "attack": attack,
                                        "fpr": fpr, "tpr": tpr}))
    return pl.concat(frames)


def extraction_lines(findings: AuditFindings) -> pl.DataFrame:
    rows = [{"series": f"{t.name} k={c.k} {'members' if c.member else 'non-members'}",
             "target": t.name, "k": c.k, "L": c.length, "member": c.member, "n": c.n,
             "exact_share": c.exact_share, "mean_match": c.mean_match}
            for t in findings.targets for c in t.extraction]
    schema = {"series": pl.String, "target": pl.String, "k": pl.Int64, "L": pl.Int64,
              "member": pl.Boolean, "n": pl.Int64, "exact_share": pl.Float64,
              "mean_match": pl.Float64}
    return pl.DataFrame(rows, schema=schema)


def plot_data(roc: pl.DataFrame, extraction: pl.DataFrame, plots_dir: Path) -> None:
    """CSV files ``dvc plots`` draws, a ``panel`` per target (``.dvc/plots/panels.json``): ROC
    curves (a colour per attack) and the mean match score against L (a colour per k and
    side: members, and non-members as the floor a model reaches on text it never saw)."""
    chance = pl.DataFrame([{"panel": panel, "series": "chance", "fpr": x, "tpr": x}
                           for panel in roc["panel"].unique(maintain_order=True)
                           for x in (0.0, 1.0)])
    write_csv(pl.concat([roc.select("panel", "series", "fpr", "tpr"), chance]),
              plots_dir / "roc.csv")
    write_csv(extraction.select(
        pl.col("target").alias("panel"),
        ("k = " + pl.col("k").cast(pl.String).str.pad_start(2) + ", "
         + pl.when(pl.col("member")).then(pl.lit("members")).otherwise(pl.lit("non-members")))
        .alias("series"), "L", "mean_match", "exact_share", "n"),
        plots_dir / "extraction.csv")


def roc_figure(findings: AuditFindings, roc: pl.DataFrame, path: Path) -> None:
    """One panel per target, log–log (low FPR is what matters, Carlini et al. 2022), the
    chance diagonal dotted; FPR 0 is drawn at the smallest resolvable FPR, 1 / non-members."""
    count = len(findings.targets)
    fig, axes = plt.subplots(1, count, figsize=(5.2 * count, 4.8), squeeze=False,
                             layout="constrained")
    for ax, target in zip(axes[0], findings.targets, strict=True):
        floor = 1.0 / max(target.n_nonmembers, 1)
        rows = roc.filter(pl.col("target") == target.name)
        for attack in rows["attack"].unique(maintain_order=True):
            curve = rows.filter(pl.col("attack") == attack)
            auc = (target.blind if attack == BLIND else
                   next(a for a in target.attacks if a.attack == attack)).auc
            style = {"color": "black", "linestyle": "--"} if attack == BLIND else {}
            ax.plot(np.maximum(curve["fpr"].to_numpy(), floor),
                    np.maximum(curve["tpr"].to_numpy(), floor), linewidth=1.2,
                    label=f"{ATTACK_NAMES[attack]}: AUC "
                          f"{fmt_interval(auc.estimate, auc.low, auc.high, 3, None)}", **style)
        ax.plot([floor, 1], [floor, 1], color="grey", linestyle=":", linewidth=1,
                label="chance")
        ax.set(xscale="log", yscale="log", xlim=(floor, 1), ylim=(floor, 1.05),
               xlabel="false positive rate (log)", ylabel="true positive rate (log)",
               title=f"{target.name}\n{target.n_members} members, "
                     f"{target.n_nonmembers} non-members")
        ax.legend(fontsize=7, loc="lower right", title="AUC with 95% interval",
                  title_fontsize=7)
    fig.suptitle("Membership attacks: ROC curves per target (log-log; dotted: chance)")
    figures.save(fig, path)


def extraction_figure(findings: AuditFindings, extraction: pl.DataFrame, path: Path) -> None:
    """Mean match score M against L, one panel per target, one colour per k, members solid
    and non-members dashed (their M is what a model reaches on text it never saw)."""
    count = len(findings.targets)
    fig, axes = plt.subplots(1, count, figsize=(5.2 * count, 4.4), squeeze=False,
                             layout="constrained")
    top = min(1.02, max(0.1, 1.3 * extraction["mean_match"].max()))  # M is in [0, 1]
    for ax, target in zip(axes[0], findings.targets, strict=True):
        rows = extraction.filter(pl.col("target") == target.name)
        for i, k in enumerate(sorted(rows["k"].unique().to_list())):
            for member, style, face in ((True, "-", f"C{i}"), (False, "--", "none")):
                line = rows.filter((pl.col("k") == k) & (pl.col(MEMBER) == member)).sort("L")
                if line.height:
                    ax.plot(line["L"], line["mean_match"], style, marker="o", color=f"C{i}",
                            markerfacecolor=face,
                            label=f"k = {k}, {'members' if member else 'non-members'}")
        ax.set(xlabel="continuation length L (tokens)",
               ylabel="mean match score M (share of tokens)", ylim=(0, top),
               title=f"{target.name}\ngreedy extraction, n = {rows['n'].max()} per side")
        ax.legend(fontsize=7)
    fig.suptitle("Mean match score against L (M = 1: the continuation reproduced exactly; "
                 "the axis ends at " + (f"{top:.2f})" if top < 1 else "1)"))
    figures.save(fig, path)


def attack_rows(target: TargetFindings) -> list[list]:
    """The per-target table: AUC and TPR at 1% and 0.1% FPR, each with its interval."""
    def cell(estimate) -> str:
        return fmt_interval(estimate.estimate, estimate.low, estimate.high, 3, None)
    return [[a.label + (" (best)" if a.attack == target.best_attack else ""), cell(a.auc),
             cell(a.tpr_at_1pct), cell(a.tpr_at_0p1pct)]
            for a in [*target.attacks, target.blind]]


def extraction_rows(target: TargetFindings) -> list[list]:
    by_cell: dict[tuple[int, int], dict] = {}
    for cell in target.extraction:
        side = "m" if cell.member else "n"
        entry = by_cell.setdefault((cell.k, cell.length), {})
        entry[side] = cell
    rows = []
    for (k, length), sides in sorted(by_cell.items()):
        member, non = sides.get("m"), sides.get("n")
        rows.append([k, length,
                     None if member is None else member.exact_share,
                     None if non is None else non.exact_share,
                     None if member is None else member.mean_match,
                     None if non is None else non.mean_match])
    return rows


def check_rows(findings: AuditFindings) -> list[list]:
    """Every known-answer check; a failed one in bold."""
    return [[t.name, c.name, c.rule,
             f"**{c.verdict}**" if c.verdict == "not as expected" else c.verdict, c.detail]
            for t in findings.targets for c in t.checks]


def cost_rows(target: TargetFindings) -> list[list]:
    return [[c.what, c.model, c.sequences, c.cpu_seconds, c.wall_seconds, c.device]
            for c in target.costs]


def write_report(params: AuditParams, root: Path) -> None:
    """Stage audit_report: findings, metrics, plot data, figures and the Markdown report."""
    findings = findings_stage(params, root)
    roc, extraction = roc_lines(findings, root), extraction_lines(findings)
    plot_data(roc, extraction, root / layout.PLOTS)
    figures = root / layout.FIGURES
    roc_figure(findings, roc, figures / "roc.png")
    extraction_figure(findings, extraction, figures / "extraction.png")
    write_report_file(TEMPLATES, "report.md.j2", root / layout.REPORT, findings=findings,
                      attack_rows=attack_rows, extraction_rows=extraction_rows,
                      check_rows=check_rows(findings), cost_rows=cost_rows)
