"""Typed schema of the ``retention`` group of ``params.yaml`` (Badger 2026, docs/science.md §4).

Three parts: the encoders whose memories are probed (causal LMs at several budgets, an
autoencoder), the one retention decoder trained on every encoder's frozen memory, and the
memory models. Strict, and validated with the whole file before any stage does work; what
needs the corpus (lengths against its sequence length) is checked when a stage starts.
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

MemoryState = Literal["pre_norm", "post_norm"]
Objective = Literal["causal", "copy", "blank_copy", "combined", "curriculum"]
MemorySource = Literal["frozen", "trainable", "none"]


class ReaderConfig(Section):
    """A retention decoder's shape and how it reads the one memory vector."""

    model: ModelConfig
    """Shape of the decoder's Transformer stack (bidirectional attention)."""
    input: Literal["unroll", "broadcast"] = "unroll"
    """unroll: position i reads the window of the memory starting at dimension i mod d
    (wrapping), through one shared projection (the original) | broadcast: every position
    reads the whole memory through one projection."""
    window: PositiveInt | None = None
    """unroll only: window width in memory dimensions; null = d/2 as in the original."""

    def window_for(self, d_memory: int) -> int:
        """Memory dimensions each position reads (all of them when broadcast)."""
        if self.input == "broadcast":
            return d_memory
        return self.window or max(1, d_memory // 2)

    def check(self, d_memory: int, key: str) -> None:
        window = self.window_for(d_memory)
        if self.input == "unroll" and window > d_memory:
            raise ValueError(f"{key}.window={window} exceeds the memory's width "
                             f"encoders.model.d_model={d_memory}")
        if self.input == "unroll" and self.model.d_model < window:
            raise ValueError(f"{key}.model.d_model={self.model.d_model} is narrower than the "
                             f"unroll window {key}.window={window}")


class DecoderConfig(ReaderConfig):
    """The retention decoder: the same architecture, steps and learning rate for every
    encoder (stage retention_decoders)."""

    train: TrainConfig
    """Training of each decoder (the encoder is frozen)."""


class EncodersConfig(Section):
    """The encoders whose last-token memories are probed (stage retention_encoders)."""

    model: ModelConfig
    """Shape of every encoder (causal LMs and the autoencoder's encoder): a GPT-2."""
    memory_state: MemoryState = "pre_norm"
    """The memory is the last token's final hidden state: pre_norm = before the final layer
    norm (the original code), post_norm = after it."""
    lm_budgets: Annotated[list[Fraction], Field(min_length=1)] = [0.0, 0.25, 1.0]
    """Training budgets of the causal LMs, as fractions of lm_train.steps (0 = untrained)."""
    lm_train: TrainConfig
    """Training of the causal LMs (next-token loss on the text pool's whole sequences)."""
    autoencoder_decoder: ReaderConfig
    """The autoencoder's own decoder, trained jointly with its encoder (its own setting, so
    that a new retention-decoder setting retrains no encoder)."""
    autoencoder_train: TrainConfig
    """Training of the autoencoder (encoder and its decoder jointly, to regenerate the input)."""

    @field_validator("lm_budgets")
    @classmethod
    def _unique_budgets(cls, value: list[float]) -> list[float]:
        unique("values", value)
        return sorted(value)


class MemoryRun(Section):
    """One memory model: an objective and where its memories come from."""

    objective: Objective
    """causal | copy (the second half repeats the first; loss on it) | blank_copy (the second
    half's input is blank; its target is the first half) | combined (causal + the copy
    objective named by memory.combined_copy, summed) | curriculum (blank_copy, then combined)."""
    memory: MemorySource = "frozen"
    """frozen: the autoencoder's encoder, frozen | trainable: a fresh encoder trained with
    the decoder | none: no memories (the baseline)."""

    @property
    def run_id(self) -> str:
        return f"{self.objective.replace('_', '-')}-{self.memory}"


class MemoryConfig(Section):
    """Memory models over several chunks (stages retention_memory, retention_followup)."""

    n_chunks: Annotated[int, Field(ge=2)] = 4
    """Chunks per input; each chunk's memory is one encoder embedding. Even (copy halves)."""
    chunk_len: Annotated[int, Field(ge=2)] = 16
    """Tokens per chunk; n_chunks × chunk_len must fit in the corpus's sequence length."""
    decoder: ModelConfig
    """Shape of the memory model's causal decoder."""
    combined_copy: Literal["copy", "blank_copy"] = "blank_copy"
    """The copy objective that combined (and the curriculum's second phase) adds to causal."""
    curriculum_fraction: Annotated[float, Field(gt=0, lt=1)] = 0.5
    """Share of train.steps the curriculum spends on blank_copy before switching to combined
    (the paper: 100k of 200k)."""
    runs: Annotated[list[MemoryRun], Field(min_length=1)]
    """The memory models trained."""
    train: TrainConfig
    """Training of each memory model (the curriculum's two phases sum to train.steps)."""

    @field_validator("n_chunks")
    @classmethod
    def _even(cls, value: int) -> int:
        if value % 2:
            raise ValueError(f"must be even (copy objectives repeat the first half), got {value}")
        return value

    @field_validator("runs")
    @classmethod
    def _unique_runs(cls, value: list[MemoryRun]) -> list[MemoryRun]:
        unique("runs", [run.run_id for run in value])
        return value

    @property
    def length(self) -> int:
        return self.n_chunks * self.chunk_len


class RetentionConfig(Section):
    """Badger 2026: retention of a sequence in one embedding, and memory models."""

    seq_len: Annotated[int, Field(ge=2)] = 16
    """n: tokens each probed encoder embeds; sequences are cut, without overlap, from the text
    pool's sequences (members for training, non-members held out)."""
    max_train_sequences: PositiveInt | None = 16384
    """Training sequences of every model, the first of the member pool's cut sequences; null =
    all. Bounds the cost of the trainer's evaluations, which score the whole training set."""
    max_eval_sequences: PositiveInt = 1000
    """Held-out and training sequences scored per model (at most)."""
    eval_batch_size: PositiveInt = 256
    """Sequences per evaluation forward pass."""
    seed: Seed = 0
    """Seed of every initialization and data order in the track."""
    encoders: EncodersConfig
    """The probed encoders."""
    decoder: DecoderConfig
    """The retention decoder."""
    memory: MemoryConfig
    """The memory models."""

    @model_validator(mode="after")
    def _check(self) -> RetentionConfig:
        d_memory = self.encoders.model.d_model
        self.decoder.check(d_memory, "decoder")
        self.encoders.autoencoder_decoder.check(d_memory, "encoders.autoencoder_decoder")
        return self


class RetentionParams(TrackParams):
    """What the retention stages read of ``params.yaml``."""

    retention: RetentionConfig
