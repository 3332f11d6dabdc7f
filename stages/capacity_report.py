"""Stage ``capacity_report``: DVC plot data, PNG figures and the Markdown capacity report."""

from __future__ import annotations

import logging
from pathlib import Path

import polars as pl

from pipeline.capacity import layout
from pipeline.capacity.config import CapacityParams
from pipeline.capacity.grid import capacity_runs
from pipeline.capacity.report import (
    capacity_figure,
    curves_figure,
    markdown_report,
    memorization_figure,
    plot_data,
)
from pipeline.core.errors import ArtifactError
from pipeline.core.io import read_json, read_parquet, write_text
from pipeline.core.stage import stage_main

log = logging.getLogger(__name__)


def read_curve(run_id: str, root: Path) -> pl.DataFrame:
    path = layout.curve(run_id, root)
    try:
        return pl.read_csv(path)
    except (FileNotFoundError, pl.exceptions.PolarsError) as error:
        raise ArtifactError(f"{path}: missing or unreadable training curve ({error})") from error


def work(params: CapacityParams, root: Path) -> None:
    config = params.capacity
    totals, capacity = read_parquet(root / layout.TOTALS), read_parquet(root / layout.CAPACITY)
    by_size, metrics = read_parquet(root / layout.BY_SIZE), read_json(
        root / layout.CAPACITY_METRICS)
    alpha = metrics["alpha_bits_per_param"]
    figures = root / layout.FIGURES
    curves = {run.run_id: read_curve(run.run_id, root) for run in capacity_runs(config)}
    plot_data(by_size, capacity, alpha, curves, root / layout.PLOTS)
    memorization_figure(by_size, capacity, figures / "memorization_vs_n.png")
    capacity_figure(capacity, alpha, figures / "capacity_vs_params.png")
    curves_figure(curves, figures / "training_curves.png")
    write_text(markdown_report(config, metrics, capacity, totals),
               root / layout.REPORT / "capacity.md")
    log.info("report written to %s", layout.REPORT / "capacity.md")


PARAMS = CapacityParams
main = stage_main(__name__)

if __name__ == "__main__":
    main()
