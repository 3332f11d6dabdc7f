"""The benchmarks' JSON reports: written atomically (a killed run leaves the last complete
version), strict JSON, with any number that is not finite written as null and its key listed
under ``non_finite`` rather than passed off as a value. Standard library only: the ``gpu``
benchmark writes its report on machines that lack the project's other dependencies."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path


def finite(value, where: str = "", bad: list[str] | None = None):
    """``value`` with every non-finite float replaced by None (its key appended to ``bad``)."""
    if isinstance(value, float) and not math.isfinite(value):
        if bad is not None:
            bad.append(where or "(top level)")
        return None
    if isinstance(value, dict):
        return {k: finite(v, f"{where}.{k}" if where else str(k), bad) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v, f"{where}[{i}]", bad) for i, v in enumerate(value)]
    return value


def write_report(report: dict, path: Path | None) -> None:
    if path is None:
        return
    bad: list[str] = []
    content = finite(report, bad=bad)
    if bad:
        content["non_finite"] = bad
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(content, indent=2, allow_nan=False) + "\n")
    os.replace(tmp, path)
