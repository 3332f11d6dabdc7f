"""The cost of a parameter set before anything runs: per track, the models to train, the
tokens and FLOPs, and the hours on this machine and on named GPUs.

    python -m pipeline.plan                  # params.yaml
    python -m pipeline.plan --preset paper   # the papers' scale, params.yaml untouched

It covers every track (each declares its own plan, :mod:`pipeline.core.track`). This machine's
rate comes from a few seconds of timed training (``--no-calibrate`` skips it); a GPU's is its
dense bf16 peak times an assumed utilization (``--gpu-utilization``, 20% by default: models
this small leave most of a GPU idle). Counts are upper bounds (every step taken; early
stopping only shortens a run) and leave out evaluation and scoring.
"""

from __future__ import annotations

import argparse
import copy
from pathlib import Path

from pipeline.core.config import read_yaml
from pipeline.core.cost import PlannedRuns, measure_flops_per_second
from pipeline.params import PARAMS_FILE, Params, parse_params
from pipeline.presets import PRESETS, merge
from pipeline.tracks import registry

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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--params", default=PARAMS_FILE)
    parser.add_argument("--preset", choices=sorted(PRESETS))
    parser.add_argument("--no-calibrate", action="store_true",
                        help="skip timing this machine (GPU estimates only)")
    parser.add_argument("--gpu-utilization", type=float, default=0.2)
    args = parser.parse_args(argv)
    params = load(args.params, args.preset)
    runtime = params.runtime
    cpu = None if args.no_calibrate else measure_flops_per_second(
        threads=runtime.threads_per_worker)
    print(render(plan(params), cpu, runtime.workers, args.gpu_utilization))


if __name__ == "__main__":
    from pipeline.runtime.cli import exit_on_user_error

    exit_on_user_error(main)
