"""Table 1 of Morris et al. 2025, row by row, in fp32 and in bf16 (the capacity track's
``table1`` preset; :mod:`pipeline.tracks.capacity.table1`, docs/capacity.md §6).

    python -m pipeline.presets table1
    python -m pipeline.benchmark.table1 [--precisions fp32,bf16]
    git checkout params.yaml

Trains every run of ``capacity`` once per precision on ``runtime.workers`` processes (runs
already trained are skipped), then writes data/metrics/table1.json and
data/capacity/table1/time_to_capacity.csv. Cost: the process CPU seconds of each precision
(this process and its finished workers), written under ``cost``.
"""

from __future__ import annotations

import argparse
import logging
import resource
import time
from pathlib import Path

from pipeline.core.config import PARAMS_FILE, load
from pipeline.params import load_params
from pipeline.runtime.jobs import run_jobs
from pipeline.tracks.capacity.config import CapacityParams
from pipeline.tracks.capacity.synthetic import write_datasets
from pipeline.tracks.capacity.table1 import PRECISIONS, check_request, table1_jobs, write_table1

log = logging.getLogger(__name__)


def cpu_seconds() -> float:
    """This process's CPU time and that of its finished children (the job workers)."""
    own, children = (resource.getrusage(who) for who in (resource.RUSAGE_SELF,
                                                          resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def measure(params: CapacityParams, precisions: list[str], root: Path) -> dict:
    check_request(params, precisions)
    write_datasets(params, root)
    cost = {}
    for precision in precisions:
        start, began = cpu_seconds(), time.time()
        todo = [job for job in table1_jobs(params, precision, root) if not job.is_done()]
        run_jobs(todo, params.runtime.workers, params.runtime.threads_per_worker,
                 f"table1 {precision}")
        cost[precision] = {"runs_trained": len(todo),
                           "cpu_seconds": round(cpu_seconds() - start, 1),
                           "wall_seconds": round(time.time() - began, 1)}
    return write_table1(params, precisions, cost, root)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--precisions", default=",".join(PRECISIONS),
                        help="comma-separated: fp32, bf16 (default both)")
    parser.add_argument("--root", type=Path, default=Path("."))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    load_params(args.root / PARAMS_FILE)  # the whole file, checks across groups included
    params = load(CapacityParams, args.root / PARAMS_FILE)
    metrics = measure(params, [p for p in args.precisions.split(",") if p], args.root)
    for name, row in metrics.items():
        if isinstance(row, dict) and "params" in row:
            log.info("%s: %s", name, row)


if __name__ == "__main__":
    from pipeline.runtime.cli import exit_on_user_error

    exit_on_user_error(main)
