"""Where each retention-track artifact lives, under ``data/retention/`` (relative to the
project root); the corpus it reads is :mod:`pipeline.core.corpus`'s."""

from __future__ import annotations

from pathlib import Path

from pipeline.core import layout

RETENTION = layout.track_dir("retention")

ENCODERS = RETENTION / "encoders"        # stage retention_encoders
DECODERS = RETENTION / "decoders"        # stage retention_decoders
MEMORY = RETENTION / "memory"            # stage retention_memory
FOLLOWUP = RETENTION / "followup"        # stage retention_followup
CURVES = "curves"                        # below each stage's folder
CHECKPOINTS = layout.CHECKPOINTS / "retention"  # transient, never tracked

PLOTS = RETENTION / "plots"              # stage retention_report
FIGURES = RETENTION / "figures"
RESULTS = RETENTION / "results"
REPORT = RETENTION / "report.md"
FINDINGS = RETENTION / "findings.json"  # what the report states, as data
METRICS = layout.metrics_file("retention")

ENCODER_SUBDIR = "encoder"  # an autoencoder's or memory model's encoder, as a GPT-2 folder
SPEC_FILE = "retention.json"


def model_dir(stage_dir: Path, run_id: str, root: Path = Path(".")) -> Path:
    return root / stage_dir / "models" / run_id


def curve_path(stage_dir: Path, run_id: str, root: Path = Path(".")) -> Path:
    return root / stage_dir / CURVES / f"{run_id}.csv"
