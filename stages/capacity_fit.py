"""Stage ``capacity_fit``: capacity per configuration and α (bits per parameter) with its
interval."""

from __future__ import annotations

import logging
from pathlib import Path

from pipeline.capacity import layout
from pipeline.capacity.config import CapacityParams
from pipeline.capacity.fit import (
    alpha_metrics,
    capacity_by_config,
    fit_alpha,
    memorization_by_size,
    with_paper_columns,
)
from pipeline.core.io import read_parquet, write_json, write_parquet
from pipeline.core.stage import stage_main

log = logging.getLogger(__name__)


def work(params: CapacityParams, root: Path) -> None:
    config = params.capacity
    totals = read_parquet(root / layout.TOTALS)
    capacity = capacity_by_config(totals)
    fit = fit_alpha(capacity, config.fit.confidence)
    capacity = with_paper_columns(capacity, config.data.vocab_size, config.data.seq_len)
    write_parquet(memorization_by_size(totals), root / layout.BY_SIZE)
    write_parquet(capacity, root / layout.CAPACITY)
    write_json(alpha_metrics(fit, capacity, totals), root / layout.CAPACITY_METRICS)
    log.info("alpha = %.3f bits/param (%.0f%% CI %.3f–%.3f, R² %.4f) over %d configs",
             fit.alpha, 100 * fit.confidence, fit.ci_low, fit.ci_high, fit.r_squared,
             fit.n_configs)


PARAMS = CapacityParams
main = stage_main(__name__)

if __name__ == "__main__":
    main()
