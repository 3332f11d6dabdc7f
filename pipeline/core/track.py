"""What a track declares to plug into the pipeline: its params group, its DVC stages (paths,
params and deps, written once), its cost plan, presets, plots and Prefect artifacts.

A track is one package under ``pipeline/tracks/`` whose ``track`` module defines ``TRACK``, a
:class:`Track`. Nothing else names it: ``pipeline.tracks.registry()`` finds it, the whole
``params.yaml`` schema, ``dvc.yaml`` (generated from these declarations), the cost plan, the
presets and the flow's artifacts are assembled from the registry. This module only describes
(plain frozen dataclasses); running a stage is :mod:`pipeline.runtime.stage`'s job.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from pipeline.core.config import TrackParams

# Every stage's code dependency inside the core; a track's own package is the other one.
# Code that only decides how work runs (pipeline/runtime, the flows, the CLI) is no dep, so
# editing it makes nothing stale.
CORE_CODE = Path("pipeline/core")


@dataclass(frozen=True)
class Output:
    """A path a stage writes. ``persist``: kept when the stage reruns (trained models: the
    stage's jobs skip what is already done). ``cache: False``: small text tracked by git
    (reports, metrics, plot data) instead of DVC's cache. ``kind``: how DVC shows it."""

    path: Path
    persist: bool = False
    cache: bool = True
    kind: Literal["outs", "metrics", "plots"] = "outs"


def persistent(path: Path) -> Output:
    return Output(path, persist=True)


def in_git(path: Path, kind: Literal["outs", "metrics", "plots"] = "outs") -> Output:
    return Output(path, cache=False, kind=kind)


@dataclass(frozen=True)
class Stage:
    """One DVC stage: what it reads (``params`` keys and ``deps`` paths), what it writes, and
    the functions of ``(params, root)`` that do it: ``jobs`` (a grid of jobs, done or not,
    run on the scheduler) and then ``work`` (scoring, a fit, a report)."""

    name: str
    summary: str
    schema: type[TrackParams]
    params: tuple[str, ...]
    deps: tuple[Path, ...] = ()
    outs: tuple[Output | Path, ...] = ()
    jobs: Callable[[Any, Path], list] | None = None
    work: Callable[[Any, Path], object] | None = None
    code: tuple[Path, ...] = ()  # the track's own package (filled in by Track)

    def __post_init__(self) -> None:
        # A bare path is a plain cached output.
        outs = tuple(o if isinstance(o, Output) else Output(Path(o)) for o in self.outs)
        object.__setattr__(self, "outs", outs)


@dataclass(frozen=True)
class Input:
    """A path params.yaml points at, by its key: a file, a folder, or a glob (``*`` in it)
    that must match at least one file; ``must_hold`` names a file a folder must contain."""

    key: str
    path: str
    must_hold: str | None = None

    def problem(self, root: Path) -> str | None:
        """Why the input is not usable, or None."""
        where = Path(self.path) if Path(self.path).is_absolute() else root / self.path
        if any(mark in self.path for mark in "*?["):
            found = list(Path(where.anchor).glob(str(where.relative_to(where.anchor))))
            return None if found else f"{self.key}: no file matches {self.path}"
        if not where.exists():
            return f"{self.key}: {self.path} does not exist"
        if self.must_hold and not (where / self.must_hold).is_file():
            return f"{self.key}: {self.path} has no {self.must_hold}"
        return None


@dataclass(frozen=True)
class Plot:
    """A DVC plot (dvc.yaml's top-level ``plots``): ``y`` maps a data file to its column(s);
    ``x_label`` and ``y_label`` title the axes with their units (DVC's default is the column
    name; ``pipeline.core.figures.spec_problems`` refuses it)."""

    title: str
    template: str
    x: str
    y: Mapping[Path, str | list[str]]
    x_label: str = ""
    y_label: str = ""


@dataclass(frozen=True)
class Artifact:
    """What a flow run publishes to the Prefect UI: a Markdown page or a table."""

    key: str
    description: str
    markdown: str | None = None
    table: list[dict] | None = None


@dataclass(frozen=True)
class Track:
    """A track as the pipeline knows it. ``params`` is what its stages read (``runtime`` and
    its own group, named ``name``). ``plan(params)``, ``check(params)`` and presets see the
    whole ``params.yaml`` (another group's values, such as the corpus's sequence length, are
    read there, never imported). ``inputs(params)`` names the files and folders the params
    point at outside ``data/`` (a local corpus, model folders) by their keys, so that a
    missing one stops ``validate_params`` naming the key, before any stage removes an
    output."""

    name: str
    order: int  # where its group and stages come in params.yaml, dvc.yaml and the docs
    summary: str
    params: type[TrackParams]
    stages: tuple[Stage, ...]
    plots: tuple[Plot, ...] = ()
    presets: Mapping[str, dict] = field(default_factory=dict)
    plan: Callable[[Any], list] | None = None
    check: Callable[[Any], None] | None = None
    inputs: Callable[[Any], list[Input]] | None = None
    artifacts: Callable[[Path], list[Artifact]] | None = None

    def __post_init__(self) -> None:
        if self.name not in self.params.model_fields:
            raise TypeError(f"track {self.name!r}: {self.params.__name__} has no group "
                            f"{self.name!r}")
        package = Path("pipeline/tracks") / self.name
        object.__setattr__(self, "stages", tuple(replace(stage, code=(CORE_CODE, package))
                                                 for stage in self.stages))

    @property
    def group(self) -> type:
        """The schema of the track's ``params.yaml`` group."""
        return self.params.model_fields[self.name].annotation
