"""Typed schema of the ``profiles`` group of ``params.yaml``.

``profiles.data`` says which corpus sequences are scored and how often each member is
repeated in training; ``model_source`` picks the trained ladder (``profiles.ladder``) or
Hugging Face folders (``profiles.hf_models``); ``grid`` is the (k, L) grid of the match
score; the rest configures the gate, the analyses and the predictor. Strict, and validated
with the whole file before any stage does work.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from pipeline.core.config import (
    Fraction,
    ModelConfig,
    PositiveInt,
    Section,
    Seed,
    TrackParams,
    TrainConfig,
    unique,
)


class DataConfig(Section):
    """Members (each repeated a known number of times in training) and non-members, drawn
    from the text track's deduplicated member pool and held-out sequences, or from
    pre-tokenized sequences (``source: tokens``, e.g. the Pile as Pythia saw it)."""

    source: Literal["text-corpus", "tokens"] = "text-corpus"
    """text-corpus: the shared corpus's sequences (data/corpus) | tokens: Parquet files of
    pre-tokenized sequences at members_path and nonmembers_path."""
    members_path: str | None = None
    """tokens only: Parquet file of member sequences (a list of token ids per row)."""
    nonmembers_path: str | None = None
    """tokens only: Parquet file of non-member sequences."""
    token_column: str = "tokens"
    """tokens only: the column holding the token ids."""
    vocab_size: PositiveInt | None = None
    """tokens only: the tokenizer's vocabulary size (the models' must not be smaller)."""

    repetitions: Annotated[list[PositiveInt], Field(min_length=1)] = [1, 2, 4, 8, 16]
    """Times a member appears in the training set; members are stratified evenly over them."""
    members_per_repetition: PositiveInt = 100
    """Members drawn for each repetition count (unless ``counts`` is given)."""
    counts: list[PositiveInt] | None = None
    """Members drawn for each repetition count, one per entry of the (ascending)
    ``repetitions``; null = ``members_per_repetition`` for each."""
    unscored_members: Annotated[int, Field(ge=0)] | Literal["rest"] = 0
    """Further member-pool sequences trained on once and never scored (the 1x stratum stands
    for them): they fill the training stream, so that a repeated member's share of it, which
    decides whether it is memorized (docs/profiles.md), is small and the models see enough
    text to generalize. rest = the whole remaining pool."""
    nonmembers: PositiveInt = 500
    """Held-out sequences scored beside the members (the generalization control)."""
    seed: Seed = 0
    """Seed of the draw of members and non-members."""

    @field_validator("repetitions")
    @classmethod
    def _unique(cls, value: list[int]) -> list[int]:
        unique("repetitions", value)
        return sorted(value)

    def per_repetition(self) -> list[int]:
        """Members drawn for each entry of ``repetitions``."""
        return list(self.counts) if self.counts else [self.members_per_repetition] * len(
            self.repetitions)

    @model_validator(mode="after")
    def _counts_match(self) -> DataConfig:
        if self.counts is not None and len(self.counts) != len(self.repetitions):
            raise ValueError(f"data.counts has {len(self.counts)} entries, data.repetitions "
                             f"{len(self.repetitions)}")
        return self

    @model_validator(mode="after")
    def _tokens_need_files(self) -> DataConfig:
        if self.source == "tokens":
            missing = [name for name in ("members_path", "nonmembers_path", "vocab_size")
                       if getattr(self, name) is None]
            if missing:
                raise ValueError(f'source "tokens" needs data.{", data.".join(missing)}')
        return self


class GridConfig(Section):
    """The (k, L) grid: L varies at k = ``k``, k varies at L = ``length``; (k, length) is
    the cell the gate, transitions, boundary, embeddings and predictor use."""

    k: PositiveInt = 32
    """Context tokens of the main cell (the paper: 32)."""
    length: PositiveInt = 16
    """Continuation tokens L of the main cell (the paper: 16)."""
    lengths: Annotated[list[PositiveInt], Field(min_length=1)] = [8, 16, 32]
    """Continuation lengths L scored at k = grid.k."""
    contexts: Annotated[list[PositiveInt], Field(min_length=1)] = [8, 16, 32, 48]
    """Context lengths k scored at L = grid.length."""

    @field_validator("lengths", "contexts")
    @classmethod
    def _unique(cls, value: list[int]) -> list[int]:
        unique("values", value)
        return sorted(value)

    @model_validator(mode="after")
    def _main_cell_in_grid(self) -> GridConfig:
        if self.length not in self.lengths:
            raise ValueError(f"grid.length={self.length} must be one of grid.lengths")
        if self.k not in self.contexts:
            raise ValueError(f"grid.k={self.k} must be one of grid.contexts")
        return self

    def cells(self) -> list[tuple[int, int]]:
        """Every (k, L) scored, the main cell once."""
        cells = [(self.k, length) for length in self.lengths]
        cells += [(k, self.length) for k in self.contexts if k != self.k]
        return sorted(cells)

    @property
    def longest(self) -> int:
        """k + L of the longest cell: the sequences must have at least this many tokens."""
        return max(k + length for k, length in self.cells())


class GateConfig(Section):
    """The degeneracy gate at the main cell (docs/science.md §3, the trap), per model: a
    model's members must spread over the levels of M before its profile means anything."""

    min_per_level: PositiveInt = 30
    """A level counts as populated with at least this many members (and a level-wise
    statistic is computed only on levels this full)."""
    min_levels: Annotated[int, Field(ge=2, le=5)] = 3
    """A passing model has at least this many of the five levels populated."""
    min_models: PositiveInt = 2
    """At least this many models must pass (a trend across sizes needs two)."""


