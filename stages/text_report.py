"""Stage ``text_report``: DVC plot data, PNG figures, ``data/metrics/text.json`` and the
Markdown report of the text track, with α from the synthetic capacity fit."""

from __future__ import annotations

import logging
import math
from typing import Any

from pipeline import layout as base_layout
from pipeline.cli import run_stage
from pipeline.config import load_params
from pipeline.io import read_json, read_parquet, write_json, write_text
from pipeline.text import layout
from pipeline.text.plots import (
    double_descent_figure,
    extraction_figure,
    membership_figure,
    memorization_figure,
    write_plot_data,
)
from pipeline.text.prepare import load_decoder
from pipeline.text.report import markdown_report, text_metrics
from pipeline.text.summary import (
    by_size,
    double_descent_peaks,
    extraction_gap,
    membership_summary,
    read_alpha,
    top_memorized_sequences,
    with_capacity_ratio,
)

log = logging.getLogger(__name__)

CAPACITY_METRICS = base_layout.METRICS / "capacity.json"


def _finite(value: Any) -> Any:
    """NaN and infinities as null, so the metrics file is strict JSON."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def main() -> None:
    params = load_params()
    prefixes = list(params.text.extraction_prefixes)
    alpha = read_alpha(CAPACITY_METRICS)
    corpus, selection = read_json(layout.CORPUS_METRICS), read_json(layout.REFERENCE_SELECTION)
    totals = with_capacity_ratio(read_parquet(layout.TOTALS), alpha)
    table = by_size(totals)
    seq_len = corpus["seq_len"]
    peaks = double_descent_peaks(table)
    summary = membership_summary(totals, seq_len, params.fit.confidence)
    gap = extraction_gap(totals, prefixes)
    top_run, top = top_memorized_sequences(totals, load_decoder(), params.text.top_memorized)

    write_plot_data(table, summary.fit, prefixes, seq_len, layout.PLOTS)
    memorization_figure(table, layout.FIGURES / "memorization_vs_n.png")
    double_descent_figure(table, layout.FIGURES / "double_descent.png")
    membership_figure(totals, summary.fit, seq_len, layout.FIGURES / "membership_f1.png")
    extraction_figure(table, prefixes, layout.FIGURES / "extraction.png")
    metrics = text_metrics(corpus, selection, table, alpha, peaks, summary, prefixes)
    write_json(_finite(metrics), layout.TEXT_METRICS)
    write_text(markdown_report(params, corpus, selection, table, alpha, peaks, summary, gap,
                               top_run, top), layout.REPORT)
    log.info("text report written to %s", layout.REPORT)


if __name__ == "__main__":
    run_stage(main)
