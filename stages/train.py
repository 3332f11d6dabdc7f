"""Stage ``train``: train every (model, N, seed) run of the capacity grid not yet trained.

``--run RUN_ID`` trains that one run (the Prefect flow fans the grid out this way).
"""

from __future__ import annotations

import argparse

from pipeline.cli import run_stage
from pipeline.config import ConfigError, load_params
from pipeline.grid import capacity_runs, make_job, train_grid, train_jobs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", help="train only this run id, e.g. L1-D8-N64-S0")
    args = parser.parse_args(argv)
    params = load_params()
    if args.run is None:
        train_grid(params)
        return
    runs = {run.run_id: run for run in capacity_runs(params)}
    if args.run not in runs:
        raise ConfigError(f"--run: {args.run!r} is not in the grid of params.yaml")
    train_jobs([make_job(params, runs[args.run])], 1, params.train.threads_per_worker)


if __name__ == "__main__":
    run_stage(main)
