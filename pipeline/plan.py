"""The cost of a parameter set before anything runs: per track, the models to train, the
tokens and FLOPs, and the hours on this machine and on named GPUs.

    python -m pipeline.plan                  # params.yaml
    python -m pipeline.plan --preset paper   # the papers' scale, params.yaml untouched
    python -m pipeline.plan --cluster slurm  # and the batch jobs the flow would submit

It covers every track (each declares its own plan, :mod:`pipeline.core.track`). This machine's
rate comes from a few seconds of timed training (``--no-calibrate`` skips it); a GPU's is its
dense bf16 peak times an assumed utilization (``--gpu-utilization``, 20% by default: models
this small leave most of a GPU idle). Counts are upper bounds (every step taken; early
stopping only shortens a run) and leave out evaluation and scoring.
"""

from __future__ import annotations

import argparse
import copy
import math
from pathlib import Path

from pipeline.core.config import read_yaml
from pipeline.core.cost import PlannedRuns, measure_flops_per_second
from pipeline.params import PARAMS_FILE, Params, parse_params
from pipeline.presets import PRESETS, merge
from pipeline.runtime import cluster as batch
from pipeline.tracks import registry

# What the flow exports to its workers (pipeline.flows.runners), as the plan shows it.
WORKER_ENV = {"PREFECT_API_URL": "<the flow's PREFECT_API_URL>",
              "PREFECT_LOGGING_EXTRA_LOGGERS": "pipeline,stages"}
# Dense bf16 tensor-core peaks, FLOP/s (vendor data sheets).
GPU_PEAK_FLOPS = {"A100": 312e12, "H100": 989e12, "L4": 121e12}


def plan(params) -> list[PlannedRuns]:
    """Every track's planned runs, in track order."""
    return [group for track in registry() if track.plan for group in track.plan(params)]


def load(path: str | Path, preset: str | None) -> Params:
    raw = read_yaml(path)
    source = str(path)
    if preset is not None:
        raw = merge(copy.deepcopy(raw), PRESETS[preset])
        source = f"{path} with preset {preset!r}"
    return parse_params(raw, source)


def hours(flops: float, flops_per_second: float) -> float:
    return flops / flops_per_second / 3600


def render(groups: list[PlannedRuns], cpu_flops: float | None, workers: int,
           utilization: float) -> str:
    """The plan as a Markdown table, then per-track and overall totals."""
    gpus = list(GPU_PEAK_FLOPS)
    header = ["track", "what", "shape", "runs", "tokens", "PFLOP",
              *(["hours here"] if cpu_flops else []), *[f"{g} hours" for g in gpus]]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]

    def row(cells: list[str], flops: float) -> str:
        machine = [f"{hours(flops, cpu_flops * workers):,.3g}"] if cpu_flops else []
        per_gpu = [f"{hours(flops, GPU_PEAK_FLOPS[g] * utilization):,.3g}" for g in gpus]
        return "| " + " | ".join([*cells, f"{flops / 1e15:,.3g}", *machine, *per_gpu]) + " |"

    for group in groups:
        lines.append(row([group.track, group.what, group.shape, f"{group.runs:,}",
                          f"{group.tokens:,}"], group.flops))
    for track in dict.fromkeys(g.track for g in groups):
        mine = [g for g in groups if g.track == track]
        lines.append(row([f"**{track}**", "total", "", f"{sum(g.runs for g in mine):,}",
                          f"{sum(g.tokens for g in mine):,}"], sum(g.flops for g in mine)))
    lines.append(row(["**all**", "total", "", f"{sum(g.runs for g in groups):,}",
                      f"{sum(g.tokens for g in groups):,}"], sum(g.flops for g in groups)))
    notes = [""]
    if cpu_flops:
        notes.append(f"This machine: {cpu_flops / 1e9:.1f} GFLOP/s of training per worker "
                     f"(measured just now on a 1×32 model), × {workers} workers.")
    notes.append(f"GPUs: dense bf16 peak × {utilization:.0%} assumed utilization, one model at "
                 "a time. Upper bounds: every step taken; evaluation and scoring left out.")
    return "\n".join(lines + notes)