class PredictorConfig(Section):
    """The memorization predictor: a Transformer encoder over the LM's last-layer hidden
    states plus per-position entropy, one memorized / not label per continuation token."""

    n_layer: PositiveInt = 2
    """Encoder layers (the paper: 4)."""
    n_head: PositiveInt = 4
    """Attention heads; must divide the LM's width (the paper: 8)."""
    epochs: PositiveInt = 30
    """Training epochs; the epoch is chosen on the validation split (the paper: ≤ 30)."""
    batch_size: PositiveInt = 64
    """Sequences per step (the paper: 128)."""
    lr: Annotated[float, Field(gt=0)] = 1e-3
    """Adam learning rate (the paper: 1e-4)."""
    max_per_level: PositiveInt = 2000
    """At most this many sequences per level M = i/L (the paper: 2,000)."""
    min_per_level: PositiveInt = 2
    """A level with fewer sequences than this (and more than none) stops the stage."""
    exclude_full: bool = True
    """Leave out sequences at M = 1, as the paper does."""
    validation_fraction: Annotated[float, Field(gt=0, lt=1)] = 0.2
    """Share of sequences for choosing the epoch."""
    test_fraction: Annotated[float, Field(gt=0, lt=1)] = 0.2
    """Share of sequences held out for the reported accuracy."""
    cross_batch_attention: bool = False
    """true reproduces the original's bug: a batch_first=False encoder fed [batch, time,
    width], so it attends across the batch instead of along the sequence."""
    seed: Seed = 0
    """Seed of the split and the initialization."""

    @model_validator(mode="after")
    def _splits_leave_training(self) -> PredictorConfig:
        if self.validation_fraction + self.test_fraction >= 0.9:
            raise ValueError("validation_fraction + test_fraction must leave at least 10% for "
                             "training")
        return self


class ProfilesConfig(Section):
    """The profiles track (Chen, Han, Miyao 2024)."""

    data: DataConfig = DataConfig()
    """Members, repetitions and non-members (stage profiles_data)."""
    model_source: Literal["ladder", "hf"] = "ladder"
    """ladder: train profiles.ladder on the members | hf: score the Hugging Face causal-LM
    folders in profiles.hf_models (their tokenizer must be the corpus's)."""
    ladder: Annotated[list[ModelConfig], Field(min_length=1)]
    """GPT-2 shapes of the ladder, smallest first (ladder only)."""
    hf_models: list[str] = []
    """hf only: local Hugging Face causal-LM folders, smallest first."""
    train: TrainConfig
    """Training of the ladder (stage profiles_train)."""
    grid: GridConfig = GridConfig()
    """The (k, L) grid of the match score (stage profiles_score)."""
    precision: Literal["fp32", "fp16", "bf16"] = "fp32"
    """Dtype the scored models run in (the paper: fp16, on a GPU)."""
    score_batch_size: PositiveInt = 256
    """Sequences per decoding batch."""
    gate: GateConfig = GateConfig()
    """The degeneracy gate."""
    boundary_levels: Annotated[list[Fraction], Field(min_length=1)] = [0.0, 0.25, 0.5, 1.0]
    """Values of M whose sequences the boundary-effect curves follow (M is a multiple of
    1/L, so each must be one)."""
    predictor: PredictorConfig = PredictorConfig()
    """The memorization predictor (stage profiles_predictor)."""

    @field_validator("ladder")
    @classmethod
    def _unique_shapes(cls, value: list[ModelConfig]) -> list[ModelConfig]:
        unique("ladder", [c.name for c in value])
        return value

    @model_validator(mode="after")
    def _check(self) -> ProfilesConfig:
        if self.model_source == "hf" and not self.hf_models:
            raise ValueError('model_source "hf" needs profiles.hf_models (local folders)')
        sizes = self.hf_models if self.model_source == "hf" else self.ladder
        if len(sizes) < self.gate.min_models:
            raise ValueError(f"gate.min_models={self.gate.min_models} exceeds the "
                             f"{len(sizes)} models to score")
        off_grid = [m for m in self.boundary_levels
                    if abs(m * self.grid.length - round(m * self.grid.length)) > 1e-9]
        if off_grid:
            raise ValueError(f"boundary_levels {off_grid} are not multiples of "
                             f"1/grid.length = 1/{self.grid.length}")
        if self.grid.length % 2:
            raise ValueError(f"grid.length={self.grid.length} must be even (the boundary "
                             "marker k + L/2)")
        return self


class ProfilesParams(TrackParams):
    """What the profiles stages read of ``params.yaml``."""

    profiles: ProfilesConfig
