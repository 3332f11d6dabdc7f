"""``gpu``: one command that measures, on a CUDA machine in at most 8 minutes, what the papers'
scale needs of the GPU path; it prints the results and writes them as JSON.

    python -m pipeline.benchmark gpu                         # data/benchmark/gpu.json
    python -m pipeline.benchmark gpu --out "$OUT/gpu.json"   # on a lent GPU machine

Its sections, in order (:mod:`pipeline.benchmark.measure` measures the training ones):

* ``environment``: torch, CUDA, the device, bf16 support, which packages are installed;
* ``tracks``: every stage of every track on tiny params on the device, precision auto
  (:mod:`pipeline.benchmark.tracks`, in a child process: a CUDA error cannot poison the
  measurements, and a hang is cut off), so a crash anywhere on the GPU path shows up;
* ``capacity``: Table 1's 1×32 on N ≈ 2× its capacity for a fixed budget, bf16 and fp32;
* ``throughput``: the project's trainer against a plain ``GPT2LMHeadModel`` loop;
* ``stacked``: 16 same-shape models as one stack against one after another;
* ``shapes``: a step of each of Table 1's 16 shapes at the paper preset's batch, one model
  and a stack;
* ``compile``: whether ``runtime.compile`` helps, for one model and for a stack;
* ``cost``: Table 1's full grid in GPU hours from the measured step times, with and without
  stacking and early stopping (:mod:`pipeline.benchmark.grid_cost`).

Each section is recorded as ok; failed (its error and traceback; the others go on and the
command exits 1); or skipped, naming why: a package this machine lacks (the GPU image has
torch and transformers; the trainer also needs pydantic and polars, the tracks and the cost
every dependency of the project, which travel as wheels), or too little of ``--minutes``
left for it. The JSON is rewritten after every section: a run cut short keeps what it did.

Without CUDA the same sections run on tiny shapes (``--scale tiny``, the default there), in
well under a minute; ``tests/benchmark/test_gpu.py`` runs them so that the command cannot rot.
``--device cuda`` where there is no CUDA stops in one line, before any work.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from pipeline.benchmark.report import write_report
from pipeline.benchmark.scales import SCALES, SECTIONS, Scale
from pipeline.core.device import device_available, resolve_device
from pipeline.core.errors import ConfigError

PROJECT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = Path("data/benchmark/gpu.json")
PACKAGES = ("transformers", "numpy", "safetensors", "pyyaml", "pydantic", "polars", "pyarrow",
            "scipy", "scikit-learn", "statsmodels", "matplotlib", "jinja2", "datasketch",
            "tokenizers", "dvc", "prefect")
# What to do about a missing package, by section (docs/gpu.md: what travels to a GPU image).
WHEELS = "; scripts/gpu_wheels.sh downloads the wheels to carry (docs/gpu.md)"
HINTS = {name: WHEELS for name in ("capacity", "throughput", "stacked", "shapes", "compile")}
HINTS["tracks"] = ("; scripts/gpu_wheels.sh --with-polars downloads polars; the tracks also "
                   "need the project's scientific packages (docs/gpu.md)")
HINTS["cost"] = ("; where the project is installed, `python -m pipeline.benchmark cost "
                 "<this JSON> --update` computes it from the measured step times")


class Skipped(Exception):
    """A section that cannot run here, with the reason."""


@dataclass
class Run:
    scale: Scale
    device: str
    workdir: Path
    deadline: float
    tracks: str | None = None
    stop_steps: int | None = None
    report: dict = field(default_factory=dict)

    def left(self) -> float:
        return self.deadline - time.perf_counter()


def device_from_flag(flag: str) -> str:
    """``--device``'s device; one that this machine lacks is a one-line error, now."""
    if flag != "auto" and not device_available(flag):
        raise ConfigError(f"--device {flag}: torch {torch.__version__} sees no {flag} device "
                          "on this machine; use --device auto or cpu")
    return resolve_device(flag)


# --- sections ---------------------------------------------------------------------------


