"""Typed schema of the ``text`` group of ``params.yaml``: which models are trained on the
shared corpus's sequences (the ``corpus`` group says how those are made) and how they are
probed. Strict (unknown keys and wrong types are rejected), and validated with the whole file
before any stage does work.
"""

from __future__ import annotations

import math
from typing import Annotated

from pydantic import Field, field_validator

from pipeline.core.config import (
    ModelConfig,
    PositiveInt,
    Section,
    Seed,
    TrackParams,
    TrainConfig,
    unique,
)
from pipeline.core.errors import ConfigError


class GroundTruthConfig(Section):
    """The estimator check: text from a random Markov chain, whose code lengths are known
    exactly, through the text track's reference and grid machinery (stage
    text_ground_truth)."""

    vocab_size: Annotated[int, Field(ge=2, le=65_536)] = 64
    """V of the chain."""
    seq_len: Annotated[int, Field(ge=4)] = 64
    """Tokens per sequence."""
    concentration: Annotated[float, Field(gt=0)] = 0.1
    """Dirichlet concentration of each transition row: small gives peaked, text-like rows."""
    seed: Seed = 0
    """Seed of the chain, its samples, and the models."""
    reference_sequences: PositiveInt = 8192
    """Size of the reference's own pool (disjoint draws from the chain)."""
    dataset_sizes: Annotated[list[PositiveInt], Field(min_length=1)] = [64, 256, 1024]
    """N of the models whose mem_U is estimated and computed exactly."""
    heldout_sequences: PositiveInt = 1024
    """Held-out draws from the chain (disjoint from the members and the reference's pool):
    the calibration's control, scored by every model as the text track scores its
    non-members."""
    model: ModelConfig = ModelConfig(n_layer=1, d_model=32, n_head=2)
    """Shape of the models trained on N members (with ``text.train``)."""
    reference_model: ModelConfig = ModelConfig(n_layer=2, d_model=32, n_head=2)
    """Shape of the reference (with ``text.reference_train``)."""

    @field_validator("dataset_sizes")
    @classmethod
    def _unique_sizes(cls, value: list[int]) -> list[int]:
        unique("values", value)
        return value


class IdenticalCapacityConfig(Section):
    """The capacity of each text shape on uniform tokens of the corpus's own vocabulary and
    sequence length, trained with ``text.train`` (stage text_capacity)."""

    dataset_sizes: Annotated[list[PositiveInt], Field(min_length=2)]
    """N of uniform sequences per shape; must straddle the capacity (the largest ``mem_U``
    should not sit at an N memorized ≥ 95%)."""
    seed: Seed = 0
    """Seed of the uniform tokens and of the models."""

    @field_validator("dataset_sizes")
    @classmethod
    def _unique_sizes(cls, value: list[int]) -> list[int]:
        unique("values", value)
        return value


class PlateauConfig(Section):
    """Whether the runs around each shape's peak are at their plateau in steps (stage
    text_plateau): they are trained again for ``steps_factor`` times ``text.train.steps``."""

    steps_factor: Annotated[float, Field(gt=0)] = 2.0
    """The check's runs train this many times the grid's steps (same data, seed and schedule
    shape). Above 1 it asks whether more steps would help; below 1, whether the grid's last
    steps did, which is far stricter (on the default, 1,250 against 2,500 steps gained 11% and
    24% where 5,000 against 2,500 gained +1% and −3%)."""
    tolerance: Annotated[float, Field(gt=0, lt=1)] = 0.05
    """At its plateau: the longer of the two runs memorizes less than this share more."""

    @field_validator("steps_factor")
    @classmethod
    def _not_one(cls, value: float) -> float:
        if value == 1:
            raise ValueError("must differ from 1 (the check compares two step budgets)")
        return value


class CalibrationConfig(Section):
    """The held-out control of summed memorization (docs/science.md §2.2c): the same
    estimator on the test non-members, scaled to N and subtracted."""

    max_scale: Annotated[float, Field(ge=1)] = 4.0
    """The held-out total may be scaled up at most this many times: every N must have at least
    N / max_scale held-out sequences (checked before training)."""
    resamples: Annotated[int, Field(ge=100)] = 1000
    """Bootstrap resamples of every interval over sequences (calibration, F1, AUC)."""


