"""The whole ``params.yaml``: one group per track plus ``runtime``, validated before any work.

This module sits above the tracks (it is the only place that knows them all); the core never
imports it. The ``validate_params`` stage, which every other stage waits for, the Prefect
flow and the presets check the file with it, so an unknown key anywhere, the top level
included, stops the work with the key named. A track's stages read only their own group
(:class:`~pipeline.core.config.TrackParams`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal, get_args, get_origin

from pydantic import BaseModel, Field, create_model

from pipeline.core.config import PARAMS_FILE, RuntimeConfig, Section, load, validate
from pipeline.core.errors import ConfigError
from pipeline.tracks import registry


class _Whole(Section):
    """The whole ``params.yaml``: ``runtime`` and one group per track."""

    runtime: RuntimeConfig = RuntimeConfig()
    """How and where the work runs; never changes a result or a fingerprint."""


def _assemble() -> type[Section]:
    groups = {track.name: (track.group, Field(description=track.summary))
              for track in registry()}
    return create_model("Params", __base__=_Whole, **groups)


Params = _assemble()


def parse_params(raw: object, source: str = PARAMS_FILE):
    """Validate a parsed params mapping, each group and then what a track checks across
    groups; raises ``ConfigError`` listing the problem with its key."""
    params = validate(Params, raw, source)
    check_across_groups(params, source)
    return params


def load_params(path: str | Path = PARAMS_FILE):
    """Read and validate ``params.yaml``."""
    params = load(Params, path)
    check_across_groups(params, str(path))
    return params


def check_across_groups(params, source: str) -> None:
    for track in registry():
        if track.check is None:
            continue
        try:
            track.check(params)
        except ValueError as error:
            raise ConfigError(f"{source}: invalid parameters\n  {error}") from None


def check_inputs(params, root: Path) -> None:
    """Every file or folder the params point at outside ``data/`` exists; else one line
    naming the key (:class:`~pipeline.core.track.Input`)."""
    problems = [problem for track in registry() if track.inputs
                for item in track.inputs(params) if (problem := item.problem(root))]
    if problems:
        raise ConfigError(f"{root / PARAMS_FILE}: " + "; ".join(problems))


def reference(schema: type[BaseModel] = Params, prefix: str = "") -> list[str]:
    """One Markdown table row per parameter: its key, type, default and description."""
    rows = []
    for name, field in schema.model_fields.items():
        key = f"{prefix}{name}"
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            rows.append(f"| **`{key}`** | group | | {field.description or ''} |")
            rows += reference(annotation, f"{key}.")
            continue
        default = "required" if field.is_required() else f"`{json.dumps(field.default)}`"
        description = " ".join((field.description or "").split())
        cells = [f"`{key}`", type_name(annotation), default, description]
        rows.append("| " + " | ".join(cell.replace("|", r"\|") for cell in cells) + " |")
    return rows


def type_name(annotation) -> str:
    """A parameter's type in words: ``list of int``, ``int or null``, `` `skip` or `bos` ``."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Literal:
        return " or ".join(f"`{value}`" for value in args)
    if origin is Annotated:
        return type_name(args[0])
    if origin is list:
        return f"list of {type_name(args[0])}"
    if args:  # a union
        return " or ".join(type_name(arg) for arg in args)
    if annotation is type(None):
        return "null"
    names = {"ModelConfig": "shape"}
    return names.get(annotation.__name__, annotation.__name__)


def reference_page() -> str:
    return "\n".join([
        "# Parameters",
        "",
        "Every key of `params.yaml`, made from the typed schemas' field descriptions by",
        "`python -m pipeline.params > docs/params.md` (a test checks it is current). `runtime`",
        "never changes a result; each track reads its own group and `runtime`. Shapes",
        "(`capacity.models`, `text.configs`, `text.oracle_configs`) are lists of",
        "`{n_layer, d_model, n_head}`.",
        "",
        "| key | type | default | what it is |",
        "|---|---|---|---|",
        *reference(),
        "",
    ])


if __name__ == "__main__":
    print(reference_page(), end="")
