"""Stage ``capacity_score``: per-sequence NLL and unintended memorization of every trained
model of the capacity grid."""

from __future__ import annotations

from pathlib import Path

from pipeline.capacity.config import CapacityParams
from pipeline.capacity.score import score_grid
from pipeline.core.stage import stage_main


def work(params: CapacityParams, root: Path) -> None:
    score_grid(params.capacity, root)


PARAMS = CapacityParams
main = stage_main(__name__)

if __name__ == "__main__":
    main()
