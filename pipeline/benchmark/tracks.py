"""``tracks``: every stage of every track run once on the tests' tiny parameters, in a
temporary project, on the device asked for, so that a crash anywhere on that device's path
shows up within a minute or two.

    python -m pipeline.benchmark tracks --device cuda [--tracks text,profiles] [--out FILE]

The stages run through the registry as ``dvc repro`` runs them
(:func:`pipeline.runtime.stage.run_stage`), in ``dvc.yaml``'s order, with ``runtime.device``
as asked, ``runtime.precision: auto`` and, on CUDA, each track's own ``precision`` as the
paper preset sets it. With ``--tracks``, the stages of those tracks and of the tracks whose
artifacts they read. A stage that fails is recorded with its error; the stages that read what
it wrote (or what a stage skipped for it would have written) are skipped, the others go on.

The parameters are ``TINY_PARAMS`` of ``tests/conftest.py``, read as a literal: that module
imports pytest, which a GPU image need not have. Every trained model's ``training.json`` names
the device and precision it was trained in; the result counts them, so a run that fell back to
the CPU cannot pass for a GPU one.
"""

from __future__ import annotations

import argparse
import ast
import collections
import copy
import json
import shutil
import tempfile
import time
import traceback
from pathlib import Path

import yaml

from pipeline.benchmark.report import write_report

PROJECT = Path(__file__).resolve().parents[2]
CONFTEST = PROJECT / "tests" / "conftest.py"


def tiny_params(path: Path = CONFTEST) -> dict:
    """``TINY_PARAMS`` of ``path``, evaluated as a literal without importing the module."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not found (the tiny parameters are defined there)")
    for node in ast.parse(path.read_text()).body:
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target",
                                                                             None)]
        if any(isinstance(t, ast.Name) and t.id == "TINY_PARAMS" for t in targets):
            return ast.literal_eval(node.value)
    raise ValueError(f"{path}: defines no TINY_PARAMS literal")


def smoke_params(device: str) -> dict:
    """The tiny parameters on ``device``, precision auto; on CUDA each track's own precision
    as the paper preset sets it (the profiles track scores in fp16 there)."""
    params = copy.deepcopy(tiny_params())
    params["runtime"] = {**params.get("runtime", {}), "device": device, "precision": "auto"}
    if device == "cuda":
        from pipeline.presets import PRESETS

        for group, values in PRESETS["paper"].items():
            if group in params and isinstance(values, dict) and "precision" in values:
                params[group]["precision"] = values["precision"]
    return params


def _overlap(a: Path, b: Path) -> bool:
    return a == b or a in b.parents or b in a.parents


def writes_for(stage, producer) -> bool:
    """Does ``stage`` read something ``producer`` writes?"""
    return any(_overlap(out.path, dep) for dep in stage.deps for out in producer.outs)


def owners() -> dict[str, str]:
    """Each stage's track (``pipeline`` for the stage that validates the whole file)."""
    from pipeline.tracks import registry

    return {stage.name: track.name for track in registry() for stage in track.stages}


def select(stages: list, tracks: set[str] | None) -> list:
    """The stages of ``tracks`` (all: None) and, transitively, those whose outputs they
    read; the stage validating params.yaml always."""
    if not tracks:
        return stages
    owner = owners()
    unknown = tracks - set(owner.values())
    if unknown:
        raise ValueError(f"--tracks: no track {sorted(unknown)}; tracks: "
                         f"{sorted(set(owner.values()))}")
    chosen = [s for s in stages if owner.get(s.name, "pipeline") in tracks | {"pipeline"}]
    while True:
        needed = [s for s in stages if s not in chosen
                  and any(writes_for(c, s) for c in chosen)]
        if not needed:
            return [s for s in stages if s in chosen]
        chosen += needed


