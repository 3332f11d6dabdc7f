"""Where each text-track artifact lives, under ``data/text/`` (relative to the project root);
the corpus it reads is :mod:`pipeline.core.corpus`'s."""

from __future__ import annotations

from pathlib import Path

from pipeline.core import layout

TEXT = layout.track_dir("text")

REFERENCE = TEXT / "reference"                # stage text_reference
REFERENCE_MODELS = REFERENCE / "models"
REFERENCE_CURVES = REFERENCE / "curves"
REFERENCE_SELECTION = REFERENCE / "selection.json"
REFERENCE_NLL_MEMBERS = REFERENCE / "nll_members.parquet"
REFERENCE_NLL_NONMEMBERS = REFERENCE / "nll_nonmembers.parquet"

MODELS = TEXT / "models"                      # stage text_train
CURVES = TEXT / "curves"
CHECKPOINTS = layout.CHECKPOINTS / "text"     # transient, never tracked

SCORES = TEXT / "scores"                      # stage text_score
TOTALS = SCORES / "totals.parquet"

GROUND_TRUTH = TEXT / "ground_truth"          # stage text_ground_truth
GROUND_TRUTH_RESULTS = GROUND_TRUTH / "results.parquet"
GROUND_TRUTH_SEQUENCES = GROUND_TRUTH / "sequences.parquet"

IDENTICAL = TEXT / "identical_capacity"       # stage text_capacity
IDENTICAL_MODELS = IDENTICAL / "models"
IDENTICAL_CURVES = IDENTICAL / "curves"
IDENTICAL_RESULTS = IDENTICAL / "results.parquet"

PLATEAU = TEXT / "plateau"                    # stage text_plateau
PLATEAU_MODELS = PLATEAU / "models"
PLATEAU_CURVES = PLATEAU / "curves"
PLATEAU_RESULTS = PLATEAU / "results.parquet"

PLOTS = TEXT / "plots"                        # stage text_report
FIGURES = TEXT / "figures"
REPORT = TEXT / "report.md"
FINDINGS = TEXT / "findings.json"
TEXT_METRICS = layout.metrics_file("text")
# The capacity track's metrics, read (never imported) for α.
CAPACITY_METRICS = layout.metrics_file("capacity")


def run_scores(run_id: str, root: Path = Path(".")) -> Path:
    """Per-sequence scores of one run: its training sequences and the held-out ones."""
    return root / SCORES / "runs" / f"{run_id}.parquet"
