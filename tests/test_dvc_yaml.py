"""``dvc.yaml`` cannot drift from the code: it is exactly what the tracks declare, every params
key it names exists, and every path a stage reads is written by a stage upstream (or is
shipped with the code)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pipeline.core.track import CORE_CODE
from pipeline.dvcfile import VALIDATE, WHOLE_FILE, all_stages, render
from pipeline.params import Params
from pipeline.tracks import registry
from tests.conftest import ROOT

SHIPPED = ("pipeline/",)  # deps under these are in git, not written by a stage


def test_dvc_yaml_is_what_the_tracks_declare():
    assert (ROOT / "dvc.yaml").read_text() == render(), (
        "dvc.yaml is not current: run `python -m pipeline.dvcfile`")


def test_dvc_yaml_is_short():
    assert len((ROOT / "dvc.yaml").read_text().splitlines()) < 400


@pytest.mark.parametrize("stage", all_stages(), ids=lambda s: s.name)
def test_stage_params_name_existing_keys(stage):
    if stage is VALIDATE:
        return
    for entry in stage.params:
        schema = Params
        for key in entry.split("."):
            assert key in schema.model_fields, f"{stage.name}: params key {entry!r} does not exist"
            annotation = schema.model_fields[key].annotation
            schema = annotation if isinstance(annotation, type) else None
            if schema is None:
                break


def test_every_dep_is_written_upstream_or_shipped():
    written: set[Path] = set()
    for stage in all_stages():
        for dep in stage.deps:
            assert str(dep).startswith(SHIPPED) or any(
                dep == out or out in dep.parents for out in written), (
                f"{stage.name} reads {dep}, which no earlier stage writes")
        written |= {output.path for output in stage.outs}


def test_stage_names_and_outputs_are_unique():
    names = [stage.name for stage in all_stages()]
    outs = [output.path for stage in all_stages() for output in stage.outs]
    assert len(set(names)) == len(names) and len(set(outs)) == len(outs)


@pytest.mark.parametrize("track", registry(), ids=lambda t: t.name)
def test_a_stage_depends_on_the_core_and_its_own_track(track):
    """Package deps are complete because a track imports nothing but the core and its own
    package (the import contracts, `lint-imports`, check that)."""
    for stage in track.stages:
        assert stage.code == (CORE_CODE, Path("pipeline/tracks") / track.name)


def test_the_generated_file_is_valid_for_dvc():
    document = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    assert set(document) == {"stages", "plots"}
    for name, stage in document["stages"].items():
        assert stage["cmd"] == f"python -m stages {name}"


def test_the_tiny_params_name_every_key_a_stage_tracks():
    """DVC refuses a stage whose params key is missing from params.yaml, even one the schema
    fills with a default; the end-to-end tests' TINY_PARAMS must name each one."""
    from tests.conftest import TINY_PARAMS

    def present(key: str) -> bool:
        group = TINY_PARAMS
        for part in key.split("."):
            if not isinstance(group, dict) or part not in group:
                return False
            group = group[part]
        return True

    for stage in all_stages():
        missing = [key for key in stage.params if key != WHOLE_FILE and not present(key)]
        assert not missing, f"{stage.name}: TINY_PARAMS lacks {missing}"
