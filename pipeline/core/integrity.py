"""Integrity of what is reused and of the numbers computed: content checksums for folders a
later run skips on (trained models, checkpoints), finite-number guards, and the removal of
temporaries a killed write left behind.

A folder is *sealed* by writing ``checksums.json`` (SHA-256 of every other file) after its
content; a run is reused only if its seal verifies. The seal is written last, so a kill before
it leaves an unsealed folder, which is redone, never trusted. Bytes changed later (a bad
disk, a stray edit) fail the check: the trainer redoes the run, a loader refuses the folder.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
from pathlib import Path

import numpy as np

from pipeline.core.errors import ArtifactError, PipelineError
from pipeline.core.io import atomic_path

log = logging.getLogger(__name__)

CHECKSUMS_FILE = "checksums.json"
# What core.io's atomic writers leave if killed: `.<name>.<12 hex>.tmp` and `.<name>.old`.
TEMPORARY = re.compile(r"^\..+\.([0-9a-f]{12}\.tmp|old)$")


class NonFiniteError(PipelineError, ArithmeticError):
    """A loss, gradient or score that is NaN or infinite; the message says where and what to
    change."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def folder_digest(folder: str | Path) -> str:
    """What identifies a model folder's weights without reading gigabytes: its config, the
    trainer's record if any, and every weight file's name and size (for fingerprints of what
    was computed from a model, e.g. scores of a Hugging Face folder)."""
    folder = Path(folder)
    digest = hashlib.sha256()
    for name in ("config.json", "training.json"):
        if (folder / name).is_file():
            digest.update((folder / name).read_bytes())
    for path in sorted(folder.glob("*.safetensors")) + sorted(folder.glob("*.bin")):
        digest.update(f"{path.name}:{path.stat().st_size}".encode())
    return digest.hexdigest()


def seal(folder: str | Path) -> None:
    """Record the checksum of every file in ``folder`` (written last, atomically)."""
    folder = Path(folder)
    sums = {path.name: sha256_file(path) for path in sorted(folder.iterdir())
            if path.is_file() and path.name != CHECKSUMS_FILE}
    with atomic_path(folder / CHECKSUMS_FILE) as tmp:
        tmp.write_text(json.dumps(sums, indent=2, sort_keys=True) + "\n")


def seal_problem(folder: str | Path) -> str | None:
    """Why ``folder`` cannot be trusted (a named file and what is wrong), or None if intact."""
    folder = Path(folder)
    seal_path = folder / CHECKSUMS_FILE
    if not seal_path.is_file():
        return f"{seal_path}: missing (the folder was not completely written)"
    try:
        sums = json.loads(seal_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        return f"{seal_path}: corrupt"
    if not isinstance(sums, dict) or not sums:
        return f"{seal_path}: corrupt"
    for name, expected in sorted(sums.items()):
        path = folder / name
        if not path.is_file():
            return f"{path}: missing"
        if sha256_file(path) != expected:
            return f"{path}: content differs from its checksum in {CHECKSUMS_FILE}"
    return None


def is_intact(folder: str | Path, what: str) -> bool:
    """True if ``folder``'s seal verifies; otherwise warn, naming the file, and return False
    (the caller redoes the work)."""
    problem = seal_problem(folder)
    if problem is not None and Path(folder).exists():
        log.warning("%s: %s; redoing it", what, problem)
    return problem is None


def require_intact(folder: str | Path, remedy: str) -> None:
    """Refuse to read a sealed folder whose seal fails. An unsealed folder (written by an
    external tool, such as a Hugging Face checkpoint) is accepted as it is."""
    folder = Path(folder)
    if not (folder / CHECKSUMS_FILE).is_file():
        return
    problem = seal_problem(folder)
    if problem is not None:
        raise ArtifactError(f"{problem}; {remedy}")


def require_finite(values, what: str, advice: str) -> None:
    """Raise :class:`NonFiniteError` naming ``what`` if any of ``values`` is NaN or infinite."""
    array = np.asarray(values, dtype=np.float64)
    bad = ~np.isfinite(array)
    if bad.any():
        first = array.reshape(-1)[np.flatnonzero(bad.reshape(-1))[0]]
        raise NonFiniteError(f"{what}: {int(bad.sum())} of {array.size} values are not finite"
                             f" (e.g. {first}); {advice}")


def remove_temporaries(root: str | Path) -> int:
    """Delete what killed atomic writes left anywhere under ``root``; returns how many.

    Only names :mod:`pipeline.core.io` makes are touched, and only under folders a single
    stage owns, so no other writer's temporary is in reach."""
    root = Path(root)
    if not root.is_dir():
        return 0
    return _remove([path for path in root.rglob(".*") if TEMPORARY.match(path.name)])


def remove_temporaries_of(path: str | Path) -> int:
    """Delete what killed atomic writes of ``path`` left beside it; returns how many."""
    path = Path(path)
    if not path.parent.is_dir():
        return 0
    return _remove([sibling for sibling in path.parent.glob(f".{path.name}.*")
                    if TEMPORARY.match(sibling.name)])


def _remove(paths: list[Path]) -> int:
    for path in paths:
        log.warning("%s: removing what an interrupted write left behind", path)
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    return len(paths)
