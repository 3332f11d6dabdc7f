"""Where each artifact lives under ``data/`` (paths relative to the project root)."""

from __future__ import annotations

from pathlib import Path

DATA = Path("data")
SYNTHETIC = DATA / "synthetic"
MODELS = DATA / "models"
CURVES = DATA / "curves"
CHECKPOINTS = DATA / "checkpoints"
SCORES = DATA / "scores"
FIT = DATA / "fit"
REPORT = DATA / "report"
METRICS = DATA / "metrics"


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
