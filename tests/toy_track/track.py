"""The toy track: jobs that each write a number, then a sum as its metrics, a plot and an
artifact; nothing outside this package names it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.core.io import read_json, write_csv, write_json
from pipeline.core.layout import metrics_file, track_dir
from pipeline.core.track import Artifact, Plot, Stage, Track, in_git, persistent

from .config import ToyParams

NUMBERS, PLOTS = track_dir("toy") / "numbers", track_dir("toy") / "plots"
METRICS = metrics_file("toy")


@dataclass(frozen=True)
class NumberJob:
    path: Path
    value: int

    @property
    def id(self) -> str:
        return self.path.stem

    @property
    def fingerprint(self) -> str:
        return str(self.value)

    @property
    def size(self) -> int:
        return 1

    def is_done(self) -> bool:
        return self.path.is_file()

    def run(self, on_progress=None) -> int:
        write_json({"value": self.value}, self.path)
        return self.value


def number_jobs(params: ToyParams, root: Path) -> list[NumberJob]:
    return [NumberJob(root.resolve() / NUMBERS / f"n{i}.json", i)
            for i in range(params.toy.count)]


def total(params: ToyParams, root: Path) -> None:
    values = [read_json(root / NUMBERS / f"n{i}.json")["value"] for i in range(params.toy.count)]
    write_json({"total": sum(values)}, root / METRICS)
    import polars as pl

    write_csv(pl.DataFrame({"i": range(len(values)), "value": values}), root / PLOTS / "n.csv")


def artifacts(root: Path) -> list[Artifact]:
    path = root / METRICS
    return [Artifact("toy-total", "the toy's sum", markdown=f"total {read_json(path)['total']}")
            ] if path.is_file() else []


TRACK = Track(
    name="toy", order=99, summary="A toy track.", params=ToyParams,
    stages=(Stage("toy_numbers", "writes numbers", ToyParams, params=("toy.count",),
                  outs=(persistent(NUMBERS),), jobs=number_jobs),
            Stage("toy_total", "sums them", ToyParams, params=("toy",), deps=(NUMBERS,),
                  outs=(in_git(METRICS, "metrics"), in_git(PLOTS)), work=total)),
    plots=(Plot("Toy - values", "series", "i", {PLOTS / "n.csv": "value"}),),
    plan=lambda params: [], artifacts=artifacts,
)