def render_cluster(params: Params, groups: list[PlannedRuns], cpu_flops: float | None,
                   utilization: float, root: Path) -> str:
    """What `python -m pipeline.flows run` would submit on ``runtime.cluster``: the number of
    batch jobs and their hours, and the batch script each runs."""
    runtime = params.runtime
    cluster = runtime.cluster
    runs = sum(g.runs for g in groups)
    flops = sum(g.flops for g in groups)
    per_job = batch.processes_per_job(runtime)
    gpus = batch.gpus_per_job(runtime)
    at_once = batch.batch_jobs_for(runtime, runs)
    walltime = batch.walltime_hours(cluster.walltime)
    if gpus:
        rate, on = GPU_PEAK_FLOPS["H100"] * utilization * per_job, f"H100 at {utilization:.0%}"
    elif cpu_flops:
        rate, on = cpu_flops * per_job, "this machine's per-core rate"
    else:
        rate, on = None, ""
    lines = ["", f"## On {cluster.kind} (runtime.cluster)", ""]
    queue = f", partition/queue {cluster.queue}" if cluster.queue else ""
    lines.append(f"{runs:,} training runs, {per_job} at a time in each batch job "
                 f"({cluster.cores} core(s), {cluster.memory}, {gpus} GPU(s), walltime "
                 f"{cluster.walltime}{queue}"
                 f"); at most {at_once} batch job(s) at once (runtime.cluster.max_jobs "
                 f"{cluster.max_jobs}).")
    if rate:
        busy = flops / rate / 3600  # batch-job hours of training, if the runs split evenly
        jobs = max(at_once, math.ceil(busy / walltime)) if runs else 0
        lines.append(f"Training alone: {busy:,.3g} batch-job hours ({on}); the flow submits "
                     f"about {jobs:,} batch job(s), at most {jobs * walltime:,.3g} hours "
                     f"booked ({jobs * walltime * cluster.cores:,.3g} core-hours"
                     + (f", {jobs * walltime * gpus:,.3g} GPU-hours" if gpus else "")
                     + f"); about {busy / max(at_once, 1):,.3g} hours of wall time.")
        if busy / max(at_once, 1) > walltime:
            lines.append("A batch job cut off by its walltime is replaced by a new one; its "
                         "training runs resume from their last checkpoint.")
    lines += ["", "Each batch job runs (the flow fills in its scheduler's address):", "",
              "```sh", batch.batch_script(runtime, root, WORKER_ENV).rstrip(), "```"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--params", default=PARAMS_FILE)
    parser.add_argument("--preset", choices=sorted(PRESETS))
    parser.add_argument("--no-calibrate", action="store_true",
                        help="skip timing this machine (GPU estimates only)")
    parser.add_argument("--gpu-utilization", type=float, default=0.2)
    parser.add_argument("--cluster", choices=batch.BATCH_KINDS,
                        help="show the batch jobs on this kind (default: runtime.cluster.kind "
                             "when it is one)")
    args = parser.parse_args(argv)
    params = load(args.params, args.preset)
    if args.cluster:
        cluster = params.runtime.cluster.model_copy(update={"kind": args.cluster})
        params = params.model_copy(update={"runtime": params.runtime.model_copy(
            update={"cluster": cluster})})
    runtime = params.runtime
    cpu = None if args.no_calibrate else measure_flops_per_second(
        threads=runtime.threads_per_worker)
    groups = plan(params)
    print(render(groups, cpu, runtime.workers, args.gpu_utilization))
    if batch.is_batch(runtime):
        root = Path(args.params).resolve().parent
        print(render_cluster(params, groups, cpu, args.gpu_utilization, root))


if __name__ == "__main__":
    from pipeline.runtime.cli import exit_on_user_error

    exit_on_user_error(main)
