"""Stage ``fit``: capacity per configuration and α (bits per parameter) with its interval."""

from __future__ import annotations

import logging

from pipeline import layout
from pipeline.cli import run_stage
from pipeline.config import load_params
from pipeline.fit import (
    alpha_metrics,
    capacity_by_config,
    fit_alpha,
    memorization_by_size,
    with_paper_columns,
)
from pipeline.io import read_parquet, write_json, write_parquet
from pipeline.score_runs import TOTALS

log = logging.getLogger(__name__)

CAPACITY = layout.FIT / "capacity_by_config.parquet"
BY_SIZE = layout.FIT / "memorization_by_size.parquet"
METRICS = layout.METRICS / "capacity.json"


def main() -> None:
    params = load_params()
    totals = read_parquet(TOTALS)
    capacity = capacity_by_config(totals)
    fit = fit_alpha(capacity, params.fit.confidence)
    capacity = with_paper_columns(capacity, params.synthetic.vocab_size, params.synthetic.seq_len)
    write_parquet(memorization_by_size(totals), BY_SIZE)
    write_parquet(capacity, CAPACITY)
    write_json(alpha_metrics(fit, capacity, totals), METRICS)
    log.info("alpha = %.3f bits/param (%.0f%% CI %.3f–%.3f, R² %.4f) over %d configs",
             fit.alpha, 100 * fit.confidence, fit.ci_low, fit.ci_high, fit.r_squared,
             fit.n_configs)


if __name__ == "__main__":
    run_stage(main)
