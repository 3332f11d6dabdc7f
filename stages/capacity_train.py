"""Stage ``capacity_train``: train every (shape, N, seed) run of the capacity grid not yet
trained with the current settings."""

from __future__ import annotations

from pathlib import Path

from pipeline.capacity.config import CapacityParams
from pipeline.capacity.grid import training_jobs
from pipeline.core.stage import stage_main
from pipeline.core.trainer import TrainJob


def jobs(params: CapacityParams, root: Path) -> list[TrainJob]:
    return training_jobs(params.capacity, params.runtime, root)


PARAMS = CapacityParams
main = stage_main(__name__)

if __name__ == "__main__":
    main()
