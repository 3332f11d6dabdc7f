"""Typed schema of the ``corpus`` group of ``params.yaml``: where the documents come from and
how they become deduplicated token sequences in four pools split by document (read by every
track through :mod:`pipeline.core.corpus`)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from pipeline.core.config import PositiveInt, Section, Seed, TrackParams

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
    """Share of the deduplicated documents held out: their sequences are the test non-members
    (the trained tokenizer never sees them)."""
    reference_fraction: Annotated[float, Field(gt=0, lt=1)] = 0.3
    """Share of the documents in the reference pool, where the oracle candidates and the
    same-size references train; disjoint from the grid's members by document and span."""
    validation_fraction: Annotated[float, Field(gt=0, lt=1)] = 0.05
    """Share of the documents in the validation split, on which the oracle is chosen."""
    max_holdout: Annotated[int, Field(ge=2)] = 10_000
    """At most this many non-members (the paper: 10,000)."""
    seed: Seed = 0
    """Seed of the shuffle before the member / non-member split."""

    @model_validator(mode="after")
    def _check(self) -> CorpusConfig:
        if self.source == "local" and not self.path:
            raise ValueError('source "local" needs corpus.path (a file, directory or glob)')
        shares = self.holdout_fraction + self.reference_fraction + self.validation_fraction
        if shares >= 1:
            raise ValueError(f"holdout_fraction + reference_fraction + validation_fraction = "
                             f"{shares:g} leaves no document for the grid's members (need < 1)")
        if self.dedup_span > self.seq_len:
            raise ValueError(f"dedup_span ({self.dedup_span}) is longer than seq_len "
                             f"({self.seq_len}): a span must fit in a sequence")
        return self


class CorpusParams(TrackParams):
    """What the corpus stage reads of ``params.yaml``."""

    corpus: CorpusConfig
