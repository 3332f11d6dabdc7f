"""Typed schema for ``params.yaml``: every stage validates the whole file before doing any work.

Each top-level group belongs to one stage (``synthetic`` → data, ``train`` → training, ...),
as in iterative/example-get-started. Unknown keys, wrong types and impossible values raise
:class:`ConfigError` naming the key and the reason.
"""

from __future__ import annotations

import math
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

PARAMS_FILE = "params.yaml"

PositiveInt = Annotated[int, Field(gt=0)]
PositiveFloat = Annotated[float, Field(gt=0)]
Fraction = Annotated[float, Field(ge=0, le=1)]

TOKEN_DTYPE_MAX = {"uint8": 2**8, "uint16": 2**16, "int32": 2**31 - 1}


class ConfigError(ValueError):
    """Invalid parameters; the message names the key and the reason."""


class Section(BaseModel):
    """Base for every params group: strict types, no unknown keys, immutable."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class ModelConfig(Section):
    """One GPT-2 shape. Heads are not stated in the paper; they change no parameter count."""

    n_layer: PositiveInt
    d_model: PositiveInt
    n_head: PositiveInt

    @model_validator(mode="after")
    def _heads_divide_width(self) -> ModelConfig:
        if self.d_model % self.n_head:
            raise ValueError(
                f"d_model={self.d_model} is not divisible by n_head={self.n_head}"
            )
        return self

    @property
    def name(self) -> str:
        return f"L{self.n_layer}-D{self.d_model}"


class SyntheticConfig(Section):
    """Uniform i.i.d. token datasets, one per (N, seed)."""

    vocab_size: Annotated[int, Field(ge=2)]
    seq_len: Annotated[int, Field(ge=2)]
    dataset_sizes: Annotated[list[PositiveInt], Field(min_length=1)]
    seeds: Annotated[list[Annotated[int, Field(ge=0)]], Field(min_length=1)]
    token_dtype: Literal["uint8", "uint16", "int32"] = "uint16"

    @model_validator(mode="after")
    def _check(self) -> SyntheticConfig:
        _unique("dataset_sizes", self.dataset_sizes)
        _unique("seeds", self.seeds)
        return self


class ModelsConfig(Section):
    """The grid of model shapes trained on every synthetic dataset."""

    configs: Annotated[list[ModelConfig], Field(min_length=1)]

    @model_validator(mode="after")
    def _check(self) -> ModelsConfig:
        _unique("configs", [c.name for c in self.configs])
        return self


class ConvergenceConfig(Section):
    """A run has converged when memorization rose less than ``tolerance`` (relative) over the
    last ``window`` of training, or when it memorized ``full_fraction`` of H(X)."""

    window: Annotated[float, Field(gt=0, lt=1)] = 0.2
    tolerance: PositiveFloat = 0.02
    full_fraction: Annotated[float, Field(gt=0, le=1)] = 0.99


class TrainConfig(Section):
    """Optimizer, schedule, precision and grid execution."""

    steps: PositiveInt
    batch_size: PositiveInt
    # Sequences per forward/backward pass; gradients accumulate to batch_size, so the update
    # is the same up to rounding. Smaller passes keep the logits in cache on a CPU (and in
    # memory on a GPU). None: the whole batch at once.
    micro_batch_size: PositiveInt | None = None
    lr: PositiveFloat
    min_lr_ratio: Fraction = 0.1
    warmup_fraction: Annotated[float, Field(ge=0, lt=1)] = 0.05
    weight_decay: Annotated[float, Field(ge=0)] = 0.0
    beta1: Annotated[float, Field(ge=0, lt=1)] = 0.9
    beta2: Annotated[float, Field(ge=0, lt=1)] = 0.98
    grad_clip: PositiveFloat = 1.0
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    compile: bool = False
    early_stop: bool = True
    eval_points: Annotated[int, Field(ge=2)] = 20
    checkpoint_every: PositiveInt = 1000
    workers: PositiveInt = 1
    threads_per_worker: PositiveInt = 1
    convergence: ConvergenceConfig = ConvergenceConfig()


class ScoreConfig(Section):
    """How sequences are scored. ``first_token``: ``skip`` scores tokens 2..S (a causal LM
    without BOS cannot predict token 1: S−1 scored tokens, 693 bits at V=2048, S=64);
    ``bos`` prepends a BOS token (id V) in training and scoring, so all S tokens count."""

    first_token: Literal["skip", "bos"] = "skip"
    batch_size: PositiveInt = 512


class FitConfig(Section):
    """Capacity fit: α = capacity / parameters by OLS through the origin."""

    confidence: Annotated[float, Field(gt=0, lt=1)] = 0.95


# The text-track groups subclass the sections above, so they are imported only now; the
# pipeline.text package imports this module first, which keeps either import order working.
from pipeline.text.config import (  # noqa: E402
    CorpusConfig,
    TextConfig,
    check_text_against_corpus,
)


class Params(Section):
    """The whole ``params.yaml``."""

    synthetic: SyntheticConfig
    models: ModelsConfig
    train: TrainConfig
    score: ScoreConfig = ScoreConfig()
    fit: FitConfig = FitConfig()
    corpus: CorpusConfig
    text: TextConfig

    @model_validator(mode="after")
    def _cross_checks(self) -> Params:
        vocab = self.model_vocab_size
        limit = TOKEN_DTYPE_MAX[self.synthetic.token_dtype]
        if vocab > limit:
            raise ValueError(
                f"synthetic.vocab_size: {vocab} token ids (BOS included) do not fit "
                f"synthetic.token_dtype={self.synthetic.token_dtype} (at most {limit})"
            )
        check_text_against_corpus(self.corpus, self.text)
        return self

    @property
    def model_vocab_size(self) -> int:
        """Vocabulary the model sees: V, plus one BOS id when ``score.first_token == 'bos'``."""
        return self.synthetic.vocab_size + (self.score.first_token == "bos")

    @property
    def scored_tokens(self) -> int:
        return self.synthetic.seq_len - (self.score.first_token == "skip")

    @cached_property
    def sequence_entropy_bits(self) -> float:
        """H(x) of one uniform sequence over the scored tokens: n · log2 V."""
        return self.scored_tokens * math.log2(self.synthetic.vocab_size)


def _unique(key: str, values: list) -> None:
    duplicates = sorted({v for v in values if values.count(v) > 1}, key=str)
    if duplicates:
        raise ValueError(f"{key} has duplicates: {duplicates}")


def format_validation_error(error: ValidationError, source: str) -> str:
    lines = [f"{source}: invalid parameters"]
    for item in error.errors():
        key = ".".join(str(p) for p in item["loc"]) or "(top level)"
        reason = item["msg"].removeprefix("Value error, ")
        got = f" (got {item['input']!r})" if item["type"] != "missing" and item["loc"] else ""
        lines.append(f"  {key}: {reason}{got}")
    return "\n".join(lines)


def parse_params(raw: dict, source: str = PARAMS_FILE) -> Params:
    """Validate a parsed params mapping; raises :class:`ConfigError` listing every problem."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping of parameter groups, got {type(raw)}")
    try:
        return Params.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(format_validation_error(error, source)) from None


def load_params(path: str | Path = PARAMS_FILE) -> Params:
    """Read and validate ``params.yaml``."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: parameters file not found") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}") from None
    return parse_params(raw, str(path))
