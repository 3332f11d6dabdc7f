"""The whole ``params.yaml``: one group per track plus ``runtime``, validated before any work.

This module sits above the tracks (it is the only place that knows them all); the core never
imports it. The ``validate_params`` stage, which every other stage waits for, the Prefect
flow and the presets check the file with it, so an unknown key anywhere, the top level
included, stops the work with the key named. A track's stages read only their own group
(:class:`~pipeline.core.config.TrackParams`).
"""

from __future__ import annotations

from pathlib import Path

from pipeline.capacity.config import CapacityConfig
from pipeline.core.config import RuntimeConfig, Section, load, validate
from pipeline.text.config import TextConfig

PARAMS_FILE = "params.yaml"


class Params(Section):
    """The whole ``params.yaml``."""

    runtime: RuntimeConfig = RuntimeConfig()
    capacity: CapacityConfig
    text: TextConfig


def parse_params(raw: object, source: str = PARAMS_FILE) -> Params:
    """Validate a parsed params mapping; raises ``ConfigError`` listing every problem."""
    return validate(Params, raw, source)


def load_params(path: str | Path = PARAMS_FILE) -> Params:
    """Read and validate ``params.yaml``."""
    return load(Params, path)
