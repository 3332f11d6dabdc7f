"""What a flow run publishes to the Prefect UI: the results, as artifacts.

After a run, the capacity fit (α with its interval, beside the paper's), the per-shape
capacities, the text track's membership law, and where the reports are, read from the
metrics files the stages wrote (a stage that has not run yet is simply left out).
"""

from __future__ import annotations

from pathlib import Path

from prefect.artifacts import create_markdown_artifact, create_table_artifact

from pipeline.core.errors import ArtifactError
from pipeline.core.io import read_json


def _read(path: Path) -> dict | None:
    """The metrics file, or None when its stage has not written it (yet)."""
    try:
        return read_json(path)
    except ArtifactError:
        return None


def capacity_summary(metrics: dict, root: Path) -> str:
    return "\n".join([
        "# Capacity (Morris et al. 2025)",
        "",
        f"**α = {metrics['alpha_bits_per_param']} bits/parameter**, "
        f"{100 * metrics['alpha_confidence']:.0f}% interval {metrics['alpha_ci_low']} – "
        f"{metrics['alpha_ci_high']} over {metrics['configs']} shapes (paper: "
        f"{metrics['paper_alpha_bits_per_param']}); {metrics['runs_converged']} of "
        f"{metrics['runs']} runs converged.",
        "",
        f"Report: `{root / 'data/report/capacity.md'}`; figures in "
        f"`{root / 'data/report/figures'}`.",
    ])


def capacity_table(metrics: dict) -> list[dict]:
    return [{"shape": shape, "capacity_bits": bits,
             "bits_per_param": metrics["bits_per_param"][shape]}
            for shape, bits in metrics["capacity_bits"].items()]


def text_summary(metrics: dict, root: Path) -> str:
    law = metrics.get("membership_law", {})
    lines = ["# Text track (Morris et al. 2025, real text)", "",
             f"Corpus: {metrics.get('corpus_name')}."]
    if law:
        lines.append("Membership law " + ", ".join(f"{k} = {v}" for k, v in sorted(law.items())
                                                  if not isinstance(v, dict | list)) + ".")
    lines += ["", f"Report: `{root / 'data/text/report.md'}`; figures in "
                  f"`{root / 'data/text/figures'}`."]
    return "\n".join(lines)


def publish(root: Path) -> None:
    capacity = _read(root / "data/metrics/capacity.json")
    if capacity:
        create_markdown_artifact(key="capacity-summary", markdown=capacity_summary(capacity, root),
                                 description="α with its interval, beside the paper's")
        create_table_artifact(key="capacity-by-shape", table=capacity_table(capacity),
                              description="capacity per model shape")
    text = _read(root / "data/metrics/text.json")
    if text:
        create_markdown_artifact(key="text-summary", markdown=text_summary(text, root),
                                 description="text track: corpus, membership law, reports")
