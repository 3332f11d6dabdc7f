"""Stage ``retention_report``: score every trained model of the track on held-out and
training sequences, then the report (the paper's claims beside our numbers, with verdicts),
figures, DVC plot data and ``data/metrics/retention.json``."""

from __future__ import annotations

import logging
from pathlib import Path

from pipeline.core.io import write_json, write_text
from pipeline.core.report import finite
from pipeline.core.stage import stage_main
from pipeline.retention import layout
from pipeline.retention.config import RetentionParams
from pipeline.retention.corpus import read_corpus
from pipeline.retention.jobs import Builder
from pipeline.retention.plots import (
    chunks_figure,
    memory_figure,
    retention_figure,
    write_plot_data,
)
from pipeline.retention.report import (
    markdown_report,
    regime_warnings,
    retention_metrics,
    verdicts,
)
from pipeline.retention.summary import memory_tables, retention_table, write_results

log = logging.getLogger(__name__)


def work(params: RetentionParams, root: Path) -> None:
    config = params.retention
    corpus = read_corpus(root)
    builder = Builder(config, params.runtime, corpus, root)
    retention = retention_table(builder)
    memory, chunks = memory_tables(builder, retention)
    write_results({"retention": retention, "memory": memory, "chunks": chunks}, root)

    claims = verdicts(config, retention, memory)
    warnings = regime_warnings(config, retention, memory)
    write_plot_data(retention, memory, chunks, root / layout.PLOTS)
    figures = root / layout.FIGURES
    retention_figure(retention, figures / "retention.png")
    memory_figure(memory, figures / "memory.png")
    chunks_figure(chunks, figures / "chunks.png")
    metrics = retention_metrics(config, corpus.name, retention, memory, chunks, claims,
                                warnings)
    write_json(finite(metrics), root / layout.METRICS)
    write_text(markdown_report(config, corpus.name, corpus.vocab_size, retention, memory,
                               chunks, claims, warnings), root / layout.REPORT)
    log.info("retention report written to %s", layout.REPORT)


PARAMS = RetentionParams
main = stage_main(__name__)

if __name__ == "__main__":
    main()
