"""Stage capacity_train with ``runtime.stack_models``: the runs of one shape and batch train
as one stack, and leave exactly the models (and fingerprints) the unstacked stage would."""

from __future__ import annotations

import yaml

from pipeline.core.stacked import StackedTrainJob
from pipeline.core.trainer import TrainJob
from pipeline.dvcfile import find_stage
from pipeline.runtime.stage import run_stage
from pipeline.tracks.capacity.config import CapacityParams


def test_stacked_stage_trains_the_runs_of_one_shape_together(tmp_path, tiny_params):
    tiny_params["capacity"]["data"].update(dataset_sizes=[4, 16, 256], seeds=[0, 1])
    tiny_params["runtime"]["stack_models"] = True
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(tiny_params))
    params = CapacityParams.model_validate(tiny_params)
    capacity_data, capacity_train = find_stage("capacity_data"), find_stage("capacity_train")
    capacity_data.work(params, tmp_path)

    jobs = capacity_train.jobs(params, tmp_path)
    # N=4 is smaller than the batch (8): its runs train on batches of 4, a stack of their own.
    assert sorted(len(job.jobs) for job in jobs if isinstance(job, StackedTrainJob)) == [2, 4]
    run_stage(capacity_train, tmp_path)

    unstacked = params.model_copy(update={"runtime": params.runtime.model_copy(
        update={"stack_models": False})})
    runs = capacity_train.jobs(unstacked, tmp_path)
    assert len(runs) == 6 and all(type(job) is TrainJob and job.is_done() for job in runs)
