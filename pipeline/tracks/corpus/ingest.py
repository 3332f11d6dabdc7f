"""The whole text ingestion as one function: documents in, member and non-member token
sequences out, with a count for every step.

Order: exact document dedup, near-duplicate document dedup, a seeded split *of documents*
into four pools (:data:`POOLS`: the grid's members, a reference pool, a validation split and
the held-out test non-members), the tokenizer (when trained, never on test documents),
tokenization, cutting into ``seq_len``-token sequences, then span dedup over all pools: a
sequence sharing a run of ``dedup_span`` tokens, at any offsets, with one kept before it is
dropped (pools in that order, so what goes is the later pool's copy). The pools therefore
share no document and no span of ``dedup_span`` tokens.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import polars as pl
from transformers import PreTrainedTokenizerBase

from pipeline.core.corpus import POOLS  # also their order of precedence in span dedup
from pipeline.tracks.corpus.corpus import CorpusError
from pipeline.tracks.corpus.dedup import (
    exact_dedup_documents,
    near_dedup_documents,
    span_dedup_sequences,
)
from pipeline.tracks.corpus.tokenize import cut_documents, encode_texts, vocab_size_of

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class IngestResult:
    """Deduplicated token sequences split into members and non-members.

    ``members`` is in a seeded random order, so its first N rows are a random sample of N.
    ``nonmembers`` shares no document and no ``dedup_span``-token span with ``members``;
    ``*_documents`` give each row's document (its index among the documents kept).
    ``seconds`` holds each step's wall time.
    """

    members: np.ndarray
    nonmembers: np.ndarray
    counts: dict[str, int]
    seconds: dict[str, float] = field(default_factory=dict)
    member_documents: np.ndarray | None = None
    nonmember_documents: np.ndarray | None = None
    tokenizer: PreTrainedTokenizerBase | None = None
    reference: np.ndarray | None = None
    validation: np.ndarray | None = None
    documents: dict[str, np.ndarray] = field(default_factory=dict)

    def pool(self, name: str) -> np.ndarray:
        return {"members": self.members, "reference": self.reference,
                "validation": self.validation, "nonmembers": self.nonmembers}[name]


def ingest(
    documents: pl.DataFrame,
    *,
    tokenizer: PreTrainedTokenizerBase | None = None,
    train_tokenizer: Callable[[list[str]], PreTrainedTokenizerBase] | None = None,
    seq_len: int,
    dedup_span: int | None = None,
    near_dup_threshold: float,
    holdout_fraction: float,
    reference_fraction: float = 0.0,
    validation_fraction: float = 0.0,
    max_holdout: int = 10_000,
    seed: int,
    num_perm: int = 128,
) -> IngestResult:
    """Deduplicate, tokenize, cut and split ``documents`` (a frame with a ``text`` column).

    ``ceil(holdout_fraction · documents kept)`` documents are held out; their sequences that
    survive span dedup, at most ``max_holdout``, are the non-members. ``reference_fraction``
    and ``validation_fraction`` of the documents likewise make the reference pool and the
    validation split (at most ``max_holdout``); the rest are the members. Give either a
    ``tokenizer`` or ``train_tokenizer`` (called on the member documents' texts).
    ``dedup_span`` defaults to ``seq_len`` (exact duplicates only). ``seed`` drives only the
    shuffles and the split; MinHash uses its own fixed seed, so which documents survive does
    not depend on ``seed``. Raises :class:`CorpusError` when no sequence survives, naming the
    step that emptied it.
    """
    _check_arguments(documents, seq_len, dedup_span, near_dup_threshold, holdout_fraction,
                     max_holdout, tokenizer, train_tokenizer)
    dedup_span = seq_len if dedup_span is None else dedup_span
    counts: dict[str, int] = {"documents_in": documents.height}
    seconds: dict[str, float] = {}
    documents = _deduplicate_documents(documents, near_dup_threshold, num_perm, counts, seconds)
    rng = np.random.default_rng(seed)
    document_pool = _assign_pools(documents.height, rng, counts, seconds, holdout_fraction,
                                  reference_fraction, validation_fraction)
    texts = documents["text"].to_list()
    if tokenizer is None:
        with _timed("train_tokenizer", seconds):
            tokenizer = train_tokenizer([t for t, pool in zip(texts, document_pool, strict=True)
                                         if POOLS[pool] != "nonmembers"])
    sequences, sequence_documents = _tokenize_and_cut(texts, tokenizer, seq_len, counts,
                                                      seconds)
    sequence_pool = document_pool[sequence_documents]
    keep = _span_dedup(sequences, sequence_pool, dedup_span, counts, seconds)
    rows = _split_sequences(keep, sequence_pool, rng, max_holdout, counts, seconds)
    return IngestResult(
        members=sequences[rows["members"]], nonmembers=sequences[rows["nonmembers"]],
        reference=sequences[rows["reference"]], validation=sequences[rows["validation"]],
        counts=counts, seconds=seconds, tokenizer=tokenizer,
        member_documents=sequence_documents[rows["members"]],
        nonmember_documents=sequence_documents[rows["nonmembers"]],
        documents={name: sequence_documents[rows[name]] for name in POOLS},
    )


def _check_arguments(documents: pl.DataFrame, seq_len: int, dedup_span: int | None,
                     near_dup_threshold: float, holdout_fraction: float, max_holdout: int,
                     tokenizer, train_tokenizer) -> None:
    if "text" not in documents.columns:
        raise CorpusError(f"documents need a 'text' column; columns present: {documents.columns}")
    if documents.schema["text"] != pl.String:
        raise CorpusError(f"column 'text' has type {documents.schema['text']}, expected a string")
    if seq_len < 1:
        raise ValueError(f"seq_len must be >= 1, got {seq_len}")
    if (tokenizer is None) == (train_tokenizer is None):
        raise ValueError("give exactly one of tokenizer and train_tokenizer")
    if dedup_span is not None and not 1 <= dedup_span <= seq_len:
        raise ValueError(f"dedup_span must lie in [1, seq_len={seq_len}], got {dedup_span}")
    if not 0.0 < near_dup_threshold <= 1.0:
        raise ValueError(f"near_dup_threshold must be in (0, 1], got {near_dup_threshold}")
    if not 0.0 <= holdout_fraction < 1.0:
        raise ValueError(f"holdout_fraction must be in [0, 1), got {holdout_fraction}")
    if max_holdout < 0:
        raise ValueError(f"max_holdout must be >= 0, got {max_holdout}")
    if documents.height == 0:
        raise CorpusError("no documents to ingest: the corpus is empty")


def _deduplicate_documents(documents: pl.DataFrame, threshold: float, num_perm: int,
                           counts: dict, seconds: dict) -> pl.DataFrame:
    """Exact, then near-duplicate documents out."""
    documents = documents.with_columns(pl.col("text").fill_null(""))
    with _timed("exact_dedup", seconds):
        documents, counts["exact_duplicate_documents"] = exact_dedup_documents(documents)
    _log("exact_dedup", seconds, removed=counts["exact_duplicate_documents"], kept=documents.height)
    with _timed("near_dedup", seconds):
        documents, counts["near_duplicate_documents"] = near_dedup_documents(
            documents, threshold, num_perm=num_perm)
    counts["documents_kept"] = documents.height
    _log("near_dedup", seconds, removed=counts["near_duplicate_documents"], kept=documents.height)
    return documents


def _assign_pools(n_documents: int, rng: np.random.Generator, counts: dict, seconds: dict,
                  holdout: float, reference: float, validation: float) -> np.ndarray:
    """Each kept document's pool (an index into :data:`POOLS`)."""
    with _timed("split_documents", seconds):
        document_pool = split_documents(n_documents, rng, nonmembers=holdout,
                                        reference=reference, validation=validation)
    for index, name in enumerate(POOLS):
        counts[f"{name}_documents"] = int((document_pool == index).sum())
    _log("split_documents", seconds, **{n: counts[f"{n}_documents"] for n in POOLS})
    if counts["members_documents"] == 0:
        raise CorpusError(
            f"{n_documents} document(s) left after deduplication (of {counts['documents_in']}"
            " in): the held-out, reference and validation shares leave no member document; "
            "use more documents (corpus.max_documents, corpus.path)")
    return document_pool


def _tokenize_and_cut(texts: list[str], tokenizer, seq_len: int, counts: dict,
                      seconds: dict) -> tuple[np.ndarray, np.ndarray]:
    """Non-overlapping ``seq_len``-token sequences of every document, and their documents."""
    with _timed("tokenize", seconds):
        token_lists = encode_texts(tokenizer, texts)
    _log("tokenize", seconds, documents=len(token_lists), tokens=sum(map(len, token_lists)))
    with _timed("cut_sequences", seconds):
        sequences, sequence_documents = cut_documents(token_lists, seq_len,
                                                      vocab_size=vocab_size_of(tokenizer))
    counts["sequences_total"] = sequences.shape[0]
    _log("cut_sequences", seconds, seq_len=seq_len, sequences=sequences.shape[0])
    if sequences.shape[0] == 0:
        longest = max(map(len, token_lists), default=0)
        raise CorpusError(
            f"no {seq_len}-token sequence left after tokenization: all {len(texts)} "
            f"documents surviving deduplication (of {counts['documents_in']} in) are shorter "
            f"than {seq_len} tokens (longest: {longest})")
    return sequences, sequence_documents


def _span_dedup(sequences: np.ndarray, sequence_pool: np.ndarray, dedup_span: int,
                counts: dict, seconds: dict) -> np.ndarray:
    """Which sequences share no ``dedup_span``-token span with one kept before them (pools in
    order of precedence: what a later pool shares with an earlier one goes)."""
    with _timed("span_dedup", seconds):
        order = np.argsort(sequence_pool, kind="stable")
        keep = np.zeros(len(sequences), dtype=bool)
        keep[order] = span_dedup_sequences(sequences[order], dedup_span)
    counts["dedup_span"] = dedup_span
    counts["span_duplicate_sequences"] = int((~keep).sum())
    counts["sequences_kept"] = int(keep.sum())
    _log("span_dedup", seconds, span=dedup_span, removed=counts["span_duplicate_sequences"],
         kept=counts["sequences_kept"])
    return keep


def _split_sequences(keep: np.ndarray, sequence_pool: np.ndarray, rng: np.random.Generator,
                     max_holdout: int, counts: dict, seconds: dict) -> dict[str, np.ndarray]:
    """Each pool's kept sequences in a seeded order (held-out and validation capped)."""
    rows: dict[str, np.ndarray] = {}
    with _timed("split", seconds):
        for index, name in enumerate(POOLS):
            kept = rng.permutation(np.flatnonzero(keep & (sequence_pool == index)))
            capped = kept if name in ("members", "reference") else kept[:max_holdout]
            counts[f"{name}_span_duplicates"] = int(((~keep) & (sequence_pool == index)).sum())
            counts[f"{name}_over_cap"] = len(kept) - len(capped)
            counts[name] = len(capped)
            rows[name] = capped
    _log("split", seconds, **{name: counts[name] for name in POOLS})
    return rows


def split_documents(n_documents: int, rng: np.random.Generator,
                    **fractions: float) -> np.ndarray:
    """Each document's pool (an index into :data:`POOLS`): ``ceil(fraction · n)`` documents
    for each named pool (at least one for the non-members), the rest members."""
    pool = np.zeros(n_documents, dtype=np.int64)
    order = rng.permutation(n_documents)
    start = 0
    for name in reversed(POOLS[1:]):  # non-members first: they depend on nothing else
        share = fractions.get(name, 0.0)
        count = math.ceil(share * n_documents)
        if name == "nonmembers":
            count = max(1, count)
        pool[order[start:start + count]] = POOLS.index(name)
        start += count
    return pool


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
