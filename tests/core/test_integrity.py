"""Integrity: folder seals, finite-number guards, removal of killed writes' temporaries."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pipeline.core.errors import ArtifactError, PipelineError
from pipeline.core.integrity import (
    CHECKSUMS_FILE,
    NonFiniteError,
    is_intact,
    remove_temporaries,
    remove_temporaries_of,
    require_finite,
    require_intact,
    seal,
    seal_problem,
)
from pipeline.core.io import atomic_dir


def sealed_folder(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "weights.bin").write_bytes(bytes(range(256)))
    (folder / "config.json").write_text("{}")
    seal(folder)
    return folder


def test_a_sealed_folder_verifies_until_a_byte_changes(tmp_path):
    folder = sealed_folder(tmp_path)
    assert seal_problem(folder) is None and is_intact(folder, "run")
    data = bytearray((folder / "weights.bin").read_bytes())
    data[7] ^= 1
    (folder / "weights.bin").write_bytes(bytes(data))
    assert "weights.bin: content differs from its checksum" in seal_problem(folder)
    assert not is_intact(folder, "run")


@pytest.mark.parametrize("damage", ["truncate", "delete file", "delete seal", "corrupt seal"])
def test_every_kind_of_damage_is_named(tmp_path, damage):
    folder = sealed_folder(tmp_path)
    if damage == "truncate":
        (folder / "weights.bin").write_bytes(b"\0")
        expected = "weights.bin: content differs"
    elif damage == "delete file":
        (folder / "config.json").unlink()
        expected = "config.json: missing"
    elif damage == "delete seal":
        (folder / CHECKSUMS_FILE).unlink()
        expected = f"{CHECKSUMS_FILE}: missing"
    else:
        (folder / CHECKSUMS_FILE).write_text("[")
        expected = f"{CHECKSUMS_FILE}: corrupt"
    assert expected in seal_problem(folder)


def test_loading_refuses_a_broken_seal_but_accepts_an_unsealed_folder(tmp_path):
    folder = sealed_folder(tmp_path)
    (folder / "config.json").write_text('{"changed": true}')
    with pytest.raises(ArtifactError, match="config.json: content differs.*retrain"):
        require_intact(folder, "retrain it")
    (folder / CHECKSUMS_FILE).unlink()
    require_intact(folder, "retrain it")  # e.g. a Hugging Face checkpoint


def test_non_finite_values_are_refused_with_what_and_advice():
    require_finite(np.array([0.0, 1.5, -3.0]), "scores", "advice")
    with pytest.raises(NonFiniteError, match=r"scores: 2 of 3 values are not finite.*lower lr"):
        require_finite([1.0, math.nan, math.inf], "scores", "lower lr")
    assert issubclass(NonFiniteError, PipelineError)  # one line, exit 2, never retried


def test_killed_writes_leftovers_are_removed_and_nothing_else(tmp_path):
    (tmp_path / "models" / ".run-a.0123456789ab.tmp").mkdir(parents=True)
    (tmp_path / "models" / ".run-a.0123456789ab.tmp" / "x").write_text("half")
    (tmp_path / "models" / ".run-b.old").mkdir()
    (tmp_path / "models" / "deep").mkdir()
    (tmp_path / "models" / "deep" / ".t.parquet.abcdefabcdef.tmp").write_text("half")
    keep = [tmp_path / "models" / "run-a", tmp_path / "models" / ".hidden",
            tmp_path / "models" / "notes.tmp", tmp_path / "models" / ".x.nothex12345.tmp"]
    for path in keep:
        path.write_text("keep")
    assert remove_temporaries(tmp_path / "models") == 3
    assert sorted(p.name for p in (tmp_path / "models").rglob("*")) == sorted(
        [".hidden", ".x.nothex12345.tmp", "deep", "notes.tmp", "run-a"])


def test_leftovers_of_one_path_only(tmp_path):
    with pytest.raises(RuntimeError), atomic_dir(tmp_path / "run-a") as tmp:
        (tmp / "f").write_text("x")
        raise RuntimeError  # atomic_dir cleans up after an exception...
    (tmp_path / ".run-a.0123456789ab.tmp").mkdir()  # ...but a kill leaves this
    (tmp_path / ".run-b.0123456789ab.tmp").mkdir()
    assert remove_temporaries_of(tmp_path / "run-a") == 1
    assert (tmp_path / ".run-b.0123456789ab.tmp").exists()
