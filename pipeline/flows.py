"""Prefect flows that run the DVC stages, with DVC as the single judge of staleness.

For each stage of ``dvc.yaml``, in order, the flow asks ``dvc status`` whether it is stale;
an up-to-date stage is skipped, a stale one runs the same function as its DVC ``cmd`` and is
then recorded with ``dvc commit``, which writes ``dvc.lock`` exactly as ``dvc repro`` would.
So after a flow run ``dvc status`` is clean, and after ``dvc repro`` the flow skips every
stage. The training grid fans out as one task per model through a thread-pool task runner;
each task trains in its own process (tiny models are bound by Python, so processes scale),
and a failed task is retried, resuming from its last checkpoint.

Run once:        python -m pipeline.flows run
Serve on a cron: python -m pipeline.flows serve --cron "0 3 * * *"
"""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys
from pathlib import Path

import yaml

# Our own loggers' records appear in the Prefect UI next to Prefect's.
os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "pipeline,stages")

from prefect import flow, get_run_logger, task  # noqa: E402
from prefect.task_runners import ThreadPoolTaskRunner  # noqa: E402

from pipeline.config import load_params  # noqa: E402
from pipeline.grid import pending_jobs  # noqa: E402

TRAIN_STAGE = "train"


def dvc_stages(root: Path = Path(".")) -> list[str]:
    """Stage names in ``dvc.yaml`` order (the file lists each stage after its inputs)."""
    return list(yaml.safe_load((root / "dvc.yaml").read_text())["stages"])


def is_stale(stage: str) -> bool:
    from dvc.repo import Repo

    with Repo(".") as repo:
        return bool(repo.status(targets=[stage]))


@task(retries=2, retry_delay_seconds=5)
def run_stage(stage: str) -> None:
    """Run a stage's function in-process: ``stages.<name>.main``, the DVC cmd's own code."""
    get_run_logger().info("running stage %s", stage)
    importlib.import_module(f"stages.{stage}").main()


@task(retries=2, retry_delay_seconds=5)
def train_one(run_id: str) -> str:
    """Train one model in a fresh process; a retry resumes from its last checkpoint."""
    logger = get_run_logger()
    logger.info("training %s", run_id)
    result = subprocess.run(
        [sys.executable, "-m", "stages.train", "--run", run_id],
        capture_output=True, text=True, check=False,
    )
    if result.returncode:
        logger.error(result.stderr[-4000:])
        raise RuntimeError(f"training {run_id} failed with exit status {result.returncode}")
    logger.info("trained %s", run_id)
    return run_id


@task
def commit_stage(stage: str) -> None:
    """Record the stage's deps, params and outs in dvc.lock, as ``dvc repro`` would."""
    from dvc.repo import Repo

    with Repo(".") as repo:
        repo.commit(stage, force=True)


def train_grid_tasks() -> None:
    todo, done = pending_jobs(load_params())
    get_run_logger().info("training grid: %d models to train, %d already trained",
                          len(todo), done)
    futures = [train_one.submit(job.run_id) for job in todo]
    for future in futures:
        future.result()


@flow(name="capacity-pipeline", log_prints=True,
      task_runner=ThreadPoolTaskRunner(max_workers=os.cpu_count() or 2))
def capacity_pipeline(project_root: str = ".") -> dict[str, str]:
    """Bring every DVC stage up to date; returns each stage's fate ("ran" or "skipped")."""
    os.chdir(project_root)
    logger = get_run_logger()
    load_params()  # reject invalid params before any work
    fates: dict[str, str] = {}
    for stage in dvc_stages():
        if not is_stale(stage):
            logger.info("stage %s is up to date; skipping", stage)
            fates[stage] = "skipped"
            continue
        if stage == TRAIN_STAGE:
            train_grid_tasks()
        else:
            run_stage(stage)
        commit_stage(stage)
        fates[stage] = "ran"
    return fates


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="run the pipeline flow once")
    serve = sub.add_parser("serve", help="serve a scheduled deployment (needs a Prefect API)")
    serve.add_argument("--name", default="capacity-nightly")
    serve.add_argument("--cron", default="0 3 * * *", help="schedule (cron syntax)")
    args = parser.parse_args(argv)
    if args.command == "run":
        print(capacity_pipeline())
    else:
        capacity_pipeline.serve(name=args.name, cron=args.cron,
                                parameters={"project_root": str(Path.cwd())})


if __name__ == "__main__":
    main()
