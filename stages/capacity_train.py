"""Stage ``capacity_train``: train every (shape, N, seed) run of the capacity grid not yet
trained with the current settings; with ``runtime.stack_models``, the runs of one shape
train together (:mod:`pipeline.core.stacked`)."""

from __future__ import annotations

from pathlib import Path

from pipeline.capacity.config import CapacityParams
from pipeline.capacity.grid import training_jobs
from pipeline.core.jobs import Job
from pipeline.core.stacked import stack_jobs
from pipeline.core.stage import stage_main


def jobs(params: CapacityParams, root: Path) -> list[Job]:
    runs = training_jobs(params.capacity, params.runtime, root)
    return stack_jobs(runs) if params.runtime.stack_models else runs


PARAMS = CapacityParams
main = stage_main(__name__)

if __name__ == "__main__":
    main()
