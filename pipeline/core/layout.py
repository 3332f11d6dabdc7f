"""The top of the artifact tree, shared by every track (paths relative to the project root).
Each track writes below ``data/<track>/`` and keeps its own paths in its ``layout`` module;
every track's metrics file is ``data/metrics/<track>.json``, which another track may read
(never import)."""

from __future__ import annotations

from pathlib import Path

DATA = Path("data")
METRICS = DATA / "metrics"
CHECKPOINTS = DATA / "checkpoints"  # transient, never tracked
REFERENCE = Path(__file__).parents[1] / "reference"  # the papers' numbers, as CSV


def reference_dep(name: str) -> Path:
    """A file of the papers' numbers as a stage dependency (relative to the project root)."""
    return Path("pipeline") / "reference" / name


def track_dir(track: str) -> Path:
    return DATA / track


def metrics_file(track: str) -> Path:
    return METRICS / f"{track}.json"
