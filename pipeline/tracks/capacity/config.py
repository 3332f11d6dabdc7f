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
from pipeline.core.model import count_params

# Morris et al. 2025's bits per parameter (docs/science.md §1): what a grid is sized against
# before any training, since our own α is not known yet.
PAPER_ALPHA = 3.64
# A shape's largest dataset must hold this many times its expected capacity, so that the
# maximum over N is set by the model, not by the data (issue 21).
GRID_REACH = 2.0

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


class CapacityModel(ModelConfig):
    """One GPT-2 shape of the capacity grid, with the dataset sizes it trains on."""

    dataset_sizes: list[PositiveInt] | None = None
    """N this shape trains on, a subset of data.dataset_sizes (sizes around its capacity: a
    shape gains nothing from datasets far from it); null: all of data.dataset_sizes."""


class PlateauConfig(Section):
    """The direct plateau test (stage capacity_plateau): each shape's capacity-defining runs
    (its N at capacity, the first ``seeds`` seeds) are trained again for ``steps_factor`` ×
    the steps; a shape is at its plateau when the longer runs memorize, on average, less than
    ``tolerance`` more (relative)."""

    steps_factor: Annotated[float, Field(gt=1)] = 2.0
    """The check trains this many times the grid's steps."""
    tolerance: Annotated[float, Field(gt=0)] = 0.03
    """Largest mean relative gain of the longer runs for a shape to be at its plateau. The
    end value of one run moves by about ±2% between step budgets at one seed
    (docs/capacity.md), so a tolerance below that would reject plateaued shapes by noise."""
    seeds: PositiveInt = 1
    """How many of data.seeds (the first ones) are trained again."""


class FitConfig(Section):
    """Capacity fit: α = capacity / parameters by OLS through the origin, over the shapes that
    qualify (not data-limited, grid reaching 2× capacity, at their plateau)."""

    confidence: Annotated[float, Field(gt=0, lt=1)] = 0.95
    """Confidence level of α's interval."""
    bootstrap_resamples: Annotated[int, Field(ge=100)] = 4000
    """Resamples of α's bootstrap over shapes and, within each, seeds."""


class CapacityConfig(Section):
    """The whole ``capacity`` group."""

    data: DataConfig
    """The uniform-token datasets (stage capacity_data)."""
    models: Annotated[list[CapacityModel], Field(min_length=1)]
    """GPT-2 shapes of the grid; each is trained on its dataset sizes and every seed."""
    train: TrainConfig
    """Training of every run (stage capacity_train)."""
    score: ScoreConfig = ScoreConfig()
    """Scoring (stage capacity_score)."""
    plateau: PlateauConfig = PlateauConfig()
    """The direct plateau test (stage capacity_plateau)."""
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

    def grid_problem(self) -> str | None:
        """What makes the grid unfit, as one line naming the key and the numbers, or None
        (checked with the whole params file, before any work: ``Track.check``)."""
        if self.plateau.seeds > len(self.data.seeds):
            return (f"capacity.plateau.seeds: {self.plateau.seeds} seeds to train again, but "
                    f"capacity.data.seeds has only {len(self.data.seeds)}")
        for i, model in enumerate(self.models):
            problem = self._sizes_problem(i, model)
            if problem:
                return problem
        return None

    def _sizes_problem(self, i: int, model: CapacityModel) -> str | None:
        """The shape's N are in data.dataset_sizes and the largest reaches GRID_REACH × its
        expected capacity (PAPER_ALPHA × params)."""
        sizes = self.sizes_of(model)
        unknown = sorted(set(sizes) - set(self.data.dataset_sizes))
        if unknown:
            return (f"capacity.models[{i}].dataset_sizes: {unknown} are not in "
                    f"capacity.data.dataset_sizes {self.data.dataset_sizes}")
        if len(set(sizes)) < len(sizes):
            return f"capacity.models[{i}].dataset_sizes has duplicates: {sizes}"
        params = self.parameter_count(model)
        needed = GRID_REACH * PAPER_ALPHA * params
        held = max(sizes) * self.sequence_entropy_bits
        if held < needed:
            key = (f"capacity.models[{i}].dataset_sizes" if model.dataset_sizes
                   else "capacity.data.dataset_sizes")
            return (
                f"{key}: {model.name} ({params:,} params) needs a largest N holding "
                f"{GRID_REACH:g} × {PAPER_ALPHA} × {params:,} = {needed:,.0f} bits (N ≥ "
                f"{math.ceil(needed / self.sequence_entropy_bits):,}), but N = {max(sizes):,} "
                f"holds {held:,.0f}")
        return None

    def sizes_of(self, model: ModelConfig) -> list[int]:
        """The dataset sizes N a shape trains on."""
        own = getattr(model, "dataset_sizes", None)
        return sorted(own if own else self.data.dataset_sizes)

    def parameter_count(self, model: ModelConfig) -> int:
        return count_params(self.model_vocab_size, self.data.seq_len, model.n_layer,
                            model.d_model)

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
