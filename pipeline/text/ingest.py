"""The whole text ingestion as one function: documents in, member and non-member token
sequences out, with a count for every step.

Order: exact document dedup, near-duplicate document dedup, tokenization, cutting into
``seq_len``-token sequences, exact sequence dedup over *all* sequences, then a seeded
shuffle and split into non-members (held out) and members. Deduplicating before the split
is what makes the two sets disjoint.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import polars as pl
from transformers import PreTrainedTokenizerBase

from pipeline.text.corpus import CorpusError
from pipeline.text.dedup import dedup_sequences, exact_dedup_documents, near_dedup_documents
from pipeline.text.tokenize import encode_texts, to_sequences, vocab_size_of

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestResult:
    """Deduplicated token sequences split into members and non-members.

    ``members`` is in a seeded random order, so its first N rows are a random sample of N.
    ``nonmembers`` shares no row with ``members``. ``seconds`` holds each step's wall time.
    """

    members: np.ndarray
    nonmembers: np.ndarray
    counts: dict[str, int]
    seconds: dict[str, float] = field(default_factory=dict)


def ingest(
    documents: pl.DataFrame,
    *,
    tokenizer: PreTrainedTokenizerBase,
    seq_len: int,
    near_dup_threshold: float,
    holdout_fraction: float,
    max_holdout: int = 10_000,
    seed: int,
    num_perm: int = 128,
) -> IngestResult:
    """Deduplicate, tokenize, cut and split ``documents`` (a frame with a ``text`` column).

    The non-member count is ``min(max_holdout, floor(holdout_fraction * sequences_kept))``;
    everything else is a member. ``seed`` drives only the shuffle and split; MinHash uses
    its own fixed seed, so which documents survive does not depend on ``seed``.
    Raises :class:`CorpusError` when no sequence survives, naming the step that emptied it.
    """
    if "text" not in documents.columns:
        raise CorpusError(f"documents need a 'text' column; columns present: {documents.columns}")
    if documents.schema["text"] != pl.String:
        raise CorpusError(f"column 'text' has type {documents.schema['text']}, expected a string")
    if seq_len < 1:
        raise ValueError(f"seq_len must be >= 1, got {seq_len}")
    if not 0.0 < near_dup_threshold <= 1.0:
        raise ValueError(f"near_dup_threshold must be in (0, 1], got {near_dup_threshold}")
    if not 0.0 <= holdout_fraction < 1.0:
        raise ValueError(f"holdout_fraction must be in [0, 1), got {holdout_fraction}")
    if max_holdout < 0:
        raise ValueError(f"max_holdout must be >= 0, got {max_holdout}")

    counts: dict[str, int] = {"documents_in": documents.height}
    seconds: dict[str, float] = {}
    if documents.height == 0:
        raise CorpusError("no documents to ingest: the corpus is empty")

    documents = documents.with_columns(pl.col("text").fill_null(""))
    with _timed("exact_dedup", seconds):
        documents, counts["exact_duplicate_documents"] = exact_dedup_documents(documents)
    _log("exact_dedup", seconds, removed=counts["exact_duplicate_documents"], kept=documents.height)

    with _timed("near_dedup", seconds):
        documents, counts["near_duplicate_documents"] = near_dedup_documents(
            documents, near_dup_threshold, num_perm=num_perm
        )
    counts["documents_kept"] = documents.height
    _log("near_dedup", seconds, removed=counts["near_duplicate_documents"], kept=documents.height)

    with _timed("tokenize", seconds):
        token_lists = encode_texts(tokenizer, documents["text"].to_list())
    _log("tokenize", seconds, documents=len(token_lists), tokens=sum(map(len, token_lists)))

    with _timed("cut_sequences", seconds):
        sequences = to_sequences(token_lists, seq_len, vocab_size=vocab_size_of(tokenizer))
    counts["sequences_total"] = sequences.shape[0]
    _log("cut_sequences", seconds, seq_len=seq_len, sequences=sequences.shape[0])
    if sequences.shape[0] == 0:
        longest = max(map(len, token_lists), default=0)
        raise CorpusError(
            f"no {seq_len}-token sequence left after tokenization: all {documents.height} "
            f"documents surviving deduplication (of {counts['documents_in']} in) are shorter "
            f"than {seq_len} tokens (longest: {longest})"
        )

    with _timed("sequence_dedup", seconds):
        sequences, counts["duplicate_sequences"] = dedup_sequences(sequences)
    counts["sequences_kept"] = sequences.shape[0]
    _log("sequence_dedup", seconds, removed=counts["duplicate_sequences"], kept=sequences.shape[0])

    with _timed("split", seconds):
        order = np.random.default_rng(seed).permutation(sequences.shape[0])
        held_out = min(max_holdout, int(holdout_fraction * sequences.shape[0]))
        nonmembers = sequences[order[:held_out]]
        members = sequences[order[held_out:]]
    counts["members"] = members.shape[0]
    counts["nonmembers"] = nonmembers.shape[0]
    _log("split", seconds, members=members.shape[0], nonmembers=nonmembers.shape[0])
    return IngestResult(members=members, nonmembers=nonmembers, counts=counts, seconds=seconds)


@contextmanager
def _timed(name: str, seconds: dict[str, float]) -> Iterator[None]:
    """Record the wall time of the block into ``seconds[name]``."""
    start = time.perf_counter()
    try:
        yield
    finally:
        seconds[name] = time.perf_counter() - start


def _log(name: str, seconds: dict[str, float], **numbers: int) -> None:
    details = ", ".join(f"{key}={value:,}" for key, value in numbers.items())
    log.info("%s: %s (%.2f s)", name, details, seconds[name])
