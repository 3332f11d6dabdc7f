"""What Table 1's full grid (the capacity track's ``paper`` preset, as ``python -m pipeline.plan
--preset paper`` plans it) would cost on the GPU that the ``gpu`` benchmark ran on, from the
step times it measured, with and without stacking and early stopping.

    python -m pipeline.benchmark cost data/benchmark/gpu.json [--stop-steps N] [--update]

The formula. The preset trains each shape s on each (N, seed) for T steps at batch
B_N = min(B, N). The benchmark measured, per shape, the seconds of a training step at batch
B_m (the preset's B): t₁(s) for one model, t_K(s) for a stack of K models. Then

    hours = Σ_s Σ_(N, seed) steps(N, s) · t(s) · g(B_N / B_m) / 3600

* t = t₁(s) one model at a time; t = t_K(s) / K stacked (a member's share of a stack step;
  the grid's stacks are its runs of one shape and one batch, :func:`pipeline.core.trainer.
  stack_key`: the 5 seeds of an N below B, all N ≥ B together).
* steps(N, s) = T without early stopping. With it, a run whose dataset the shape can hold
  (N · H ≤ C(s): H the bits of a sequence, C(s) the paper's measured capacity of s, Table 1)
  stops at an evaluation point, at the earliest the first after step 0, T / (eval_points − 1)
  steps (``--stop-steps``: a measured count instead); the other runs take all T steps.
* g brackets how a step's time follows its batch: g(x) = x (time ∝ tokens: a compute-bound
  step, the lower bound) and g(x) = max(1, x) (a smaller batch is no faster: a launch-bound
  step, the upper bound).

A shape the benchmark did not measure (the CPU's tiny scale measures none of the grid's)
takes the FLOP/s that the measured shape nearest in FLOPs per token reached; the result names
each shape's source. Evaluation, scoring and checkpoints are left out, as in the plan.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
from pathlib import Path

from pipeline.benchmark.report import write_report

PROJECT = Path(__file__).resolve().parents[2]
PAPER_TABLE1 = PROJECT / "pipeline" / "reference" / "morris2025_table1_capacity.csv"
PLAN_UTILIZATION = 0.2  # what `python -m pipeline.plan` assumes (its --gpu-utilization)


def paper_capacities(precision: str) -> dict[tuple[int, int], float]:
    """Table 1's measured capacity in bits, by (layers, width)."""
    with PAPER_TABLE1.open() as handle:
        return {(int(row["n_layer"]), int(row["d_model"])): float(row[f"capacity_bits_{precision}"])
                for row in csv.DictReader(handle)}


def step_time(measured: list[dict], n_layer: int, d_model: int, flops_per_token: float) -> dict:
    """Seconds per step of one model and per member of a stack for a shape, measured or
    taken from the nearest measured shape's FLOP/s."""
    usable = [row for row in measured if row.get("single")]
    if not usable:
        raise ValueError("no shape was measured: the shapes section holds no step time")
    exact = [row for row in usable if (row["n_layer"], row["d_model"]) == (n_layer, d_model)]
    row = exact[0] if exact else min(usable, key=lambda r: abs(math.log(
        r["flops_per_token"] / flops_per_token)))
    scale = 1.0 if exact else flops_per_token / row["flops_per_token"]
    single = row["single"]["seconds_per_step"] * scale
    stack = row.get("stacked")
    member = stack["seconds_per_step"] / stack["models"] * scale if stack else None
    return {"single": single, "member": member, "batch": row["batch"],
            "stack_memory_bytes": stack.get("peak_memory_bytes") if stack else None,
            "stack_models": stack["models"] if stack else None,
            "source": "measured" if exact else f"{row['shape']}'s FLOP/s (not measured)"}


def _hours(seconds: list[float]) -> list[float]:
    return [s / 3600 for s in seconds]


