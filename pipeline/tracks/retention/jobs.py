"""The track's grids as jobs for the core scheduler, one function per stage.

* ``retention_encoders``: causal LMs at each budget (budget 0: an untrained model, saved as
  initialized) and an autoencoder per probed length;
* ``retention_decoders``: one retention decoder per encoder, and on the null memory, per
  probed length (the seq_len, and the memory models' chunk_len);
* ``retention_memory``: the memory models (the curriculum's first phase among them);
* ``retention_followup``: what starts from a trained memory model: the curriculum's second
  phase, and a retention decoder on each trainable memory encoder.

Every training job is a core :class:`~pipeline.core.trainer.TrainJob`; a model spec that reads
another model's folder offers ``portable()``, so the job's fingerprint cites that folder's
fingerprint instead of its path.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from pipeline.core.config import RuntimeConfig, TrainConfig
from pipeline.core.integrity import is_intact, seal
from pipeline.core.io import read_json
from pipeline.core.model import GPTConfig
from pipeline.core.objectives import NextTokenObjective
from pipeline.core.trainer import NUMERICS_VERSION, TRAINING_FILE, TrainJob
from pipeline.tracks.retention import layout
from pipeline.tracks.retention.config import MemoryRun, ReaderConfig, RetentionConfig
from pipeline.tracks.retention.corpus import (
    Corpus,
    check_encoder,
    check_lengths,
    cut,
    fingerprint_of,
)
from pipeline.tracks.retention.models import (
    NULL,
    AutoencoderSpec,
    DecoderShape,
    MemorySpec,
    ProbeSpec,
)
from pipeline.tracks.retention.objectives import (
    MemoryObjective,
    ReconstructionObjective,
    decoded_share,
)


def cost_weight(spec, objective) -> float:
    """Work per step relative to a plain run, for longest-first scheduling: the decoded share
    of a memory objective's views (a copy view decodes half the chunks), doubled when the
    encoder trains too."""
    if not isinstance(objective, MemoryObjective):
        return 1.0
    trains_encoder = getattr(spec, "memory", "") == "trainable"
    share = decoded_share(objective.kind, objective.combined_copy)
    return share * (2.0 if trains_encoder else 1.0)


@dataclass(frozen=True)
class InitJob:
    """Budget 0: a causal LM saved as initialized (the trainer needs at least one step)."""

    run_id: str
    model: GPTConfig
    seed: int
    model_dir: Path
    runtime: RuntimeConfig = field(default=RuntimeConfig(), compare=False)

    @property
    def id(self) -> str:
        return self.run_id

    @property
    def size(self) -> int:
        return 1

    @property
    def fingerprint(self) -> str:
        content = {"model": asdict(self.model), "seed": self.seed, "steps": 0,
                   "numerics": NUMERICS_VERSION}
        return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]

    def is_done(self) -> bool:
        """Reused only with these settings and a seal that still verifies, like a trained run."""
        path = self.model_dir / TRAINING_FILE
        try:
            if not path.is_file() or read_json(path).get("fingerprint") != self.fingerprint:
                return False
        except Exception:
            return False
        return is_intact(self.model_dir, f"run {self.run_id}")

    def run(self, on_progress: Callable[[int], None] | None = None) -> dict:
        started = time.perf_counter()
        torch.manual_seed(self.seed)
        model = self.model.build()
        summary = {"run_id": self.run_id, "steps": 0, "fingerprint": self.fingerprint,
                   "wall_seconds": round(time.perf_counter() - started, 3)}
        model.save_pretrained(self.model_dir, extra_files={TRAINING_FILE: summary})
        seal(self.model_dir)
        if on_progress:
            on_progress(1)
        return summary


def data_fingerprint(tokens: np.ndarray, *extra: object) -> str:
    digest = hashlib.sha256(np.ascontiguousarray(tokens).tobytes())
    digest.update(json.dumps(extra).encode())
    return digest.hexdigest()[:16]


def budget_steps(config: RetentionConfig) -> list[int]:
    steps = config.encoders.lm_train.steps
    return sorted({round(fraction * steps) for fraction in config.encoders.lm_budgets})


def lm_id(steps: int) -> str:
    return f"lm-b{steps}"


def autoencoder_id(length: int) -> str:
    return f"autoencoder-n{length}"


def probe_id(encoder_id: str, length: int | None = None) -> str:
    return f"probe-{encoder_id}" if length is None else f"probe-{encoder_id}-n{length}"


def probe_lengths(config: RetentionConfig) -> list[int]:
    """The probed lengths: seq_len, and the memory chunk length when a memory model has an
    encoder (its retention is measured as in the retention probes)."""
    lengths = {config.seq_len}
    if any(run.memory != "none" for run in config.memory.runs):
        lengths.add(config.memory.chunk_len)
    return sorted(lengths)


def phase1_id(run: MemoryRun) -> str:
    return f"{run.run_id}-phase1"


def phase1_steps(config: RetentionConfig) -> int:
    steps = config.memory.train.steps
    return min(steps - 1, max(1, round(config.memory.curriculum_fraction * steps)))


class Builder:
    """Makes the track's jobs with the paths, data and settings they share."""

    def __init__(self, config: RetentionConfig, runtime: RuntimeConfig, corpus: Corpus,
                 root: Path):
        check_lengths(config, corpus)
        self.config, self.runtime, self.corpus = config, runtime, corpus
        self.root = root.resolve()  # a job carries absolute paths: it may run elsewhere
        self.bits_per_token = math.log2(corpus.vocab_size)

    def training(self, length: int | None = None) -> np.ndarray:
        """Training sequences of ``length`` tokens (None: the pool's whole sequences)."""
        tokens = self.corpus.members if length is None else cut(self.corpus.members, length)
        return tokens[: self.config.max_train_sequences]

    def model_dir(self, stage_dir: Path, run_id: str) -> Path:
        return layout.model_dir(stage_dir, run_id, self.root)

    def encoder_dir(self, run_id: str) -> Path:
        """The GPT folder of an encoder of stage retention_encoders."""
        folder = self.model_dir(layout.ENCODERS, run_id)
        return folder / layout.ENCODER_SUBDIR if run_id.startswith("autoencoder") else folder

    def train_job(self, stage_dir: Path, run_id: str, spec, objective, tokens: np.ndarray,
                  reference_bits: float, train: TrainConfig) -> TrainJob:
        return TrainJob(
            run_id=run_id, model=spec, objective=objective, tokens=tokens,
            reference_bits=reference_bits, train=train, seed=self.config.seed,
            model_dir=self.model_dir(stage_dir, run_id),
            curve_path=layout.curve_path(stage_dir, run_id, self.root),
            checkpoint_dir=self.root / layout.CHECKPOINTS / run_id,
            data_fingerprint=data_fingerprint(tokens, reference_bits), runtime=self.runtime,
            cost_weight=cost_weight(spec, objective),
        )

    def encoder_config(self, n_positions: int) -> GPTConfig:
        shape = self.config.encoders.model
        return GPTConfig(self.corpus.vocab_size, n_positions, shape.n_layer, shape.d_model,
                         shape.n_head)

    def decoder_shape(self, length: int, reader: ReaderConfig | None = None) -> DecoderShape:
        """The retention decoder (or ``reader``, e.g. the autoencoder's own) at ``length``."""
        reader = reader or self.config.decoder
        d_memory = self.config.encoders.model.d_model
        return DecoderShape(self.corpus.vocab_size, length, d_memory, reader.model.n_layer,
                            reader.model.d_model, reader.model.n_head, reader.input,
                            reader.window_for(d_memory))

    # --- stage retention_encoders -------------------------------------------------------
    def encoder_jobs(self) -> list:
        config, corpus = self.config, self.corpus
        members = self.training()
        lm = self.encoder_config(corpus.seq_len)
        jobs: list = []
        for steps in budget_steps(config):
            if steps == 0:
                jobs.append(InitJob(lm_id(0), lm, config.seed,
                                    self.model_dir(layout.ENCODERS, lm_id(0)), self.runtime))
                continue
            train = config.encoders.lm_train.model_copy(update={"steps": steps})
            jobs.append(self.train_job(
                layout.ENCODERS, lm_id(steps), lm, NextTokenObjective("skip"), members,
                (corpus.seq_len - 1) * self.bits_per_token, train))
        for length in probe_lengths(config):
            spec = AutoencoderSpec(self.encoder_config(length),
                                   self.decoder_shape(length, config.encoders.autoencoder_decoder),
                                   config.encoders.memory_state)
            jobs.append(self.train_job(
                layout.ENCODERS, autoencoder_id(length), spec, ReconstructionObjective(),
                self.training(length), length * self.bits_per_token,
                config.encoders.autoencoder_train))
        return jobs

    # --- stage retention_decoders -------------------------------------------------------
    def probe_job(self, stage_dir: Path, run_id: str, encoder_dir: Path | None,
                  fingerprint: str, length: int) -> TrainJob:
        if encoder_dir is not None:
            check_encoder(encoder_dir, self.corpus, length)
        spec = ProbeSpec(self.decoder_shape(length), self.config.encoders.memory_state,
                         fingerprint, str(encoder_dir) if encoder_dir else "")
        return self.train_job(stage_dir, run_id, spec, ReconstructionObjective(),
                              self.training(length), length * self.bits_per_token,
                              self.config.decoder.train)

    def decoder_jobs(self) -> list[TrainJob]:
        config = self.config
        jobs = []
        for steps in budget_steps(config):
            folder = self.encoder_dir(lm_id(steps))
            jobs.append(self.probe_job(layout.DECODERS, probe_id(lm_id(steps)), folder,
                                       fingerprint_of(folder), config.seq_len))
        for length in probe_lengths(config):
            encoder = autoencoder_id(length)
            parent = self.model_dir(layout.ENCODERS, encoder)
            jobs.append(self.probe_job(layout.DECODERS, probe_id(encoder),
                                       self.encoder_dir(encoder), fingerprint_of(parent),
                                       length))
            jobs.append(self.probe_job(layout.DECODERS, probe_id(NULL, length), None, NULL,
                                       length))
        return jobs

    # --- stage retention_memory ---------------------------------------------------------
    def memory_spec(self, run: MemoryRun) -> MemorySpec:
        config, memory = self.config, self.config.memory
        spec = MemorySpec(self.corpus.vocab_size, memory.n_chunks, memory.chunk_len,
                          memory.decoder.n_layer, memory.decoder.d_model,
                          memory.decoder.n_head, run.memory, config.encoders.memory_state)
        if run.memory == "frozen":
            parent = self.model_dir(layout.ENCODERS, autoencoder_id(memory.chunk_len))
            folder = parent / layout.ENCODER_SUBDIR
            check_encoder(folder, self.corpus, memory.chunk_len)
            spec = replace(spec, encoder_fingerprint=fingerprint_of(parent),
                           encoder_dir=str(folder))
        elif run.memory == "trainable":
            spec = replace(spec, encoder=self.encoder_config(memory.chunk_len))
        return spec

    def memory_job(self, stage_dir: Path, run_id: str, spec: MemorySpec, kind: str,
                   steps: int) -> TrainJob:
        memory = self.config.memory
        objective = MemoryObjective(kind, self.corpus.blank_id, memory.combined_copy)
        tokens = self.training(memory.length)
        scored = memory.length * (2 if kind == "combined" else 1)
        if kind in ("copy", "blank_copy"):
            scored = memory.length // 2
        train = memory.train.model_copy(update={"steps": steps})
        return self.train_job(stage_dir, run_id, spec, objective, tokens,
                              scored * self.bits_per_token, train)

    def memory_jobs(self) -> list[TrainJob]:
        memory = self.config.memory
        jobs = []
        for run in memory.runs:
            spec = self.memory_spec(run)
            if run.objective == "curriculum":
                jobs.append(self.memory_job(layout.MEMORY, phase1_id(run), spec, "blank_copy",
                                            phase1_steps(self.config)))
            else:
                jobs.append(self.memory_job(layout.MEMORY, run.run_id, spec, run.objective,
                                            memory.train.steps))
        return jobs

    # --- stage retention_followup -------------------------------------------------------
    def followup_jobs(self) -> list[TrainJob]:
        memory = self.config.memory
        jobs = []
        for run in memory.runs:
            if run.objective == "curriculum":
                start = self.model_dir(layout.MEMORY, phase1_id(run))
                spec = replace(self.memory_spec(run), init_fingerprint=fingerprint_of(start),
                               init_dir=str(start))
                steps = memory.train.steps - phase1_steps(self.config)
                jobs.append(self.memory_job(layout.FOLLOWUP, run.run_id, spec, "combined",
                                            steps))
        for run in memory.runs:
            # A trainable curriculum run ends in this very stage: its encoder is not probed.
            if run.memory == "trainable" and run.objective != "curriculum":
                folder = self.memory_dir(run)
                jobs.append(self.probe_job(layout.FOLLOWUP, probe_id(run.run_id),
                                           folder / layout.ENCODER_SUBDIR,
                                           fingerprint_of(folder), memory.chunk_len))
        return jobs

    def memory_dir(self, run: MemoryRun) -> Path:
        """Where a memory run's final model is (the curriculum's: its second phase)."""
        stage = layout.FOLLOWUP if run.objective == "curriculum" else layout.MEMORY
        return self.model_dir(stage, run.run_id)
