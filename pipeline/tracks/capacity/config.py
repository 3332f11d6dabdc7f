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
    """V: tokens are drawn uniformly from range(V)."""
    seq_len: Annotated[int, Field(ge=2)]
    """S: tokens per sequence."""
    dataset_sizes: Annotated[list[PositiveInt], Field(min_length=1)]
    """N: training sequences of each dataset; the grid should straddle every shape's capacity."""
    seeds: Annotated[list[Seed], Field(min_length=1)]
    """Each seed changes both the data and the initialization, as in the paper."""
    token_dtype: Literal["uint8", "uint16", "int32"] = "uint16"
    """Integer type of the token Parquet files; must hold V (and the BOS id)."""

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
    """skip: score tokens 2..S (S-1 tokens); bos: prepend a BOS id V and score all S."""
    batch_size: PositiveInt = 512
    """Sequences per scoring forward pass."""


class FitConfig(Section):
    """Capacity fit: α = capacity / parameters by OLS through the origin."""

    confidence: Annotated[float, Field(gt=0, lt=1)] = 0.95
    """Confidence level of α's interval."""


class CapacityConfig(Section):
    """The whole ``capacity`` group."""

    data: DataConfig
    """The uniform-token datasets (stage capacity_data)."""
    models: Annotated[list[ModelConfig], Field(min_length=1)]
    """GPT-2 shapes of the grid; each is trained on every dataset."""
    train: TrainConfig
    """Training of every run (stage capacity_train)."""
    score: ScoreConfig = ScoreConfig()
    """Scoring (stage capacity_score)."""
    fit: FitConfig = FitConfig()
    """The α fit (stage capacity_fit)."""

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
