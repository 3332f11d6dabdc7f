"""Where each capacity-track artifact lives under ``data/`` (paths relative to the root)."""

from __future__ import annotations

from pathlib import Path

from pipeline.core.layout import CHECKPOINTS, DATA, METRICS

SYNTHETIC = DATA / "synthetic"
MODELS = DATA / "models"
CURVES = DATA / "curves"
SCORES = DATA / "scores"
TOTALS = SCORES / "totals.parquet"
FIT = DATA / "fit"
CAPACITY = FIT / "capacity_by_config.parquet"
BY_SIZE = FIT / "memorization_by_size.parquet"
REPORT = DATA / "report"
PLOTS = REPORT / "plots"
FIGURES = REPORT / "figures"
CAPACITY_METRICS = METRICS / "capacity.json"


def synthetic_dataset(name: str, root: Path = Path(".")) -> Path:
    return root / SYNTHETIC / f"{name}.parquet"


def model_dir(run_id: str, root: Path = Path(".")) -> Path:
    return root / MODELS / run_id


def curve(run_id: str, root: Path = Path(".")) -> Path:
    return root / CURVES / f"{run_id}.csv"


def checkpoint_dir(run_id: str, root: Path = Path(".")) -> Path:
    return root / CHECKPOINTS / run_id


def scores(run_id: str, root: Path = Path(".")) -> Path:
    return root / SCORES / "runs" / f"{run_id}.parquet"