class TextConfig(Section):
    """The text model grid, its references, and the probes run on every model."""

    configs: Annotated[list[ModelConfig], Field(min_length=1)]
    """GPT-2 shapes of the text grid (the paper: 8 layers × d ∈ {32, 64, 128, 256})."""
    dataset_sizes: Annotated[list[PositiveInt], Field(min_length=1)]
    """N: training sequences of each run, drawn from the member pool."""
    seeds: Annotated[list[Seed], Field(min_length=1)]
    """Each seed draws its own training subsets and initialization."""
    x_reach: Annotated[float, Field(ge=0)] = 30.0
    """Before training, the largest N must hold at least this many times each shape's
    capacity (x = oracle bits / (3.64 × params)), so the double-descent axis is resolved;
    0 turns the check off."""
    oracle_configs: Annotated[list[ModelConfig], Field(min_length=1)]
    """Oracle candidates, trained on the whole reference pool; the lowest validation loss
    wins."""
    train: TrainConfig
    """Training of the grid (stage text_train)."""
    reference_train: TrainConfig
    """Training of the references (stage text_reference) and of the ground truth's
    reference."""
    extraction_prefixes: Annotated[list[PositiveInt], Field(min_length=1)] = [8, 16, 32]
    """Prefix lengths k from which greedy decoding must reproduce the rest of a sequence."""
    max_extraction_sequences: PositiveInt = 10_000
    """Extraction is measured on at most this many sequences per split."""
    attack_calibration_fraction: Annotated[float, Field(gt=0, lt=1)] = 0.5
    """The membership attack chooses its loss threshold on this share and reports F1 on the
    rest."""
    score_batch_size: PositiveInt = 256
    """Sequences per scoring forward pass."""
    top_memorized: Annotated[int, Field(ge=0)] = 10
    """The report quotes this many most memorized sequences."""
    confidence: Annotated[float, Field(gt=0, lt=1)] = 0.95
    """Confidence level of every interval (calibrated memorization, attack scores, the
    membership law)."""
    calibration: CalibrationConfig = CalibrationConfig()
    """The held-out control of summed memorization."""
    ground_truth: GroundTruthConfig
    """The estimator checked against a Markov chain's exact code lengths (stage
    text_ground_truth)."""
    identical_capacity: IdenticalCapacityConfig
    """Each shape's capacity on uniform tokens of the same V and S (stage text_capacity)."""
    plateau: PlateauConfig = PlateauConfig()
    """The runs around each peak retrained for longer: is the peak a step budget? (stage
    text_plateau)."""

    @field_validator("configs", "oracle_configs")
    @classmethod
    def _unique_shapes(cls, value: list[ModelConfig]) -> list[ModelConfig]:
        unique("shapes", [c.name for c in value])
        return value

    @field_validator("dataset_sizes", "seeds", "extraction_prefixes")
    @classmethod
    def _unique_values(cls, value: list[int]) -> list[int]:
        unique("values", value)
        return value

    @field_validator("dataset_sizes")
    @classmethod
    def _at_least_two(cls, value: list[int]) -> list[int]:
        if min(value) < 2:
            raise ValueError("each N must be at least 2 (the membership attack splits members "
                             "into calibration and evaluation halves)")
        return value

    def check_heldout(self, heldout: int) -> None:
        """Every N can be calibrated against the held-out pool without scaling its total up
        more than ``calibration.max_scale`` times (the error names the keys and numbers)."""
        need = {n: math.ceil(n / self.calibration.max_scale) for n in self.dataset_sizes}
        short = {n: k for n, k in need.items() if k > heldout}
        if short:
            n = max(short)
            raise ConfigError(
                f"text.dataset_sizes, text.calibration.max_scale: N = {n:,} needs at least "
                f"{short[n]:,} held-out sequences (N / max_scale = {n:,} / "
                f"{self.calibration.max_scale:g}) for its calibration, but the corpus's "
                f"held-out pool has {heldout:,}; lower N, raise max_scale, or give the corpus "
                "more held-out documents (corpus.holdout_fraction, corpus.max_holdout)")

    def check_corpus(self, seq_len: int) -> None:
        """Every extraction prefix leaves at least one token of a corpus sequence to extract."""
        too_long = [k for k in self.extraction_prefixes if k >= seq_len]
        if too_long:
            raise ValueError(f"text.extraction_prefixes {too_long} must be shorter than "
                             f"corpus.seq_len={seq_len} (a prefix needs a token left to extract)")


class TextParams(TrackParams):
    """What the text stages read of ``params.yaml``."""

    text: TextConfig