def trained_models(root: Path) -> dict[str, int]:
    """How many models were trained in each device and precision (``training.json``; a
    model saved as initialized, a budget of 0 steps, counts apart)."""
    counts = collections.Counter()
    for path in sorted((root / "data").rglob("training.json")):
        summary = json.loads(path.read_text())
        counts["untrained (0 steps)" if summary.get("steps") == 0 else
               f"{summary.get('device')} {summary.get('precision')}"] += 1
    return dict(counts)


def run_stages(stages: list, root: Path, report: dict, out: Path | None) -> None:
    """Run ``stages`` in order into ``report['stages']``, written after each one."""
    from pipeline.runtime.stage import run_stage

    owner, broken = owners(), []
    for stage in stages:
        record = {"stage": stage.name, "track": owner.get(stage.name, "pipeline")}
        blocked = [b.name for b in broken if writes_for(stage, b)]
        started = time.perf_counter()
        if blocked:
            record |= {"status": "skipped", "reason": f"reads what {blocked} write"}
            broken.append(stage)
        else:
            try:
                run_stage(stage, root)
                record["status"] = "ok"
            except Exception as error:  # recorded; the stages that do not need it go on
                record |= {"status": "failed",
                           "error": f"{type(error).__name__}: {error}".splitlines()[0][:500],
                           "traceback": traceback.format_exc()[-3000:]}
                broken.append(stage)
        record["seconds"] = round(time.perf_counter() - started, 2)
        print(f"tracks: {stage.name}: {record['status']} ({record['seconds']} s)"
              + (f": {record.get('error') or record.get('reason')}"
                 if record["status"] != "ok" else ""), flush=True)
        report["stages"].append(record)
        report["trained_models"] = trained_models(root)
        write_report(report, out)


def smoke(device: str, tracks: set[str] | None, out: Path | None,
          root: Path | None = None) -> dict:
    """Every selected stage on tiny params in a temporary project (kept if ``root`` is
    given); returns the report, also written to ``out`` after every stage."""
    report: dict = {"device": device, "tracks": sorted(tracks) if tracks else "all",
                    "stages": []}
    try:
        from pipeline.dvcfile import all_stages

        params = smoke_params(device)
        stages = select(list(all_stages()), tracks)
    except ModuleNotFoundError as error:
        report["skipped"] = f"needs the package {error.name!r}, not installed here"
        write_report(report, out)
        return report
    report["settings"] = {"runtime": params["runtime"]} | {
        group: {"precision": values["precision"]} for group, values in params.items()
        if isinstance(values, dict) and "precision" in values and group != "runtime"}
    keep = root is not None
    root = root or Path(tempfile.mkdtemp(prefix="tracks-"))
    try:
        (root / "pipeline").mkdir(parents=True, exist_ok=True)
        shutil.copytree(PROJECT / "pipeline" / "reference", root / "pipeline" / "reference",
                        dirs_exist_ok=True)  # the papers' numbers: stage deps
        (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        run_stages(stages, root, report, out)
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)
    return report


def add_parser(sub) -> None:
    cmd = sub.add_parser("tracks", help="every stage on tiny params, on a device")
    cmd.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"], default="auto")
    cmd.add_argument("--tracks", default=None,
                     help="comma-separated track names (default: every track)")
    cmd.add_argument("--out", type=Path, default=None, help="JSON report")
    cmd.add_argument("--root", type=Path, default=None,
                     help="project folder to run in, kept (default: a temporary one)")


def run(args: argparse.Namespace) -> None:
    from pipeline.benchmark.gpu import device_from_flag

    device = device_from_flag(args.device)
    tracks = set(args.tracks.split(",")) if args.tracks else None
    report = smoke(device, tracks, args.out, args.root)
    if "skipped" in report:
        print(f"tracks: skipped: {report['skipped']}")
        return
    failed = [r["stage"] for r in report["stages"] if r["status"] == "failed"]
    print(f"tracks on {device}: {len(report['stages'])} stages, failed: {failed or 'none'}; "
          f"models trained (device precision): {report.get('trained_models', {})}")
    if failed:
        raise SystemExit(1)
