"""Typed schema of the ``text`` group of ``params.yaml``.

``text.corpus`` says where the documents come from and how they become deduplicated 64-token
sequences; the rest says which models are trained on them and how they are probed. Strict
(unknown keys and wrong types are rejected), and validated with the whole file before any
stage does work.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from pipeline.core.config import (
    ModelConfig,
    PositiveInt,
    Section,
    Seed,
    TrackParams,
    TrainConfig,
    unique,
)

MIN_BPE_VOCAB = 257  # 256 byte tokens + <|endoftext|>


class CorpusConfig(Section):
    """Where the documents come from, and how they become member / non-member sequences.

    ``python-docs`` (the offline default) is Python's own documentation, *not* FineWeb;
    ``fineweb-hub`` reads FineWeb from the Hugging Face Hub (network); ``local`` reads a
    file, directory or glob of FineWeb-schema Parquet / JSON Lines (needs ``path``).
    """

    source: Literal["python-docs", "fineweb-hub", "local"] = "python-docs"
    path: str | None = None
    hf_repo: str = "HuggingFaceFW/fineweb"
    hf_file: str = "sample/10BT/000_00000.parquet"
    max_documents: PositiveInt | None = None
    near_dup_threshold: Annotated[float, Field(gt=0, le=1)] = 0.8
    num_perm: Annotated[int, Field(ge=16)] = 128
    tokenizer: Literal["gpt2", "bpe"] = "bpe"
    bpe_vocab_size: Annotated[int, Field(ge=MIN_BPE_VOCAB)] = 1024
    seq_len: Annotated[int, Field(ge=4)] = 64
    holdout_fraction: Annotated[float, Field(gt=0, lt=1)] = 0.1
    max_holdout: Annotated[int, Field(ge=2)] = 10_000
    seed: Seed = 0

    @model_validator(mode="after")
    def _check(self) -> CorpusConfig:
        if self.source == "local" and not self.path:
            raise ValueError('source "local" needs corpus.path (a file, directory or glob)')
        return self


class TextConfig(Section):
    """The corpus, the text model grid, its references, and the probes run on every model."""

    corpus: CorpusConfig
    configs: Annotated[list[ModelConfig], Field(min_length=1)]
    dataset_sizes: Annotated[list[PositiveInt], Field(min_length=1)]
    seeds: Annotated[list[Seed], Field(min_length=1)]
    oracle_configs: Annotated[list[ModelConfig], Field(min_length=1)]
    train: TrainConfig
    extraction_prefixes: Annotated[list[PositiveInt], Field(min_length=1)] = [8, 16, 32]
    max_extraction_sequences: PositiveInt = 10_000
    attack_calibration_fraction: Annotated[float, Field(gt=0, lt=1)] = 0.5
    score_batch_size: PositiveInt = 256
    top_memorized: Annotated[int, Field(ge=0)] = 10
    confidence: Annotated[float, Field(gt=0, lt=1)] = 0.95  # intervals of the membership law

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

    @model_validator(mode="after")
    def _check(self) -> TextConfig:
        too_long = [k for k in self.extraction_prefixes if k >= self.corpus.seq_len]
        if too_long:
            raise ValueError(
                f"extraction_prefixes {too_long} must be shorter than corpus.seq_len="
                f"{self.corpus.seq_len} (a prefix needs at least one token left to extract)"
            )
        return self


class TextParams(TrackParams):
    """What the text stages read of ``params.yaml``."""

    text: TextConfig