def environment(run: Run) -> dict:
    info = {"python": platform.python_version(), "platform": platform.platform(),
            "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "cuda": torch.version.cuda, "device": run.device,
            "packages": {name: _version(name) for name in PACKAGES}}
    if run.device == "cuda":
        props = torch.cuda.get_device_properties(0)
        info |= {"device_name": props.name, "capability": f"{props.major}.{props.minor}",
                 "device_memory_bytes": props.total_memory,
                 "multiprocessors": props.multi_processor_count,
                 "device_count": torch.cuda.device_count(),
                 "bf16_supported": torch.cuda.is_bf16_supported(),
                 "cudnn": torch.backends.cudnn.version(),
                 "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
                 "float32_matmul_precision": torch.get_float32_matmul_precision()}
    else:
        info |= {"device_name": f"CPU ({platform.processor() or platform.machine()})",
                 "cpu_capability": torch.backends.cpu.get_cpu_capability()}
    return info


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def tracks(run: Run) -> dict:
    """The tracks' stages in a child process, cut off at the scale's timeout."""
    out, log = run.workdir / "tracks.json", run.workdir / "tracks.log"
    command = [sys.executable, "-m", "pipeline.benchmark", "tracks", "--device", run.device,
               "--out", str(out)] + (["--tracks", run.tracks] if run.tracks else [])
    timeout = max(10.0, min(run.scale.tracks_timeout, run.left()))
    with log.open("w") as handle:
        try:
            code = subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT,
                                  cwd=PROJECT, timeout=timeout).returncode
        except subprocess.TimeoutExpired:
            code = None
    result = json.loads(out.read_text()) if out.is_file() else {"stages": []}
    if "skipped" in result:
        raise Skipped(result["skipped"] + HINTS["tracks"])
    problems = [f"{s['stage']}: {s['error']}" for s in result["stages"]
                if s["status"] == "failed"]
    elsewhere = [kind for kind in result.get("trained_models", {})
                 if not kind.startswith((run.device, "untrained"))]
    if elsewhere:
        problems.append(f"models trained in {elsewhere}, not on {run.device}")
    if code is None:
        problems.append(f"cut off after {timeout:.0f} s (the stages done are listed)")
    elif code and not problems:
        problems.append(f"the child process exited with status {code}")
    result["exit_code"] = code
    if problems:
        result["problems"] = problems
        result["log_tail"] = log.read_text()[-4000:]
    return result


def _measured(name: str) -> Callable[[Run], dict]:
    def section(run: Run) -> dict:
        from pipeline.benchmark import measure

        workdir = run.workdir / name
        workdir.mkdir(parents=True, exist_ok=True)
        return getattr(measure, name)(run.scale, run.device, workdir)

    return section


def cost(run: Run) -> dict:
    shapes = run.report["sections"].get("shapes", {})
    if shapes.get("status") != "ok":
        raise Skipped(f"the shapes section did not run ({shapes.get('status', 'not asked')})")
    from pipeline.benchmark.grid_cost import grid_cost

    env = run.report["sections"].get("environment", {}).get("result", {})
    return grid_cost(shapes["result"], env.get("device_name"), env.get("device_memory_bytes"),
                     run.stop_steps, PROJECT / "params.yaml")


RUNNERS: dict[str, Callable[[Run], dict]] = {
    "environment": environment, "tracks": tracks, "capacity": _measured("capacity"),
    "throughput": _measured("throughput"), "stacked": _measured("stacked"),
    "shapes": _measured("shapes"), "compile": _measured("compile_check"), "cost": cost,
}


