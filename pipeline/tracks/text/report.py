"""Stage text_report: the findings (JSON), the metrics file, the plot data and figures, and
the Markdown report rendered from the findings through ``templates/report.md.j2``. The rows of
the report's tables are chosen here; every number is formatted by :mod:`pipeline.core.report`.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.core.io import write_json
from pipeline.core.report import finite, fmt, fmt_interval, percent, write_findings
from pipeline.core.report import write_report as write_report_file
from pipeline.tracks.text import layout
from pipeline.tracks.text.assemble import assemble
from pipeline.tracks.text.config import TextParams
from pipeline.tracks.text.findings import Bounds, TextFindings
from pipeline.tracks.text.plots import write_figures, write_plot_data

TEMPLATES = Path(__file__).parent / "templates"
SNIPPET = 400  # characters of a quoted sequence


def with_interval(bounds: Bounds, digits: int = 3, scale: float = 1.0) -> str:
    """``estimate (low – high)`` (:func:`fmt_interval`), divided by ``scale``; where there is
    no interval, the estimate and why not."""
    values = [None if v is None else v / scale for v in (bounds.estimate, bounds.low, bounds.high)]
    text = fmt_interval(*values, digits=digits, confidence=None)
    if bounds.estimate is not None and (bounds.low is None or bounds.high is None):
        text += " (no interval)"
    return text


def kbit(bounds: Bounds) -> str:
    """Bits with their interval, in kbit."""
    return with_interval(bounds, 2, 1e3)


def snippet(text: str) -> str:
    """A sequence's text for a table cell: newlines as ⏎, Markdown's own characters escaped."""
    text = text.replace("\\", "\\\\").replace("\n", " ⏎ ").replace("`", "\\`")
    text = text.replace("<", "&lt;")
    return text if len(text) <= SNIPPET else text[:SNIPPET] + " …"


def grid_rows(findings: TextFindings) -> list[list]:
    return [[g.config, g.n_sequences, g.seeds, g.dataset_bits / 1e3, g.raw_bits / 1e3,
             g.heldout_scaled_bits / 1e3, kbit(g.calibrated),
             (g.calibrated.estimate or 0.0) / g.params, g.raw_bits_oracle / 1e3,
             g.raw_bits_same_size / 1e3 if "same_size" in g.references_used else
             f"refused ({g.raw_bits_same_size / 1e3:,.1f})", round(g.steps),
             f"{g.converged_runs} of {g.seeds}"] for g in findings.grid]


def heldout_rows(findings: TextFindings) -> list[list]:
    oracle = findings.references.oracle_test_bits_per_token
    return [[g.config, g.n_sequences, g.test_bits_per_token, oracle,
             g.test_bits_per_token - oracle, g.references_used or "**none**",
             g.references_refused or "–"] for g in findings.grid]


def control_rows(findings: TextFindings) -> list[list]:
    return [[r.run_id, r.fresh_sequences, with_interval(r.fresh_calibrated, 1),
             r.sibling_sequences, r.sibling_mem_per_sequence, r.members_mem_per_sequence]
            for r in findings.runs]


def membership_rows(findings: TextFindings) -> list[list]:
    return [[r.config, r.n_sequences, r.seed, r.tokens_per_param, r.membership_x,
             2 * r.evaluated_per_class, with_interval(r.f1), with_interval(r.auc),
             with_interval(r.tpr_at_1pct_fpr), with_interval(r.tpr_at_0p1pct_fpr)]
            for r in findings.runs]


def rarity_rows(findings: TextFindings) -> list[list]:
    return [[r.config, r.n_sequences, r.seed, kbit(r.calibrated),
             "yes" if r.rarity.memorized else "no", r.rarity.rho, r.rarity.p,
             r.rarity.partial_rho, r.rarity.partial_p, r.rarity.heldout_rho,
             r.rarity.top_over_rest] for r in findings.runs]


def estimator_rows(findings: TextFindings) -> list[list]:
    def error(value: float | None) -> str:
        return "–" if value is None else f"{value:+.1%}"

    return [[r.reference, r.n_sequences, f"{r.reference_excess_share:+.1%}",
             r.mem_bits_true / 1e3, r.mem_bits_estimated / 1e3, error(r.relative_error_raw),
             kbit(r.calibrated_true), kbit(r.calibrated_estimated), error(r.relative_error),
             "–" if r.admitted is None else ("yes" if r.admitted else "**no**")]
            for r in findings.estimator.rows]


def extraction_rows(findings: TextFindings) -> list[list]:
    prefixes = findings.extraction.prefixes
    return [[g.config, g.n_sequences, kbit(g.calibrated)]
            + [g.extraction[f"extract_{side}_k{k}"] for k in prefixes
               for side in ("train", "test")] for g in findings.grid]


def reference_rows(findings: TextFindings) -> list[list]:
    return [[r.run_id, r.params, r.steps, r.validation_bits_per_token, r.members_bits_per_token,
             r.test_bits_per_token, f"{r.leak_gap:+.1%}", "**oracle**" if r.is_oracle else ""]
            for r in findings.references.rows]


def plateau_rows(findings: TextFindings) -> list[list]:
    return [[r.config, r.n_sequences, r.seed, "peak" if r.is_peak else "", r.dataset_bits / 1e3,
             r.steps_short, r.memorized_bits_short / 1e3, r.steps_long,
             r.memorized_bits_long / 1e3, f"{r.gain:+.1%}", "yes" if r.at_plateau else "**no**"]
            for r in findings.plateau.rows]


def shape_rows(findings: TextFindings) -> list[list]:
    return [[s.config, s.params, kbit(s.peak_calibrated), s.peak_at_n,
             s.identical_capacity_bits / 1e3 if not s.identical_capacity_data_limited
             else f"≥ {s.identical_capacity_bits / 1e3:,.1f} (data-limited)",
             s.identical_capacity_at_n, s.alpha_capacity_bits / 1e3,
             with_interval(s.peak_calibrated_over_identical),
             with_interval(s.peak_calibrated_over_alpha)] for s in findings.shapes]


def double_descent_rows(findings: TextFindings) -> list[list]:
    return [[g.config, g.n_sequences, g.x_alpha, g.x_identical, g.train_bits_per_token,
             g.test_bits_per_token] for g in findings.grid]


def law_rows(findings: TextFindings) -> list[list]:
    return [[c.name, c.value, f"{fmt(c.low)} – {fmt(c.high)}", c.paper]
            for c in findings.membership.constants]


def table2_rows(findings: TextFindings) -> list[list]:
    return [[r.model, r.params, r.train_sequences, r.tokens_per_param, r.target_f1,
             r.measured_f1, r.paper_law_f1, r.fitted_f1] for r in findings.membership.table2]


def claim_rows(findings: TextFindings) -> list[list]:
    return [[r.run_id, r.tokens_per_param,
             with_interval(Bounds(estimate=r.f1, low=r.f1_low, high=r.f1_high)), r.verdict]
            for r in findings.membership.claim_runs]


def top_rows(findings: TextFindings) -> list[list]:
    return [[i + 1, r.mem_bits, r.calibrated_bits, r.nll_bits, r.reference_bits, r.tfidf,
             snippet(r.text)] for i, r in enumerate(findings.rarity.top)]


def sensitivity_rows(findings: TextFindings) -> list[list]:
    def error(value: float | None) -> str:
        return "–" if value is None else f"{value:+.1%}"

    return [[f"{r.excess_share:+.0%}", error(r.relative_error_raw), error(r.relative_error)]
            for r in findings.estimator.sensitivity]


def render_context(findings: TextFindings) -> dict:
    prefixes = findings.extraction.prefixes
    rows = {name: function(findings) for name, function in (
        ("reference_rows", reference_rows), ("heldout_rows", heldout_rows),
        ("grid_rows", grid_rows), ("control_rows", control_rows),
        ("plateau_rows", plateau_rows), ("shape_rows", shape_rows),
        ("double_descent_rows", double_descent_rows), ("membership_rows", membership_rows),
        ("law_rows", law_rows), ("table2_rows", table2_rows), ("claim_rows", claim_rows),
        ("extraction_rows", extraction_rows), ("rarity_rows", rarity_rows),
        ("top_rows", top_rows), ("estimator_rows", estimator_rows),
        ("sensitivity_rows", sensitivity_rows))}
    return dict(findings=findings, percent=percent, kbit=kbit, with_interval=with_interval,
                evaluated=[2 * r.evaluated_per_class for r in findings.runs],
                extraction_header=["shape", "N", "calibrated kbit"] + [
                    f"{side} k={k}" for k in prefixes for side in ("train", "held-out")],
                **rows)


def write_report(params: TextParams, root: Path) -> TextFindings:
    """Stage text_report: findings, metrics, plot data, figures and the Markdown report."""
    findings = assemble(params, root)
    write_findings(findings, root / layout.FINDINGS)
    write_json(finite(findings.metrics()), root / layout.TEXT_METRICS)
    write_plot_data(findings, root / layout.PLOTS)
    write_figures(findings, root / layout.FIGURES)
    write_report_file(TEMPLATES, "report.md.j2", root / layout.REPORT,
                      **render_context(findings))
    return findings
