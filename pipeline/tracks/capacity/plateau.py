"""Is each shape's capacity a plateau in steps, or a step budget? (stage capacity_plateau)

The trainer's convergence rule (memorization rose less than a tolerance over the last quarter
of training) is biased by the decaying learning rate: memorization keeps rising while the
rate decays, however long the run. The direct test trains a shape's capacity-defining runs
(its N at capacity, for the first ``capacity.plateau.seeds`` seeds) again for
``steps_factor`` × the grid's steps, on the same data, seed and schedule shape, and compares
the memorization both runs end with (the trainer's own measure, so both are scored alike).
A shape is at its plateau when the longer runs gain, on average, less than
``capacity.plateau.tolerance``. A shape whose maximum is data-limited is not trained again:
it is excluded from α for that reason already, and more steps cannot add bits its data lacks.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import polars as pl

from pipeline.core.io import read_json, read_parquet, write_parquet
from pipeline.core.trainer import TRAINING_FILE, TrainJob
from pipeline.tracks.capacity import layout
from pipeline.tracks.capacity.config import CapacityConfig, CapacityParams
from pipeline.tracks.capacity.fit import capacity_by_config
from pipeline.tracks.capacity.grid import Run, capacity_runs, make_job

log = logging.getLogger(__name__)

SCHEMA = {"run_id": pl.Utf8, "config": pl.Utf8, "n_sequences": pl.Int64, "seed": pl.Int64,
          "steps_short": pl.Int64, "memorized_bits_short": pl.Float64, "steps_long": pl.Int64,
          "memorized_bits_long": pl.Float64, "gain": pl.Float64}


def check_run_id(run_id: str, factor: float) -> str:
    return f"{run_id}-x{factor:g}"


def defining_runs(config: CapacityConfig, totals: pl.DataFrame) -> list[Run]:
    """The runs that set each shape's capacity (its N at capacity, the first
    ``plateau.seeds`` seeds), leaving out shapes whose maximum is data-limited."""
    capacity = capacity_by_config(totals)
    at = {row["config"]: row["n_at_capacity"] for row in capacity.iter_rows(named=True)
          if not row["data_limited"]}
    seeds = set(config.data.seeds[:config.plateau.seeds])
    return [run for run in capacity_runs(config)
            if at.get(run.model.name) == run.n_sequences and run.seed in seeds]


def longer_train(config: CapacityConfig):
    steps = max(1, round(config.train.steps * config.plateau.steps_factor))
    return config.train.model_copy(update={"steps": steps})


def plateau_jobs(params: CapacityParams, root: Path) -> list[TrainJob]:
    """Stage capacity_plateau's jobs: the capacity-defining runs, ``steps_factor`` × longer."""
    config = params.capacity
    totals = read_parquet(root / layout.TOTALS)
    train = longer_train(config)
    factor = config.plateau.steps_factor
    return [make_job(config, params.runtime, run, root, train=train,
                     run_id=check_run_id(run.run_id, factor), models_dir=layout.PLATEAU_MODELS)
            for run in defining_runs(config, totals)]


def relative_gain(short_bits: float, long_bits: float) -> float:
    """How much more the longer run memorized, as a share of the shorter run's."""
    if short_bits > 0:
        return long_bits / short_bits - 1.0
    return math.inf if long_bits > 0 else 0.0


def compare_step_budgets(config: CapacityConfig, root: Path = Path(".")) -> pl.DataFrame:
    """One row per retrained run: memorization after the grid's steps and after the longer
    run's, and the relative gain."""
    totals = read_parquet(root / layout.TOTALS)
    factor = config.plateau.steps_factor
    rows = []
    for run in defining_runs(config, totals):
        short = read_json(layout.model_dir(run.run_id, root) / TRAINING_FILE)
        long = read_json(root / layout.PLATEAU_MODELS / check_run_id(run.run_id, factor)
                         / TRAINING_FILE)
        gain = relative_gain(short["memorized_bits"], long["memorized_bits"])
        rows.append({"run_id": run.run_id, "config": run.model.name,
                     "n_sequences": run.n_sequences, "seed": run.seed,
                     "steps_short": short["steps"], "memorized_bits_short": short["memorized_bits"],
                     "steps_long": long["steps"], "memorized_bits_long": long["memorized_bits"],
                     "gain": gain})
        log.info("%s: %.1f kbit after %d steps, %.1f after %d (%+.1f%%)", run.run_id,
                 short["memorized_bits"] / 1e3, short["steps"], long["memorized_bits"] / 1e3,
                 long["steps"], 100 * gain)
    return pl.DataFrame(rows, schema=SCHEMA)


def plateau_stage(params: CapacityParams, root: Path) -> None:
    """Stage capacity_plateau (after its jobs): the step-budget comparison."""
    write_parquet(compare_step_budgets(params.capacity, root), root / layout.PLATEAU_RESULTS)
