"""Stage ``report``: DVC plot data, PNG figures and the Markdown capacity report."""

from __future__ import annotations

import logging

import polars as pl

from pipeline import layout
from pipeline.cli import run_stage
from pipeline.config import load_params
from pipeline.grid import capacity_runs
from pipeline.io import ArtifactError, read_json, read_parquet, write_text
from pipeline.report import (
    capacity_figure,
    curves_figure,
    markdown_report,
    memorization_figure,
    plot_data,
)
from pipeline.score_runs import TOTALS
from stages.fit import BY_SIZE, CAPACITY, METRICS

log = logging.getLogger(__name__)

PLOTS = layout.REPORT / "plots"
FIGURES = layout.REPORT / "figures"


def read_curve(run_id: str) -> pl.DataFrame:
    path = layout.curve(run_id)
    try:
        return pl.read_csv(path)
    except (FileNotFoundError, pl.exceptions.PolarsError) as error:
        raise ArtifactError(f"{path}: missing or unreadable training curve ({error})") from error


def main() -> None:
    params = load_params()
    totals, capacity = read_parquet(TOTALS), read_parquet(CAPACITY)
    by_size, metrics = read_parquet(BY_SIZE), read_json(METRICS)
    alpha = metrics["alpha_bits_per_param"]
    plot_data(by_size, capacity, alpha, PLOTS)
    memorization_figure(by_size, capacity, FIGURES / "memorization_vs_n.png")
    capacity_figure(capacity, alpha, FIGURES / "capacity_vs_params.png")
    curves = {run.run_id: read_curve(run.run_id) for run in capacity_runs(params)}
    curves_figure(curves, FIGURES / "training_curves.png")
    report = markdown_report(params, metrics, capacity, totals)
    write_text(report, layout.REPORT / "capacity.md")
    log.info("report written to %s", layout.REPORT / "capacity.md")


if __name__ == "__main__":
    run_stage(main)
