"""Typed schema of the ``capacity`` group of ``params.yaml``."""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import Field, model_validator

from pipeline.core.config import (
    ModelConfig,
    PositiveInt,
    Section,
    Seed,
    TrackParams,
    TrainConfig,
    unique,
)

TOKEN_DTYPE_MAX = {"uint8": 2**8, "uint16": 2**16, "int32": 2**31 - 1}


class DataConfig(Section):
    """Uniform i.i.d. token datasets, one per (N, seed)."""

    vocab_size: Annotated[int, Field(ge=2)]
    seq_len: Annotated[int, Field(ge=2)]
    dataset_sizes: Annotated[list[PositiveInt], Field(min_length=1)]
    seeds: Annotated[list[Seed], Field(min_length=1)]
    token_dtype: Literal["uint8", "uint16", "int32"] = "uint16"

    @model_validator(mode="after")
    def _check(self) -> DataConfig:
        unique("dataset_sizes", self.dataset_sizes)
        unique("seeds", self.seeds)
        return self


class ScoreConfig(Section):
    """How sequences are scored. ``first_token``: ``skip`` scores tokens 2..S (a causal LM
    without BOS cannot predict token 1: S−1 scored tokens, 693 bits at V=2048, S=64);
    ``bos`` prepends a BOS token (id V) in training and scoring, so all S tokens count."""

    first_token: Literal["skip", "bos"] = "skip"
    batch_size: PositiveInt = 512


class FitConfig(Section):
    """Capacity fit: α = capacity / parameters by OLS through the origin."""

    confidence: Annotated[float, Field(gt=0, lt=1)] = 0.95


class CapacityConfig(Section):
    """The whole ``capacity`` group."""

    data: DataConfig
    models: Annotated[list[ModelConfig], Field(min_length=1)]
    train: TrainConfig
    score: ScoreConfig = ScoreConfig()
    fit: FitConfig = FitConfig()

    @model_validator(mode="after")
    def _check(self) -> CapacityConfig:
        unique("models", [c.name for c in self.models])
        limit = TOKEN_DTYPE_MAX[self.data.token_dtype]
        if self.model_vocab_size > limit:
            raise ValueError(
                f"data.vocab_size: {self.model_vocab_size} token ids (BOS included) do not "
                f"fit data.token_dtype={self.data.token_dtype} (at most {limit})"
            )
        return self

    @property
    def model_vocab_size(self) -> int:
        """Vocabulary the model sees: V, plus one BOS id when ``score.first_token == 'bos'``."""
        return self.data.vocab_size + (self.score.first_token == "bos")

    @property
    def scored_tokens(self) -> int:
        return self.data.seq_len - (self.score.first_token == "skip")

    @property
    def sequence_entropy_bits(self) -> float:
        """H(x) of one uniform sequence over the scored tokens: n · log2 V."""
        return self.scored_tokens * math.log2(self.data.vocab_size)


class CapacityParams(TrackParams):
    """What the capacity stages read of ``params.yaml``."""

    capacity: CapacityConfig