def run_section(name: str, run: Run) -> dict:
    """One section's entry: status, seconds, and its result, error or reason."""
    estimate = run.scale.estimate[name]
    if run.left() < estimate:
        return {"status": "skipped", "seconds": 0.0,
                "reason": f"about {estimate:.0f} s needed, {max(0.0, run.left()):.0f} s left "
                          "of --minutes"}
    started = time.perf_counter()
    try:
        result = RUNNERS[name](run)
    except Skipped as reason:
        entry = {"status": "skipped", "reason": str(reason)}
    except ModuleNotFoundError as error:
        if (error.name or "").startswith("pipeline"):
            raise  # the project's own module: a bug, not a missing package
        entry = {"status": "skipped", "reason": f"needs the package {error.name!r}, not "
                                                f"installed here{HINTS.get(name, '')}"}
    except Exception as error:  # recorded; the other sections go on
        entry = {"status": "failed",
                 "error": f"{type(error).__name__}: {error}".splitlines()[0][:500],
                 "traceback": traceback.format_exc()[-4000:]}
        if run.device == "cuda":
            torch.cuda.empty_cache()
    else:
        entry = {"status": "failed" if result.get("problems") else "ok", "result": result}
    entry["seconds"] = round(time.perf_counter() - started, 2)
    return entry


# --- printing ---------------------------------------------------------------------------


def _rate(value: float) -> str:
    return f"{value:,.0f} tokens/s"


def _flops(value: float) -> str:
    return f"{value / 1e12:,.1f} TFLOP/s" if value >= 1e12 else f"{value / 1e9:,.2f} GFLOP/s"


def _environment_lines(r: dict) -> list[str]:
    missing = [name for name, version in r["packages"].items() if version is None]
    return [f"{r['device_name']}, torch {r['torch']} (CUDA {r['cuda']}), bf16 supported: "
            f"{r.get('bf16_supported', '(CPU autocast)')}; packages missing: "
            f"{', '.join(missing) or 'none'}"]


def _tracks_lines(r: dict) -> list[str]:
    counts: dict[str, int] = {}
    for stage in r["stages"]:
        counts[stage["status"]] = counts.get(stage["status"], 0) + 1
    return [f"stages: {counts}; models trained (device precision): "
            f"{r.get('trained_models', {})}", *r.get("problems", [])]


def _capacity_lines(r: dict) -> list[str]:
    return [f"{r['shape']} ({r['heads']} heads), N = {r['n_sequences']}, {precision}: "
            f"{run['bits_per_param']:.2f} bits/param after {run['steps']:,} steps in "
            f"{r['budget_seconds']:g} s, {_rate(run['tokens_per_second'])}"
            for precision, run in r["runs"].items()]


def _throughput_lines(r: dict) -> list[str]:
    rates = r["tokens_per_second"]
    return [*(f"{name}: {_rate(value)}" for name, value in rates.items()),
            f"trainer / plain: {r['trainer_over_plain']['fp32']:.2f}× fp32, "
            f"{r['trainer_over_plain']['bf16']:.2f}× bf16; head in one chunk / chunks of "
            f"{r['chunk_rows']}: {r['one_chunk_over_chunked']:.2f}×"]


def _stacked_lines(r: dict) -> list[str]:
    return [f"{r['models']} × {r['shape']} ({r['precision']}, batch {r['batch']}): one after "
            f"another {_rate(r['one_after_another']['tokens_per_second'])}, stacked "
            f"{_rate(r['stacked']['tokens_per_second'])}: {r['speedup']:.2f}×"]


def _shapes_lines(r: dict) -> list[str]:
    lines = []
    for row in r["shapes"]:
        single, stack = row.get("single"), row.get("stacked")
        text = f"{row['shape']}: " + (f"{_rate(single['tokens_per_second'])}, "
                                      f"{_flops(row['achieved_flops'])}"
                                      if single else "out of memory")
        if single and stack:
            text += (f"; {stack['models']} stacked {_rate(stack['tokens_per_second'])} "
                     f"({stack['tokens_per_second'] / single['tokens_per_second']:.2f}×)")
        lines.append(text)
    return lines + r["warnings"]


