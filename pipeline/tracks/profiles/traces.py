"""Where the scoring stage leaves each model's results, and reading its traces back: the
main cell's entropies ``[n, k+L−1]`` (nats), hidden states ``[n, k+L−1, d]`` and generated
tokens ``[n, L]``, one safetensors file per model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from safetensors.numpy import load_file

from pipeline.core.errors import ArtifactError
from pipeline.tracks.profiles import layout


def traces_path(root: Path, name: str) -> Path:
    return root / layout.TRACES / f"{name}.safetensors"


def run_path(root: Path, name: str) -> Path:
    return root / layout.SCORES / "runs" / f"{name}.parquet"


def info_path(root: Path, name: str) -> Path:
    return root / layout.SCORES / "runs" / f"{name}.json"


def read_traces(root: Path, name: str) -> dict[str, np.ndarray]:
    path = traces_path(root, name)
    if not path.is_file():
        raise ArtifactError(f"{path}: missing (run profiles_score first)")
    return load_file(str(path))
