"""Fault injection: kills, corrupt and missing files, divergence, and a hostile environment,
each run against the real stage commands in a copy of a tiny, fully built project.

Every case ends one of two ways: the rerun recovers to exactly the uninterrupted result (the
same weights, byte for byte), or the stage stops with one line naming the cause and exit
status 2, with nothing half-written. Marked ``faults`` (excluded from the default run; `.ci/run`
runs them): ``pytest -m faults``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import torch
import yaml
from safetensors.torch import load_file

from pipeline.core.integrity import TEMPORARY
from tests.conftest import TINY_PARAMS, copy_project
from tests.e2e.test_dvc_and_flow import dvc, weights

# The session's tiny build (every track) happens in the first test's setup: minutes on a loaded
# machine, so the suite has a longer limit than the default 600 s.
pytestmark = [pytest.mark.faults, pytest.mark.timeout(1800)]

CAPACITY_RUN = "L1-D8-N256-S0"
TEXT_RUN = "L1-D8-N32-S0"
KILL = "import os, signal\ndef die(*args, **kwargs):\n    os.kill(os.getpid(), signal.SIGKILL)\n"
# Kill a training run when it is about to take optimizer step `AT` (a module-level name the
# patch sets).
KILL_AT_STEP = KILL + """
import pipeline.core.trainer as trainer
next_batch = trainer.Trainer._next_batch
def killing_next_batch(self, member, *args):
    if member.state.step == AT:
        die()
    return next_batch(self, member, *args)
trainer.Trainer._next_batch = killing_next_batch
"""
KILL_AFTER_CHECKPOINT = KILL + """
import pipeline.core.trainer as trainer
save_checkpoint = trainer.Trainer._save_checkpoint
def killing_save(self, *args):
    save_checkpoint(self, *args)
    die()
trainer.Trainer._save_checkpoint = killing_save
"""
KILL_INSIDE_CHECKPOINT_WRITE = KILL + """
import torch
torch_save = torch.save
def killing_save(payload, path, *args, **kwargs):
    torch_save(payload, path, *args, **kwargs)
    die()
torch.save = killing_save
"""
KILL_INSIDE_MODEL_SAVE = KILL + """
import pipeline.core.model as model
import pipeline.tracks.retention.models as retention_models
def killing(serialize):
    def killing_serialize(*args, **kwargs):
        serialize(*args, **kwargs)
        die()
    return killing_serialize
model.save = killing(model.save)
retention_models.save = killing(retention_models.save)
"""
KILL_BEFORE_SEAL = KILL + """
import pipeline.core.trainer as trainer
seal = trainer.seal
def killing_seal(folder):
    if "checkpoints" in str(folder):
        return seal(folder)
    die()
trainer.seal = killing_seal
"""


def fail_writes_with(errno_name: str) -> str:
    """A patch making every atomic rename fail as the environment would."""
    return f"""
import errno, os
import pipeline.core.io as io
def refuse(source, target):
    raise OSError(errno.{errno_name}, os.strerror(errno.{errno_name}), str(target))
io.os.replace = refuse
"""


def run_stage(project: Path, stage: str, patch: str = "",
              timeout: int = 300) -> subprocess.CompletedProcess:
    """Run a stage's command in ``project``, with ``patch`` executed first in its process."""
    code = f"{patch}\nfrom stages.__main__ import main\nmain([{stage!r}])\n"
    return subprocess.run([sys.executable, "-c", code], cwd=project, capture_output=True,
                          text=True, timeout=timeout)


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    return errors[0]


