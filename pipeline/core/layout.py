"""The top of the artifact tree, shared by every track (paths relative to the project root).
Each track keeps its own paths below these in its own ``layout`` module."""

from __future__ import annotations

from pathlib import Path

DATA = Path("data")
METRICS = DATA / "metrics"
CHECKPOINTS = DATA / "checkpoints"  # transient, never tracked
