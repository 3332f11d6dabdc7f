"""The profiles report stage: figures and plot data, the findings
(:mod:`pipeline.tracks.profiles.sections` gathers them) written as JSON, and from them the
metrics file and the Markdown report (``templates/report.md.j2``): every table with the
paper's numbers beside ours, a verdict per finding with its reason, the per-model degeneracy
gate with counts per repetition stratum, and the gate's warning on top when it fails."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from pipeline.core.io import read_json, read_parquet, write_json, write_text
from pipeline.core.report import fmt_interval, render, write_findings
from pipeline.tracks.profiles import layout, plots
from pipeline.tracks.profiles.config import ProfilesConfig
from pipeline.tracks.profiles.findings import ProfilesFindings
from pipeline.tracks.profiles.levels import LABELS
from pipeline.tracks.profiles.sections import profiles_findings
from pipeline.tracks.profiles.verdicts import MOST

TEMPLATES = Path(__file__).parent / "templates"
PREDICTOR_HEADER = ["model", "test sequences", "epoch", "token acc %", "full-seq acc %",
                    "floor: none memorized %", "floor: entropy threshold %",
                    "floor: logistic entropy %", "best floor", "margin (points, 95% CI)"]


def margin_cell(estimate, low, high, untestable) -> str | None:
    """The predictor's margin over its best floor, in points, with its interval."""
    if untestable is not None:
        return f"untestable: {untestable}"
    return None if estimate is None else fmt_interval(estimate, low, high, 1, confidence=None)


def gate_tables(findings: ProfilesFindings) -> dict:
    """The gate's level counts per model, and per repetition stratum."""
    models = findings.gate.models
    gate = {"header": ["model", *LABELS, "populated levels", "members mean M",
                       "non-members mean M", "passes"],
            "rows": [[c.model, *(c.levels[label] for label in LABELS), c.populated_levels,
                      c.member_mean_M, c.nonmember_mean_M, c.passes] for c in models]}
    strata = {"header": ["model", "repetitions", *LABELS],
              "rows": [[c.model, stratum, *c.strata[stratum]] for c in models
                       for stratum in sorted(c.strata, key=lambda s: int(s.rstrip("x")))]}
    return {"gate": gate, "strata": strata}


def tables(findings: ProfilesFindings) -> dict:
    """The rows of the report's tables that are assembled rather than stored as tables."""
    predictor = [[*row[:-4], margin_cell(*row[-4:])]
                 for row in findings.predictor_tables.results.rows]
    return {
        **gate_tables(findings),
        "model_rows": [[m.name, m.params, m.width, f"`{m.folder}`"] for m in findings.models],
        "verdict_rows": [[key, v.verdict] for key, v in findings.ordered_verdicts()],
        "transition_rows": [[t.source, t.target, t.direction, t.diagonal_mass,
                             t.mean_row_diagonal, t.top_level_sequences, t.top_level_stay]
                            for t in findings.transitions],
        "predictor_header": PREDICTOR_HEADER, "predictor_rows": predictor,
    }


def render_report(findings: ProfilesFindings) -> str:
    """The Markdown report, from the findings alone."""
    return render(TEMPLATES, "report.md.j2", findings=findings, most=MOST, **tables(findings))


def write_figures(root: Path, summary: dict, shares: pl.DataFrame, embedding: dict) -> None:
    """The figures and the plot data (:mod:`pipeline.tracks.profiles.plots`)."""
    names = [m["name"] for m in summary["models"]]
    k, length = summary["k"], summary["L"]
    curves = pl.read_csv(root / layout.BOUNDARY)
    grid = read_parquet(root / layout.GRID, columns=["model", "k", "L", "M", "member"])
    main = grid.filter((pl.col("k") == k) & (pl.col("L") == length))
    figures = root / layout.FIGURES
    plots.write_plot_data(shares, curves, k, length, root / layout.PLOTS)
    plots.share_figures(shares, k, length, figures)
    plots.histogram_figure(main, names, length, figures / "histogram.png")
    plots.transition_figure(pl.read_csv(root / layout.TRANSITIONS), figures / "transitions.png")
    plots.boundary_figure(curves, names, k, length, figures / "boundary.png")
    plots.embedding_figure(embedding, names, figures / "embeddings.png")


def write_report(profiles: ProfilesConfig, root: Path) -> dict:
    """Stage profiles_report: figures, findings, ``data/metrics/profiles.json`` and the
    Markdown report."""
    summary = read_json(root / layout.ANALYSIS_SUMMARY)
    shares = pl.read_csv(root / layout.SHARES)
    embedding = read_json(root / layout.EMBEDDINGS)
    write_figures(root, summary, shares, embedding)
    findings = profiles_findings(
        profiles, summary, read_json(root / layout.DATA_INFO), shares,
        pl.read_csv(root / layout.BOUNDARY_SUMMARY), embedding,
        read_json(root / layout.PREDICTOR_RESULTS))
    write_findings(findings, root / layout.FINDINGS)
    metrics = findings.metrics()
    write_json(metrics, root / layout.METRICS)
    write_text(render_report(findings), root / layout.REPORT)
    return metrics
