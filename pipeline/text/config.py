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
    """python-docs: offline, Python's own documentation (NOT FineWeb; the report says so) |
    fineweb-hub: FineWeb from the Hugging Face Hub (network) | local: FineWeb-schema Parquet
    or JSON Lines at path."""
    path: str | None = None
    """local only: a file, directory or glob."""
    hf_repo: str = "HuggingFaceFW/fineweb"
    """fineweb-hub only: the dataset repository."""
    hf_file: str = "sample/10BT/000_00000.parquet"
    """fineweb-hub only: the Parquet shard to read."""
    max_documents: PositiveInt | None = None
    """Read at most this many documents; null: all of them."""
    near_dup_threshold: Annotated[float, Field(gt=0, le=1)] = 0.8
    """MinHash LSH Jaccard similarity at which a document counts as a near duplicate and is
    dropped."""
    num_perm: Annotated[int, Field(ge=16)] = 128
    """MinHash permutations (more: a sharper threshold, slower)."""
    tokenizer: Literal["gpt2", "bpe"] = "bpe"
    """gpt2: the paper's GPT-2 BPE (V=50257; slow on CPU) | bpe: a byte-level BPE trained on
    the corpus."""
    bpe_vocab_size: Annotated[int, Field(ge=MIN_BPE_VOCAB)] = 1024
    """bpe only: vocabulary size of the trained BPE."""
    seq_len: Annotated[int, Field(ge=4)] = 64
    """S: tokens per sequence (non-overlapping, never spanning two documents)."""
    dedup_span: PositiveInt = 32
    """K: a sequence sharing a run of K tokens, at any offsets, with an earlier kept one is
    dropped, across the whole pool (members and non-members alike); K = seq_len removes exact
    duplicates only."""
    holdout_fraction: Annotated[float, Field(gt=0, lt=1)] = 0.1
    """Share of the deduplicated documents held out: their sequences are the non-members (the
    trained tokenizer never sees them)."""
    max_holdout: Annotated[int, Field(ge=2)] = 10_000
    """At most this many non-members (the paper: 10,000)."""
    seed: Seed = 0
    """Seed of the shuffle before the member / non-member split."""

    @model_validator(mode="after")
    def _check(self) -> CorpusConfig:
        if self.source == "local" and not self.path:
            raise ValueError('source "local" needs corpus.path (a file, directory or glob)')
        if self.dedup_span > self.seq_len:
            raise ValueError(f"dedup_span ({self.dedup_span}) is longer than seq_len "
                             f"({self.seq_len}): a span must fit in a sequence")
        return self


class TextConfig(Section):
    """The corpus, the text model grid, its references, and the probes run on every model."""

    corpus: CorpusConfig
    """Where the documents come from, and how they become sequences (stage text_corpus)."""
    configs: Annotated[list[ModelConfig], Field(min_length=1)]
    """GPT-2 shapes of the text grid (the paper: 8 layers × d ∈ {32, 64, 128, 256})."""
    dataset_sizes: Annotated[list[PositiveInt], Field(min_length=1)]
    """N: training sequences of each run, drawn from the member pool."""
    seeds: Annotated[list[Seed], Field(min_length=1)]
    """Each seed draws its own training subsets and initialization."""
    oracle_configs: Annotated[list[ModelConfig], Field(min_length=1)]
    """Oracle candidates, trained on the whole member pool; the lowest held-out loss wins."""
    train: TrainConfig
    """Training of the grid and the references (stages text_reference, text_train)."""
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
    confidence: Annotated[float, Field(gt=0, lt=1)] = 0.95  # intervals of the membership law
    """Confidence level of the membership-law intervals."""

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