def assert_killed(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == -signal.SIGKILL, result.stdout + result.stderr


def temporaries(project: Path) -> list[Path]:
    return [path for path in (project / "data").rglob(".*") if TEMPORARY.match(path.name)]


def snapshot(project: Path) -> dict[str, bytes]:
    """Every file under data/, by relative path (checkpoints excluded: transient)."""
    return {str(path.relative_to(project)): path.read_bytes()
            for path in sorted((project / "data").rglob("*"))
            if path.is_file() and "checkpoints" not in path.parts}


def set_params(project: Path, edit) -> None:
    params = yaml.safe_load((project / "params.yaml").read_text())
    edit(params)
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def flip_bytes(path: Path, offset: int = -64) -> None:
    """Change some bytes in place, keeping the length (a bad disk, a stray edit)."""
    data = bytearray(path.read_bytes())
    for i in range(8):
        data[offset + i] ^= 0xFF
    path.write_bytes(bytes(data))


def untrain(project: Path, models: str, *run_ids: str) -> None:
    """Remove trained runs so the stage trains them again."""
    for run_id in run_ids:
        shutil.rmtree(project / models / run_id)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """A tiny project after a complete, uninterrupted `dvc repro`."""
    project = copy_project(tmp_path_factory.mktemp("built"), TINY_PARAMS)
    result = dvc(project, "repro")
    assert result.returncode == 0, result.stdout + result.stderr
    return project


@pytest.fixture
def project(built, tmp_path) -> Path:
    """A private copy of the built project to break."""
    return Path(shutil.copytree(built, tmp_path / "project", symlinks=True))


def assert_recovers(project: Path, built: Path, stage: str) -> subprocess.CompletedProcess:
    """Rerunning ``stage`` succeeds and ends with every model exactly as in ``built``."""
    rerun = run_stage(project, stage)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert weights(project) == weights(built)
    assert temporaries(project) == []
    return rerun


# --- kills at several points of every stage that trains --------------------------------------

KILL_POINTS = {
    "step 5 (before any checkpoint)": "AT = 5\n" + KILL_AT_STEP,
    "after a checkpoint": KILL_AFTER_CHECKPOINT,
    "inside a checkpoint write": KILL_INSIDE_CHECKPOINT_WRITE,
    "inside a model save": KILL_INSIDE_MODEL_SAVE,
    "between a model save and its seal": KILL_BEFORE_SEAL,
}
SAVES = ["inside a model save", "between a model save and its seal"]
TRAINING_STAGES = [("capacity_train", "data/capacity/models", CAPACITY_RUN, list(KILL_POINTS)),
                   ("text_train", "data/text/models", TEXT_RUN, list(KILL_POINTS)),
                   ("text_reference", "data/text/reference/models", None, list(KILL_POINTS)),
                   ("text_ground_truth", "data/text/ground_truth/models", None, list(KILL_POINTS)),
                   ("profiles_train", "data/profiles/models", None, list(KILL_POINTS)),
                   # The tiny retention models train 4 steps: no checkpoint to kill around.
                   ("retention_encoders", "data/retention/encoders/models", None, SAVES)]


@pytest.mark.parametrize(("stage", "models", "run_id", "point"), [
    pytest.param(stage, models, run_id, point, id=f"{stage}-{point}")
    for stage, models, run_id, points in TRAINING_STAGES for point in points])
def test_kill_then_rerun_gives_the_uninterrupted_result(project, built, stage, models,
                                                        run_id, point):
    runs = [run_id] if run_id else [p.name for p in (project / models).iterdir()]
    untrain(project, models, *runs)
    assert_killed(run_stage(project, stage, KILL_POINTS[point]))
    rerun = assert_recovers(project, built, stage)
    if point == "after a checkpoint":
        assert "resuming from step" in rerun.stderr


def test_resumed_run_reports_the_whole_runs_time(project):
    untrain(project, "data/capacity/models", CAPACITY_RUN)
    assert_killed(run_stage(project, "capacity_train", KILL_AFTER_CHECKPOINT))
    checkpoint = next((project / "data/checkpoints").rglob("last.pt"))
    before = torch.load(checkpoint, weights_only=True)["state"]["seconds"]
    assert before > 0
    assert run_stage(project, "capacity_train").returncode == 0
    training = json.loads(
        (project / "data/capacity/models" / CAPACITY_RUN / "training.json").read_text())
    assert training["resumed_from_step"] == 10
    assert training["wall_seconds"] > before


# --- workers end with their parent; nothing is written after a failure -----------------------

def running(process: psutil.Process) -> bool:
    """Still running: neither gone nor a zombie (an orphan's exit status is reaped by init,
    which in a container may never happen)."""
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.parametrize("signal_to_parent", [signal.SIGKILL, signal.SIGTERM])
def test_workers_end_when_the_parent_is_killed(project, signal_to_parent):
    set_params(project, lambda p: (p["runtime"].update(workers=2),
                                   p["capacity"]["train"].update(steps=200_000)))
    shutil.rmtree(project / "data/capacity/models")
    workers: list[psutil.Process] = []
    parent = subprocess.Popen([sys.executable, "-m", "stages", "capacity_train"], cwd=project,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while len(workers) < 2 and time.monotonic() < deadline:
            time.sleep(0.5)
            workers = [child for child in psutil.Process(parent.pid).children(recursive=True)
                       if "spawn_main" in " ".join(child.cmdline())]
        assert len(workers) == 2, "the pool never started"
        time.sleep(2)  # training
        parent.send_signal(signal_to_parent)
        parent.wait(timeout=30)
        deadline = time.monotonic() + 5
        while (alive := [w for w in workers if running(w)]) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert alive == [], f"workers outlived their parent: {alive}"
        models = project / "data/capacity/models"
        assert not models.exists() or not any(models.iterdir()), (
            "a worker wrote a model after the failure")
    finally:
        for process in [*workers, parent]:
            with contextlib.suppress(psutil.NoSuchProcess, ProcessLookupError):
                process.kill()


# --- damaged artifacts that a rerun would reuse ----------------------------------------------

DAMAGE = {
    "weights with bytes changed": lambda run: flip_bytes(run / "model.safetensors"),
    "weights truncated": lambda run: (run / "model.safetensors").write_bytes(
        (run / "model.safetensors").read_bytes()[:100]),
    "weights deleted": lambda run: (run / "model.safetensors").unlink(),
    "training.json corrupt": lambda run: (run / "training.json").write_text("{not json"),
    "seal deleted": lambda run: (run / "checksums.json").unlink(),
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_model_is_retrained_never_skipped(project, built, damage, caplog):
    run = project / "data/capacity/models" / CAPACITY_RUN
    untouched = project / "data/capacity/models" / "L1-D8-N4-S0" / "model.safetensors"
    stamp = untouched.stat().st_mtime_ns
    DAMAGE[damage](run)
    rerun = assert_recovers(project, built, "capacity_train")
    assert "1 jobs to run" in rerun.stderr
    assert untouched.stat().st_mtime_ns == stamp  # only the damaged run is redone
    if damage in ("weights with bytes changed", "weights truncated"):
        assert f"{run}/model.safetensors: content differs from its checksum" in rerun.stderr


@pytest.mark.parametrize("damage", ["bytes changed", "truncated"])
def test_a_damaged_checkpoint_is_never_resumed_from(project, built, damage):
    untrain(project, "data/capacity/models", CAPACITY_RUN)
    assert_killed(run_stage(project, "capacity_train", KILL_AFTER_CHECKPOINT))
    checkpoint = next((project / "data/checkpoints").rglob("last.pt"))
    if damage == "bytes changed":
        flip_bytes(checkpoint, offset=len(checkpoint.read_bytes()) // 2)
    else:
        checkpoint.write_bytes(checkpoint.read_bytes()[:1000])
    rerun = assert_recovers(project, built, "capacity_train")
    assert "content differs from its checksum" in rerun.stderr
    assert "resuming from step" not in rerun.stderr


@pytest.mark.parametrize(("damage", "named"), [
    ("bytes changed", "model.safetensors: content differs from its checksum"),
    ("truncated, unsealed", "model.safetensors: unreadable weights"),
    ("config corrupt, unsealed", "config.json: not a GPT-2 config"),
])
def test_scoring_a_damaged_model_stops_naming_the_file(project, damage, named):
    run = project / "data/capacity/models" / CAPACITY_RUN
    if damage == "bytes changed":
        flip_bytes(run / "model.safetensors")
    else:
        (run / "checksums.json").unlink()  # as if written by a tool that does not seal
        if damage.startswith("truncated"):
            (run / "model.safetensors").write_bytes(b"\x10" * 50)
        else:
            (run / "config.json").write_text("[1, 2")
    before = (project / "data/capacity/scores/totals.parquet").read_bytes()
    assert_one_line_error(run_stage(project, "capacity_score"), named)
    assert (project / "data/capacity/scores/totals.parquet").read_bytes() == before
    assert temporaries(project) == []


# --- divergence: nothing non-finite reaches a metrics file -----------------------------------

def test_divergence_stops_training_naming_run_step_and_params(project):
    set_params(project, lambda p: p["capacity"]["train"].update(lr=1e6))
    shutil.rmtree(project / "data/capacity/models")
    error = assert_one_line_error(run_stage(project, "capacity_train"), "diverged at step",
                                  "train.lr (now 1000000.0)")
    assert "L1-D8-N" in error
    assert not any((project / "data/capacity/models").glob("*/model.safetensors"))


def test_a_non_finite_score_stops_the_fit(project):
    import polars as pl

    totals = project / "data/capacity/scores/totals.parquet"
    frame = pl.read_parquet(totals)
    frame.with_columns(pl.lit(float("nan")).alias("memorized_bits")).write_parquet(totals)
    before = (project / "data/metrics/capacity.json").read_bytes()
    assert_one_line_error(run_stage(project, "capacity_fit"), "not finite")
    assert (project / "data/metrics/capacity.json").read_bytes() == before


def test_weights_made_non_finite_stop_scoring(project):
    run = project / "data/capacity/models" / CAPACITY_RUN
    state = load_file(run / "model.safetensors")
    state["transformer.ln_f.weight"][:] = float("nan")
    from safetensors.torch import save_file

    save_file(state, run / "model.safetensors", metadata={"format": "pt"})
    (run / "checksums.json").unlink()
    assert_one_line_error(run_stage(project, "capacity_score"), str(run), "not finite")


# --- corrupt or missing inputs, one per stage ------------------------------------------------

def garbage(path: Path) -> None:
    path.write_bytes(b"PAR1 this is not a parquet file")


CORRUPT_INPUTS = {
    "validate_params": ("params.yaml", lambda f: f.write_text("capacity: [unclosed"),
                        "params.yaml"),
    "capacity_data": ("params.yaml", lambda f: f.write_text(
        f.read_text().replace("vocab_size: 64", "vocab_size: many")), "params.yaml"),
    "capacity_train": ("data/capacity/synthetic", lambda d: garbage(sorted(d.glob("*.parquet"))[0]),
                       "unreadable Parquet"),
    "capacity_score": ("data/capacity/models/L1-D8-N4-S0", shutil.rmtree, "not trained"),
    "capacity_fit": ("data/capacity/scores/totals.parquet", garbage, "totals.parquet"),
    "capacity_report": ("data/capacity/fit/findings.json", lambda f: f.write_text("{"),
                        "findings.json: corrupt JSON"),
    "text_reference": ("data/corpus/members.parquet", garbage, "members.parquet"),
    "text_train": ("data/corpus/corpus.json", lambda f: f.write_text("nope"),
                   "corpus.json"),
    "text_score": ("data/text/reference/nll_members.parquet", garbage, "nll_members.parquet"),
    "text_plateau": ("data/text/scores/totals.parquet", garbage, "totals.parquet"),
    "text_report": ("data/text/scores/totals.parquet", garbage, "totals.parquet"),
    "text_ground_truth": ("params.yaml", lambda f: f.write_text(
        f.read_text().replace("vocab_size: 16", "vocab_size: 1")), "params.yaml"),
}


@pytest.mark.parametrize("stage", CORRUPT_INPUTS)
def test_a_corrupt_input_is_one_line_naming_the_file(project, stage):
    relative, corrupt, named = CORRUPT_INPUTS[stage]
    target = project / relative
    corrupt(target)
    before = snapshot(project)
    assert_one_line_error(run_stage(project, stage), named)
    assert snapshot(project) == before  # nothing written, nothing half-written
    assert temporaries(project) == []


def test_a_missing_local_corpus_is_named(project):
    set_params(project, lambda p: p["corpus"].update(source="local",
                                                     path="nowhere/corpus.parquet"))
    assert_one_line_error(run_stage(project, "corpus_build"), "nowhere/corpus.parquet")


def test_a_missing_local_corpus_stops_dvc_repro_at_validation_naming_the_key(project):
    """Before any stage removes an output: the corpus built earlier is still there."""
    set_params(project, lambda p: p["corpus"].update(source="local",
                                                     path="nowhere/corpus.parquet"))
    before = (project / "data/corpus/members.parquet").read_bytes()
    result = dvc(project, "repro")
    assert result.returncode != 0
    assert "corpus.path: nowhere/corpus.parquet does not exist" in result.stderr
    assert (project / "data/corpus/members.parquet").read_bytes() == before


def test_a_corrupt_local_corpus_is_named(project):
    garbage(project / "corpus.parquet")
    set_params(project, lambda p: p["corpus"].update(source="local",
                                                     path="corpus.parquet"))
    assert_one_line_error(run_stage(project, "corpus_build"), "corpus.parquet")


# --- the environment -------------------------------------------------------------------------

def test_a_device_this_machine_lacks_is_named_before_any_work(project):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    set_params(project, lambda p: p["runtime"].update(device="cuda"))
    shutil.rmtree(project / "data/capacity/models")
    before = snapshot(project)
    assert_one_line_error(run_stage(project, "capacity_train"), "runtime.device", "cuda")
    assert snapshot(project) == before


@pytest.mark.parametrize(("errno_name", "advice"), [
    ("EACCES", "permission denied"), ("ENOSPC", "no space left"), ("EROFS", "read-only"),
])
def test_a_refusing_filesystem_is_one_line_and_loses_nothing(project, errno_name, advice):
    before = snapshot(project)
    assert_one_line_error(run_stage(project, "capacity_fit", fail_writes_with(errno_name)),
                          advice, "data/")
    assert snapshot(project) == before
    assert temporaries(project) == []


def test_leftover_temporaries_are_removed_before_the_stage_runs(project, built):
    models = project / "data/capacity/models"
    (models / ".L9-D9-N9-S9.0123456789ab.tmp").mkdir()
    (models / ".L9-D9-N9-S9.0123456789ab.tmp" / "model.safetensors").write_bytes(b"half")
    (models / ".L1-D8-N4-S0.old").mkdir()
    assert_recovers(project, built, "capacity_train")


def test_artifacts_get_the_umasks_permissions(built):
    umask = os.umask(0)
    os.umask(umask)
    for path in (built / "data").rglob("*"):
        mode = path.stat().st_mode & 0o777
        expected = (0o777 if path.is_dir() else 0o666) & ~umask
        assert mode == expected, f"{path}: {oct(mode)}, the umask gives {oct(expected)}"