def _compile_lines(r: dict) -> list[str]:
    lines = []
    for kind in ("single", "stacked"):
        runs = r[kind]
        label = "one model" if kind == "single" else f"{runs['models']} stacked"
        if "speedup" not in runs:
            lines.append(f"{label} (backend {r['backend']}): {runs['error']}")
            continue
        lines.append(f"{label} (backend {r['backend']}): eager "
                     f"{_rate(runs['eager']['tokens_per_second'])}, compiled "
                     f"{_rate(runs['compiled']['tokens_per_second'])} "
                     f"({runs['speedup']:.2f}×; {runs['compiled']['startup_seconds']:.1f} s to "
                     "compile and warm up)")
    return lines


def _cost_lines(r: dict) -> list[str]:
    from pipeline.benchmark.grid_cost import render

    return render(r).splitlines()


LINES = {"environment": _environment_lines, "tracks": _tracks_lines,
         "capacity": _capacity_lines, "throughput": _throughput_lines,
         "stacked": _stacked_lines, "shapes": _shapes_lines, "compile": _compile_lines,
         "cost": _cost_lines}


def describe(name: str, entry: dict) -> str:
    head = f"[{name}] {entry['status']} ({entry['seconds']:.1f} s)"
    if entry["status"] == "skipped":
        return f"{head}: {entry['reason']}"
    if "error" in entry:
        return f"{head}: {entry['error']}"
    try:
        lines = LINES[name](entry["result"])
    except Exception as error:  # the JSON is written already; printing must not stop the run
        lines = [f"(no summary: {type(error).__name__}: {error}; see the JSON)"]
    return "\n".join([head, *(f"  {line}" for line in lines)])


# --- the command ------------------------------------------------------------------------


def add_parser(sub) -> None:
    cmd = sub.add_parser("gpu", help="the GPU path checked and measured in one command (JSON)")
    cmd.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                     help="auto: CUDA where there is one")
    cmd.add_argument("--scale", choices=["auto", *SCALES], default="auto",
                     help="auto: full on CUDA, tiny elsewhere")
    cmd.add_argument("--minutes", type=float, default=8.0,
                     help="time limit: a section that would overrun it is skipped")
    cmd.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the JSON report")
    cmd.add_argument("--sections", default=",".join(SECTIONS),
                     help=f"comma-separated, from {', '.join(SECTIONS)}")
    cmd.add_argument("--tracks", default=None,
                     help="tracks section: only these tracks (comma-separated; default all)")
    cmd.add_argument("--stop-steps", type=int, default=None,
                     help="cost: steps of a run that stops early (default: its first "
                          "evaluation point, the best case)")


def run(args: argparse.Namespace) -> None:
    device = device_from_flag(args.device)
    scale = SCALES["full" if device == "cuda" else "tiny"] if args.scale == "auto" \
        else SCALES[args.scale]
    chosen = [name.strip() for name in args.sections.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(SECTIONS))
    if unknown:
        raise SystemExit(f"--sections: no section {unknown}; sections: {', '.join(SECTIONS)}")
    started = time.perf_counter()
    report = {"command": " ".join(["python -m pipeline.benchmark", *args.argv]),
              "scale": scale.name, "device": device, "minutes": args.minutes,
              "started": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
              "sections": {}}
    print(f"gpu benchmark: {scale.name} scale on {device}, at most {args.minutes:g} minutes; "
          f"sections: {', '.join(n for n in SECTIONS if n in chosen)}", flush=True)
    with tempfile.TemporaryDirectory(prefix="gpu-benchmark-") as tmp:
        state = Run(scale, device, Path(tmp), started + 60 * args.minutes, args.tracks,
                    args.stop_steps, report)
        for name in SECTIONS:
            if name not in chosen:
                continue
            entry = run_section(name, state)
            report["sections"][name] = entry
            report["seconds"] = round(time.perf_counter() - started, 1)
            write_report(report, args.out)
            print(describe(name, entry), flush=True)
    statuses = {name: entry["status"] for name, entry in report["sections"].items()}
    print(f"\n{report['seconds']:.0f} s; " + ", ".join(f"{n}: {s}" for n, s in statuses.items())
          + f"\nwrote {args.out}")
    if "failed" in statuses.values():
        raise SystemExit(1)
