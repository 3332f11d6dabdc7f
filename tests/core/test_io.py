"""Artifact writing: atomic, with the permissions the umask gives, strict JSON; and failures
the environment causes reported as one line naming the file (exit 2)."""

from __future__ import annotations

import errno
import math
import os
import stat

import pytest

from pipeline.core.errors import ArtifactError
from pipeline.core.io import atomic_dir, atomic_path, read_json, write_json
from pipeline.runtime.cli import exit_on_user_error


@pytest.fixture
def umask():
    def set_umask(mask: int) -> None:
        os.umask(mask)
    old = os.umask(0o022)
    yield set_umask
    os.umask(old)


@pytest.mark.parametrize(("mask", "file_mode", "dir_mode"),
                         [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700), (0o002, 0o664, 0o775)])
def test_artifacts_get_the_permissions_the_umask_gives(tmp_path, umask, mask, file_mode,
                                                       dir_mode):
    umask(mask)
    write_json({"a": 1}, tmp_path / "metrics.json")
    with atomic_dir(tmp_path / "model") as folder:
        (folder / "weights").write_text("w")
    assert stat.S_IMODE((tmp_path / "metrics.json").stat().st_mode) == file_mode
    assert stat.S_IMODE((tmp_path / "model").stat().st_mode) == dir_mode
    assert stat.S_IMODE((tmp_path / "model" / "weights").stat().st_mode) == file_mode


def test_an_interrupted_write_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "out.csv") as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    with pytest.raises(RuntimeError), atomic_dir(tmp_path / "model") as folder:
        (folder / "weights").write_text("half")
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_a_non_finite_metric_is_refused_naming_the_file(tmp_path, value):
    with pytest.raises(ArtifactError, match="metrics.json: refusing to write a non-finite"):
        write_json({"alpha": value}, tmp_path / "metrics.json")
    assert not (tmp_path / "metrics.json").exists()
    write_json({"alpha": None}, tmp_path / "metrics.json")  # missing is said with null
    assert read_json(tmp_path / "metrics.json") == {"alpha": None}


@pytest.mark.parametrize(("code", "advice"), [(errno.EACCES, "permission denied"),
                                              (errno.ENOSPC, "no space left"),
                                              (errno.EROFS, "read-only filesystem")])
def test_environment_failures_are_one_line_naming_the_file(capsys, code, advice):
    def main():
        raise OSError(code, os.strerror(code), "data/models/L1-D16-N64-S0")

    with pytest.raises(SystemExit) as exit_:
        exit_on_user_error(main)
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert err.startswith("error: data/models/L1-D16-N64-S0: " + advice)


def test_other_os_errors_are_bugs_and_keep_their_traceback():
    def main():
        raise OSError(errno.EBADF, "bad file descriptor")

    with pytest.raises(OSError):
        exit_on_user_error(main)
