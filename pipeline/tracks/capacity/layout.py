"""Where each capacity-track artifact lives, under ``data/capacity/`` (relative to the root)."""

from __future__ import annotations

from pathlib import Path

from pipeline.core.layout import CHECKPOINTS, metrics_file, track_dir

HOME = track_dir("capacity")
SYNTHETIC = HOME / "synthetic"                 # stage capacity_data
MODELS = HOME / "models"                       # stage capacity_train
CURVES = HOME / "curves"
SCORES = HOME / "scores"                       # stage capacity_score
TOTALS = SCORES / "totals.parquet"
PLATEAU = HOME / "plateau"                     # stage capacity_plateau
PLATEAU_MODELS = PLATEAU / "models"
PLATEAU_RESULTS = PLATEAU / "step_budgets.parquet"
FIT = HOME / "fit"                             # stage capacity_fit
CAPACITY = FIT / "capacity_by_config.parquet"
BY_SIZE = FIT / "memorization_by_size.parquet"
FINDINGS = FIT / "findings.json"
METRICS = metrics_file("capacity")
REPORT = HOME / "report.md"                    # stage capacity_report
PLOTS = HOME / "plots"
FIGURES = HOME / "figures"


def synthetic_dataset(name: str, root: Path = Path(".")) -> Path:
    return root / SYNTHETIC / f"{name}.parquet"


def model_dir(run_id: str, root: Path = Path(".")) -> Path:
    return root / MODELS / run_id


def curve(run_id: str, root: Path = Path(".")) -> Path:
    return root / CURVES / f"{run_id}.csv"


def checkpoint_dir(run_id: str, root: Path = Path(".")) -> Path:
    return root / CHECKPOINTS / "capacity" / run_id


def scores(run_id: str, root: Path = Path(".")) -> Path:
    return root / SCORES / "runs" / f"{run_id}.parquet"
