"""The retention report stage: every model scored, the findings
(:mod:`pipeline.tracks.retention.findings`) written as JSON, and from them the metrics file,
the figures' data and the Markdown report (``templates/report.md.j2``)."""

from __future__ import annotations

from pathlib import Path

from pipeline.core.io import write_json, write_text
from pipeline.core.report import render, write_findings
from pipeline.tracks.retention import layout
from pipeline.tracks.retention.config import RetentionParams
from pipeline.tracks.retention.corpus import read_corpus
from pipeline.tracks.retention.findings import RetentionFindings, retention_findings
from pipeline.tracks.retention.jobs import Builder
from pipeline.tracks.retention.plots import (
    chunks_figure,
    memory_figure,
    retention_figure,
    write_plot_data,
)
from pipeline.tracks.retention.summary import memory_tables, retention_table, write_results

TEMPLATES = Path(__file__).parent / "templates"
# The columns of the report's retention table, in order (the memory table's are its row's).
RETENTION_COLUMNS = ("encoder", "kind", "budget", "length", "lm_heldout_bits", "accuracy",
                     "train_accuracy", "ce_bits", "null_ce_bits", "ce_ratio",
                     "retained_fraction", "majority_rate", "bits_per_dimension")


def tables(findings: RetentionFindings) -> dict[str, list[list]]:
    """The report's table rows, in the order of the template's headers."""
    return {
        "claim_rows": [[c.claim, c.ours, f"**{c.verdict}**"] for c in findings.claims],
        "retention_rows": [[getattr(r, k) for k in RETENTION_COLUMNS]
                           for r in findings.retention],
        "memory_rows": [list(r.model_dump().values()) for r in findings.memory],
        "chunk_header": [f"chunk {c}" for c in findings.chunks],
        "chunk_rows": [[r.run_id, *r.ce_bits] for r in findings.chunk_rows],
    }


def render_report(findings: RetentionFindings) -> str:
    """The Markdown report, from the findings alone."""
    return render(TEMPLATES, "report.md.j2", findings=findings, **tables(findings))


def write_report(params: RetentionParams, root: Path) -> None:
    """Stage retention_report: every model scored, findings, figures, metrics, report."""
    config = params.retention
    corpus = read_corpus(root)
    builder = Builder(config, params.runtime, corpus, root)
    retention = retention_table(builder)
    memory, chunks = memory_tables(builder, retention)
    write_results({"retention": retention, "memory": memory, "chunks": chunks}, root)

    findings = retention_findings(config, corpus.name, corpus.vocab_size, retention, memory,
                                  chunks)
    write_findings(findings, root / layout.FINDINGS)
    write_plot_data(retention, memory, chunks, root / layout.PLOTS)
    figures = root / layout.FIGURES
    retention_figure(retention, figures / "retention.png")
    memory_figure(memory, figures / "memory.png")
    chunks_figure(chunks, figures / "chunks.png")
    write_json(findings.metrics(), root / layout.METRICS)
    write_text(render_report(findings), root / layout.REPORT)
