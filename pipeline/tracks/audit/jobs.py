"""The audit's model work as jobs on the scheduler (:mod:`pipeline.runtime.jobs`): one
log-probability pass per (target, role) and one extraction grid per target.

A job is done when its record beside its output names the same fingerprint: the model
folder's digest (config, trainer record, weight files), the tokens of the frame it reads,
the settings that change its numbers and :data:`AUDIT_VERSION`. Batch size and device change
nothing beyond float rounding and are left out, so a rerun with other ``runtime`` settings
reuses every pass. Each record also keeps the pass's CPU seconds, for the report's costs.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import torch

from pipeline.core.config import RuntimeConfig
from pipeline.core.device import resolve_device
from pipeline.core.errors import ArtifactError
from pipeline.core.integrity import folder_digest
from pipeline.core.io import read_json, write_json, write_parquet
from pipeline.tracks.audit import layout
from pipeline.tracks.audit.config import AuditConfig, AuditParams
from pipeline.tracks.audit.extraction import extraction_grid
from pipeline.tracks.audit.inputs import MEMBER, SEQ_ID, token_arrays
from pipeline.tracks.audit.logprobs import load_causal_lm, token_logprobs, write_cache
from pipeline.tracks.audit.sources import Model, read_frame, reference, targets

log = logging.getLogger(__name__)

# Bump when what a cache or an extraction grid holds changes for the same inputs.
AUDIT_VERSION = "1"
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def frame_digest(target: str, root: Path) -> str:
    """SHA-256 of a frame's token ids and lengths (what a model pass reads of it)."""
    arrays = token_arrays(read_frame(target, root))
    digest = hashlib.sha256(np.array([a.size for a in arrays], np.int64).tobytes())
    for array in arrays:
        digest.update(array.tobytes())
    return digest.hexdigest()


def _fingerprint(content: dict) -> str:
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]


def _recorded(path: Path, fingerprint: str, output: Path) -> bool:
    try:
        return output.is_file() and read_json(path).get("fingerprint") == fingerprint
    except ArtifactError:
        return False


def _load(model: Model, precision: str, device: str) -> torch.nn.Module:
    return load_causal_lm(model.folder, native=model.native, dtype=DTYPES[precision]).to(device)


def _shown(path: Path, root: Path) -> str:
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


@dataclass(frozen=True)
class LogprobJob:
    """One forward pass of ``model`` over a target's frame, as the target or the reference."""

    target: str
    role: str
    model: Model
    config: AuditConfig
    root: Path
    device: str = "cpu"  # where it runs; never part of the fingerprint

    @property
    def id(self) -> str:
        return f"audit-logprobs-{self.target}-{self.role}"

    @property
    def size(self) -> int:
        return 1

    @property
    def fingerprint(self) -> str:
        score = self.config.score
        return _fingerprint({
            "model": folder_digest(self.model.folder), "native": self.model.native,
            "frame": frame_digest(self.target, self.root), "first_token": score.first_token,
            "bos_id": score.bos_id, "precision": score.precision, "version": AUDIT_VERSION})

    def is_done(self) -> bool:
        return _recorded(layout.cache_record(self.target, self.role, self.root),
                         self.fingerprint, layout.cache(self.target, self.role, self.root))

    def run(self, on_progress: Callable[[int], None] | None = None) -> dict:
        started, cpu = time.perf_counter(), time.process_time()
        score = self.config.score
        frame = read_frame(self.target, self.root)
        model = _load(self.model, score.precision, self.device)
        cache = token_logprobs(model, token_arrays(frame), frame[SEQ_ID].to_numpy(),
                               first_token=score.first_token, bos_id=score.bos_id,
                               batch_size=score.batch_size)
        write_cache(cache, layout.cache(self.target, self.role, self.root))
        record = {"target": self.target, "role": self.role, "model": self.model.name,
                  "folder": _shown(self.model.folder, self.root),
                  "fingerprint": self.fingerprint, "sequences": frame.height,
                  "scored_tokens": cache.height, "device": self.device,
                  "precision": score.precision,
                  "cpu_seconds": time.process_time() - cpu,
                  "wall_seconds": time.perf_counter() - started}
        write_json(record, layout.cache_record(self.target, self.role, self.root))
        if on_progress:
            on_progress(1)
        return record


@dataclass(frozen=True)
class ExtractionJob:
    """Greedy extraction over the k × L grid, for a target's first members and non-members."""

    target: str
    model: Model
    config: AuditConfig
    root: Path
    device: str = "cpu"

    @property
    def id(self) -> str:
        return f"audit-extraction-{self.target}"

    @property
    def size(self) -> int:
        return 1

    @property
    def fingerprint(self) -> str:
        extraction = self.config.extraction
        return _fingerprint({
            "model": folder_digest(self.model.folder), "native": self.model.native,
            "frame": frame_digest(self.target, self.root), "prefixes": extraction.prefixes,
            "lengths": extraction.lengths, "max_sequences": extraction.max_sequences,
            "precision": self.config.score.precision, "version": AUDIT_VERSION})

    def is_done(self) -> bool:
        return _recorded(layout.extraction_record(self.target, self.root), self.fingerprint,
                         layout.extraction(self.target, self.root))

    def run(self, on_progress: Callable[[int], None] | None = None) -> dict:
        started, cpu = time.perf_counter(), time.process_time()
        extraction = self.config.extraction
        frame = read_frame(self.target, self.root)
        # The first max_sequences members and as many non-members (their share is the floor
        # of what a model extracts from text it never saw).
        chosen = frame.filter(pl.int_range(pl.len()).over(MEMBER)
                              < extraction.max_sequences)
        model = _load(self.model, self.config.score.precision, self.device)
        grid = extraction_grid(model, token_arrays(chosen), chosen[SEQ_ID].to_numpy(),
                               prefix_lengths=extraction.prefixes, lengths=extraction.lengths,
                               batch_size=extraction.batch_size)
        write_parquet(grid, layout.extraction(self.target, self.root))
        record = {"target": self.target, "model": self.model.name,
                  "folder": _shown(self.model.folder, self.root),
                  "fingerprint": self.fingerprint, "sequences": chosen.height,
                  "cells": grid.height, "device": self.device,
                  "cpu_seconds": time.process_time() - cpu,
                  "wall_seconds": time.perf_counter() - started}
        write_json(record, layout.extraction_record(self.target, self.root))
        if on_progress:
            on_progress(1)
        return record


def _device(runtime: RuntimeConfig) -> str:
    return resolve_device(runtime.device)


def logprob_jobs(params: AuditParams, root: Path) -> list[LogprobJob]:
    """Stage audit_logprobs: a pass of every target, and of the reference, on each target's
    frame (the reference's code lengths are of the same tokens)."""
    config, root = params.audit, root.resolve()
    ref, device = reference(config, root), _device(params.runtime)
    jobs = []
    for target in targets(config, root):
        jobs.append(LogprobJob(target.name, layout.TARGET, target.model, config, root, device))
        if ref is not None:
            jobs.append(LogprobJob(target.name, layout.REFERENCE, ref, config, root, device))
    return jobs


def extraction_jobs(params: AuditParams, root: Path) -> list[ExtractionJob]:
    """Stage audit_extraction: one grid per target."""
    config, root = params.audit, root.resolve()
    device = _device(params.runtime)
    return [ExtractionJob(t.name, t.model, config, root, device) for t in targets(config, root)]
