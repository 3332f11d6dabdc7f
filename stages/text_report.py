"""Stage ``text_report``: DVC plot data, PNG figures, ``data/metrics/text.json`` and the
Markdown report of the text track, with α read from the capacity track's metrics file."""

from __future__ import annotations

import logging
from pathlib import Path

from pipeline.core.io import read_json, read_parquet, write_json, write_text
from pipeline.core.report import finite
from pipeline.core.stage import stage_main
from pipeline.text import layout
from pipeline.text.config import TextParams
from pipeline.text.plots import (
    double_descent_figure,
    extraction_figure,
    membership_figure,
    memorization_figure,
    write_plot_data,
)
from pipeline.text.pool import load_decoder
from pipeline.text.regime import regime_warnings
from pipeline.text.report import (
    estimator_metrics,
    markdown_report,
    plateau_metrics,
    text_metrics,
)
from pipeline.text.summary import (
    by_size,
    capacity_comparison,
    double_descent_peaks,
    extraction_gap,
    membership_summary,
    read_alpha,
    top_memorized_sequences,
    with_capacity_ratio,
    with_identical_capacity,
)

log = logging.getLogger(__name__)


def work(params: TextParams, root: Path) -> None:
    text = params.text
    prefixes = list(text.extraction_prefixes)
    alpha = read_alpha(root / layout.CAPACITY_METRICS)
    corpus = read_json(root / layout.CORPUS_METRICS)
    selection = read_json(root / layout.REFERENCE_SELECTION)
    totals = with_capacity_ratio(read_parquet(root / layout.TOTALS), alpha)
    identical = read_parquet(root / layout.IDENTICAL_RESULTS)
    table = with_identical_capacity(by_size(totals), identical)
    comparison = capacity_comparison(table, identical)
    seq_len = corpus["seq_len"]
    peaks = double_descent_peaks(table)
    summary = membership_summary(totals, seq_len, text.confidence)
    gap = extraction_gap(totals, prefixes)
    top_run, top = top_memorized_sequences(totals, load_decoder(root), text.top_memorized,
                                            root)

    figures = root / layout.FIGURES
    write_plot_data(table, summary.fit, prefixes, seq_len, root / layout.PLOTS)
    memorization_figure(table, figures / "memorization_vs_n.png")
    double_descent_figure(table, figures / "double_descent.png")
    membership_figure(totals, summary.fit, seq_len, figures / "membership_f1.png")
    extraction_figure(table, prefixes, figures / "extraction.png")
    plateau = read_parquet(root / layout.PLATEAU_RESULTS)
    warnings = regime_warnings(totals, table, selection, alpha, prefixes,
                               text.train.eval_points, text.train.steps, comparison, plateau)
    ground_truth = read_parquet(root / layout.GROUND_TRUTH_RESULTS)
    metrics = text_metrics(corpus, selection, table, alpha, peaks, summary, prefixes,
                           comparison)
    metrics.update(regime_warnings=warnings, degenerate=bool(warnings),
                   estimator_check=estimator_metrics(ground_truth),
                   plateau=plateau_metrics(plateau))
    write_json(finite(metrics), root / layout.TEXT_METRICS)
    write_text(markdown_report(text, corpus, selection, table, alpha, peaks, summary, gap,
                               top_run, top, warnings, ground_truth, comparison, plateau),
               root / layout.REPORT)
    log.info("text report written to %s", layout.REPORT)


PARAMS = TextParams
main = stage_main(__name__)

if __name__ == "__main__":
    main()