def grid_cost(shapes: dict, device_name: str | None = None, device_memory: int | None = None,
              stop_steps: int | None = None, params_path: str | Path = "params.yaml") -> dict:
    """The grid's cost in GPU hours, [lower, upper] for each way of running it."""
    from pipeline.core.schedule import eval_steps
    from pipeline.plan import GPU_PEAK_FLOPS, load, plan

    params = load(params_path, "paper")
    capacity = params.capacity
    data, train = capacity.data, capacity.train
    scored = data.seq_len - (1 if capacity.score.first_token == "skip" else 0)
    bits_per_sequence = scored * math.log2(data.vocab_size)
    precision = "fp32" if params.runtime.precision == "fp32" else "bf16"
    paper = paper_capacities(precision)
    stop = stop_steps or eval_steps(train)[1]
    planned = [g for g in plan(params) if g.track == "capacity" and g.what == "grid"]
    peak = next((v for k, v in GPU_PEAK_FLOPS.items() if device_name and k in device_name),
                None)
    measured = shapes["shapes"]
    modes = {"one_at_a_time": {}, "stacked": {}}
    totals = {mode: {"all_steps": [0.0, 0.0], "early_stop": [0.0, 0.0]} for mode in modes}
    rows = []
    for model, group in zip(capacity.models, planned, strict=True):
        times = step_time(measured, model.n_layer, model.d_model, group.flops_per_token)
        member = times["member"] if times["member"] is not None else times["single"]
        held = paper.get((model.n_layer, model.d_model))
        runs = [(n, seed) for n in capacity.sizes_of(model) for seed in data.seeds]
        tokens = sum(train.steps * min(train.batch_size, n) * data.seq_len for n, _ in runs)
        if tokens != group.tokens:
            raise ValueError(f"{group.shape}: the cost counts {tokens:,} tokens, the plan "
                             f"{group.tokens:,}")
        row = {"shape": f"L{model.n_layer}-D{model.d_model}", "source": times["source"],
               "measured_batch": times["batch"], "seconds_per_step": times["single"],
               "seconds_per_stacked_member_step": times["member"],
               "stack_speedup": times["single"] / member,
               "paper_capacity_bits": held,
               "runs_stopping_early": sum(held is not None and n * bits_per_sequence <= held
                                          for n, _ in runs),
               "achieved_tflops": group.flops_per_token * times["batch"] * data.seq_len
               / times["single"] / 1e12}
        if peak:
            row["utilization"] = row["achieved_tflops"] * 1e12 / peak
        members_at_full_batch = sum(min(train.batch_size, n) == train.batch_size
                                    for n, _ in runs)
        row["largest_stack"] = members_at_full_batch
        if times["stack_memory_bytes"]:
            row["largest_stack_gib_estimate"] = (times["stack_memory_bytes"]
                                                 / times["stack_models"]
                                                 * members_at_full_batch / 2**30)
        row["hours"] = {}
        for mode, seconds in (("one_at_a_time", times["single"]), ("stacked", member)):
            row["hours"][mode] = {}
            for stopping in ("all_steps", "early_stop"):
                low = high = 0.0
                for n, _ in runs:
                    early = stopping == "early_stop" and held is not None \
                        and n * bits_per_sequence <= held
                    steps = min(train.steps, stop) if early else train.steps
                    ratio = min(train.batch_size, n) / times["batch"]
                    low += steps * seconds * ratio
                    high += steps * seconds * max(1.0, ratio)
                row["hours"][mode][stopping] = _hours([low, high])
                totals[mode][stopping][0] += low / 3600
                totals[mode][stopping][1] += high / 3600
        rows.append(row)
    flops = sum(g.flops for g in planned)
    result = {
        "preset": "paper", "device": device_name,
        "grid": {"shapes": len(capacity.models), "runs": sum(g.runs for g in planned),
                 "steps": train.steps, "batch": train.batch_size,
                 "eval_points": train.eval_points, "stop_steps": stop,
                 "stop_steps_source": "given by --stop-steps" if stop_steps else
                 "the first evaluation point: the best case",
                 "bits_per_sequence": bits_per_sequence, "capacity_column": precision,
                 "flops": flops},
        "hours": totals, "per_shape": rows,
    }
    if peak:
        result["plan_hours_at_assumed_utilization"] = flops / (peak * PLAN_UTILIZATION) / 3600
        result["plan_assumed_utilization"] = PLAN_UTILIZATION
    if device_memory:
        result["device_memory_gib"] = device_memory / 2**30
        result["stacks_over_memory"] = [
            r["shape"] for r in rows
            if r.get("largest_stack_gib_estimate", 0) > device_memory / 2**30]
    return result


def render(cost: dict) -> str:
    """The totals as a Markdown table, and what they assume."""
    def cell(pair: list[float]) -> str:
        return f"{pair[0]:,.3g}–{pair[1]:,.3g} h"

    hours = cost["hours"]
    grid = cost["grid"]
    lines = [f"Table 1's grid ({grid['shapes']} shapes, {grid['runs']} runs of "
             f"{grid['steps']:,} steps at batch ≤ {grid['batch']}) on {cost['device']}:",
             "| | all steps | early stopping |", "|---|---|---|"]
    for mode, label in (("one_at_a_time", "one model at a time"), ("stacked", "stacked")):
        lines.append(f"| {label} | {cell(hours[mode]['all_steps'])} | "
                     f"{cell(hours[mode]['early_stop'])} |")
    lines.append(f"Early stopping: a run whose dataset fits the paper's capacity stops after "
                 f"{grid['stop_steps']:,} steps ({grid['stop_steps_source']}). Ranges: time "
                 "proportional to the batch … a smaller batch no faster.")
    if "plan_hours_at_assumed_utilization" in cost:
        lines.append(f"The plan's estimate (bf16 peak × {cost['plan_assumed_utilization']:.0%},"
                     f" all steps, one at a time): {cost['plan_hours_at_assumed_utilization']:,.3g}"
                     " h.")
    unmeasured = [r["shape"] for r in cost["per_shape"] if r["source"] != "measured"]
    if unmeasured:
        lines.append(f"Not measured, scaled from a measured shape's FLOP/s: "
                     f"{', '.join(unmeasured)}.")
    if cost.get("stacks_over_memory"):
        lines.append("The largest stacks of " + ", ".join(cost["stacks_over_memory"])
                     + " would not fit the device's memory: set runtime.micro_batch_size.")
    return "\n".join(lines)


def add_parser(sub) -> None:
    cmd = sub.add_parser("cost", help="Table 1's grid's GPU hours from a gpu benchmark's JSON")
    cmd.add_argument("report", type=Path, help="the JSON that `gpu` wrote")
    cmd.add_argument("--stop-steps", type=int, default=None,
                     help="steps of a run that stops early (default: the first evaluation)")
    cmd.add_argument("--update", action="store_true", help="write the cost into the JSON")


def run(args: argparse.Namespace) -> None:
    report = json.loads(args.report.read_text())
    shapes = report.setdefault("sections", {}).get("shapes", {})
    if shapes.get("status") != "ok":
        raise SystemExit(f"{args.report}: its shapes section did not run "
                         f"({shapes.get('status', 'absent')}); nothing to cost")
    environment = report["sections"].get("environment", {}).get("result", {})
    cost = grid_cost(shapes["result"], environment.get("device_name"),
                     environment.get("device_memory_bytes"), args.stop_steps)
    print(render(cost))
    if args.update:
        report["sections"]["cost"] = {"status": "ok", "result": cost}
        write_report(report, args.report)
