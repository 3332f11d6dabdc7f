"""Deduplication: exact and near-duplicate documents, and token sequences sharing a span.

Every function keeps the first occurrence, preserves the input order of what it keeps, and
is deterministic across processes and runs (hashlib and seeded MinHash, no ``hash()``).
"""

from __future__ import annotations

import hashlib
import unicodedata

import numpy as np
import polars as pl
from datasketch import MinHash, MinHashLSH


def normalize_text(s: str) -> str:
    """NFKC-normalize, lowercase, collapse every run of whitespace to one space, strip."""
    return " ".join(unicodedata.normalize("NFKC", s).lower().split())


def _require_text(df: pl.DataFrame) -> None:
    if "text" not in df.columns:
        raise ValueError(f"documents need a 'text' column; columns present: {df.columns}")


def exact_dedup_documents(df: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """Drop documents whose normalized text equals that of an earlier document.

    Returns the kept rows (original order) and the number removed.
    """
    _require_text(df)
    seen: set[bytes] = set()
    keep: list[bool] = []
    for text in df["text"]:
        normalized = normalize_text(text or "").encode("utf-8")
        digest = hashlib.blake2b(normalized, digest_size=16).digest()
        keep.append(digest not in seen)
        seen.add(digest)
    kept = df.filter(pl.Series(keep, dtype=pl.Boolean))
    return kept, df.height - kept.height


# (false-positive, false-negative) weights for choosing MinHash LSH bands and rows.
LSH_WEIGHTS = (0.1, 0.9)
# Odd 64-bit multiplier for the polynomial that combines word hashes into shingle hashes.
_SHINGLE_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)


class _WordHashes(dict[str, int]):
    """Memo of 64-bit blake2b word hashes; a missing word is hashed on first lookup."""

    def __missing__(self, word: str) -> int:
        digest = hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest()
        value = self[word] = int.from_bytes(digest, "little")
        return value


def _shingle_hashes(text: str, shingle_words: int, word_hashes: _WordHashes) -> list[int]:
    """32-bit hashes of the word ``shingle_words``-grams of the normalized text.

    Each distinct word is hashed once with blake2b (``word_hashes`` caches them across
    documents); a shingle's hash is a polynomial in its words' 64-bit hashes, computed for
    all shingles at once in numpy, whose top 32 bits are kept. It stands in for hashing
    each n-gram's UTF-8 bytes (same role, deterministic) at a fraction of the cost of one
    hashlib call per shingle. A text shorter than one shingle is a single shingle.
    """
    # The words of normalize_text(text), without its join that would only be split again.
    words = unicodedata.normalize("NFKC", text).lower().split() or [""]
    hashes = np.array(list(map(word_hashes.__getitem__, words)), dtype=np.uint64)
    width = min(shingle_words, len(words))
    count = len(words) - width + 1
    combined = hashes[:count].copy()
    for offset in range(1, width):
        # uint64 arithmetic wraps modulo 2**64, which is the intended polynomial hash.
        combined = combined * _SHINGLE_MULTIPLIER + hashes[offset : offset + count]
    return (combined >> np.uint64(32)).tolist()


def near_dedup_documents(
    df: pl.DataFrame,
    threshold: float,
    num_perm: int = 128,
    shingle_words: int = 5,
    seed: int = 1,
) -> tuple[pl.DataFrame, int]:
    """Drop documents that are near-duplicates of an earlier kept document.

    Each document is a set of normalized word ``shingle_words``-grams summarized by a
    ``num_perm``-permutation MinHash. Documents are visited in order; a document is dropped
    when MinHash LSH finds an earlier *kept* document whose estimated Jaccard similarity with
    it is at least ``threshold``. LSH candidates are re-checked against that estimate, so
    banding false positives drop nothing; with 128 permutations and threshold 0.8 the
    banding finds ~87% of pairs whose Jaccard is exactly 0.8 and >97% of those at 0.85.
    Returns the kept rows and the number removed.
    """
    _require_text(df)
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"near-duplicate threshold must be in (0, 1], got {threshold}")
    if shingle_words < 1:
        raise ValueError(f"shingle_words must be >= 1, got {shingle_words}")
    # Banding tuned for recall (datasketch's default weighs misses and false candidates
    # equally, finding only ~40% of pairs right at the threshold): every candidate is
    # re-checked below, so a false candidate costs one comparison and drops nothing.
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm, weights=LSH_WEIGHTS, prepickle=False)
    word_hashes = _WordHashes()
    signatures = MinHash.generator(
        (_shingle_hashes(text or "", shingle_words, word_hashes) for text in df["text"]),
        num_perm=num_perm,
        seed=seed,
        # Shingles arrive already hashed to 32-bit ints; datasketch mixes them (fmix) itself.
        hashfunc=int,
    )
    kept_signatures: dict[int, np.ndarray] = {}
    keep: list[bool] = []
    for index, signature in enumerate(signatures):
        values = signature.hashvalues
        duplicate = any(
            np.count_nonzero(kept_signatures[other] == values) >= threshold * num_perm
            for other in lsh.query(signature)
        )
        keep.append(not duplicate)
        if not duplicate:
            lsh.insert(index, signature, check_duplication=False)
            kept_signatures[index] = values
    kept = df.filter(pl.Series(keep, dtype=pl.Boolean))
    return kept, df.height - kept.height


def span_hashes(tokens: np.ndarray, span: int) -> np.ndarray:
    """A 64-bit polynomial hash of every ``span``-token window of every row, ``[n, S-span+1]``.

    Arithmetic wraps modulo 2^64; two different windows collide with probability about
    2^-64 per pair, which for a million windows is about 3·10^-8 in all."""
    windows = np.lib.stride_tricks.sliding_window_view(
        np.ascontiguousarray(tokens).astype(np.uint64), span, axis=1)
    powers = np.full(span, 1_000_003, dtype=np.uint64) ** np.arange(span - 1, -1, -1,
                                                                    dtype=np.uint64)
    with np.errstate(over="ignore"):
        return (windows * powers).sum(axis=-1, dtype=np.uint64)


def span_dedup_sequences(tokens: np.ndarray, span: int) -> np.ndarray:
    """Which rows to keep so that no two kept rows share a run of ``span`` tokens at any
    offsets: each row, in order, is dropped if any of its windows occurs in an earlier kept
    row. Exact duplicates are the special case ``span = S``. Returns a boolean mask."""
    if tokens.ndim != 2:
        raise ValueError(f"expected a 2-D array [sequences, seq_len], got shape {tokens.shape}")
    if not 1 <= span <= tokens.shape[1]:
        raise ValueError(f"span must lie in [1, {tokens.shape[1]}], got {span}")
    keep = np.zeros(tokens.shape[0], dtype=bool)
    seen: set[int] = set()
    for row, hashes in enumerate(span_hashes(tokens, span).tolist()):
        if seen.isdisjoint(hashes):
            keep[row] = True
            seen.update(hashes)
    return keep
