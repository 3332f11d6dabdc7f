"""Typed schema of the text-track groups of ``params.yaml``: ``corpus`` and ``text``.

``corpus`` says where the documents come from and how they become deduplicated 64-token
sequences; ``text`` says which models are trained on them and how they are probed. Both are
strict (unknown keys and wrong types are rejected) and are part of
:class:`pipeline.config.Params`, so every stage validates them before any work.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

# Imported from a partially initialized pipeline.config when that module is imported first:
# it imports this module only after defining these three names (see pipeline/config.py).
from pipeline.config import ModelConfig, Section, TrainConfig

PositiveInt = Annotated[int, Field(gt=0)]
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
    seed: Annotated[int, Field(ge=0)] = 0

    @model_validator(mode="after")
    def _check(self) -> CorpusConfig:
        if self.source == "local" and not self.path:
            raise ValueError('source "local" needs corpus.path (a file, directory or glob)')
        return self


class TextConfig(Section):
    """The text model grid, its references, and the probes run on every trained model."""

    configs: Annotated[list[ModelConfig], Field(min_length=1)]
    dataset_sizes: Annotated[list[PositiveInt], Field(min_length=1)]
    seeds: Annotated[list[Annotated[int, Field(ge=0)]], Field(min_length=1)]
    oracle_configs: Annotated[list[ModelConfig], Field(min_length=1)]
    train: TrainConfig
    extraction_prefixes: Annotated[list[PositiveInt], Field(min_length=1)] = [8, 16, 32]
    max_extraction_sequences: PositiveInt = 10_000
    attack_calibration_fraction: Annotated[float, Field(gt=0, lt=1)] = 0.5
    score_batch_size: PositiveInt = 256
    top_memorized: Annotated[int, Field(ge=0)] = 10

    @model_validator(mode="after")
    def _check(self) -> TextConfig:
        for key, values in (
            ("text.configs", [c.name for c in self.configs]),
            ("text.oracle_configs", [c.name for c in self.oracle_configs]),
            ("text.dataset_sizes", self.dataset_sizes),
            ("text.seeds", self.seeds),
            ("text.extraction_prefixes", self.extraction_prefixes),
        ):
            duplicates = sorted({v for v in values if values.count(v) > 1}, key=str)
            if duplicates:
                raise ValueError(f"{key} has duplicates: {duplicates}")
        return self


def check_text_against_corpus(corpus: CorpusConfig, text: TextConfig) -> None:
    """Cross-checks between the two groups; raises ValueError naming the keys."""
    too_long = [k for k in text.extraction_prefixes if k >= corpus.seq_len]
    if too_long:
        raise ValueError(
            f"text.extraction_prefixes {too_long} must be shorter than corpus.seq_len="
            f"{corpus.seq_len} (a prefix needs at least one token left to extract)"
        )
    if min(text.dataset_sizes) < 2:
        raise ValueError("text.dataset_sizes: each N must be at least 2 (the membership attack "
                         "splits members into calibration and evaluation halves)")
