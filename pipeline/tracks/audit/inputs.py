"""Member and non-member sequences of an audit: read, tokenized, and checked before scoring.

Accepted files (one for members, one for non-members):

- Parquet or JSON Lines (``.parquet``; ``.jsonl`` / ``.json``, one record per line) with a
  ``text`` column, a ``tokens`` column (a list of token ids per sequence), or both;
- MIMIR's cache files (Duan et al. 2024, github.com/iamgroot42/mimir): JSON Lines whose
  every line is a bare JSON string, members in ``<cache>/train/<name>.jsonl`` and
  non-members in ``<cache>/test/<name>.jsonl`` (:func:`mimir_cache_paths`);
- one file holding both, one pair per row in columns ``member`` and ``nonmember``, as the
  rows of the Hugging Face dataset ``iamgroot42/mimir`` (:func:`read_pairs`).

The audit frame (:func:`combine`) has one row per sequence: ``seq_id`` (members first),
``member``, ``source`` and ``row`` (file and 1-based line or row, for messages), ``text``
(may be null for pre-tokenized input without a tokenizer) and ``tokens`` (``List[Int64]``).

:func:`validate` fails with one line naming the input, before any model runs: a set with no
sequences, a token id outside the tokenizer's vocabulary, a sequence too short to score or
too long for the model, and a member that also appears among the non-members, exactly (the
same normalized text or the same tokens) or by sharing a run of ``span`` tokens (32 by
default) at any offsets, the text track's definition of a duplicate for memorization.
"""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import numpy as np
import polars as pl

from pipeline.core.errors import ArtifactError, ConfigError

SEQ_ID, MEMBER, SOURCE, ROW, TEXT, TOKENS = "seq_id", "member", "source", "row", "text", "tokens"
DEFAULT_SPAN = 32
JSON_SUFFIXES = (".jsonl", ".json")
_HASH_BASE = np.uint64(1_000_003)


# --------------------------------------------------------------------------- reading


def _line_record(line: str, where: str) -> dict:
    """One JSON Lines record: an object, or a bare string (MIMIR's cache files)."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise ArtifactError(f"{where}: not valid JSON ({error.msg})") from None
    if isinstance(record, str):
        return {TEXT: record}
    if not isinstance(record, dict):
        raise ArtifactError(f"{where}: expected a JSON object or string, got "
                            f"{type(record).__name__}")
    return record


def _json_records(path: Path) -> tuple[list[dict], list[int]]:
    """The records of a JSON Lines file and their line numbers (blank lines skipped)."""
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise ArtifactError(f"{path}: unreadable ({error})") from None
    records, rows = [], []
    for number, line in enumerate(lines, start=1):
        if line.strip():
            records.append(_line_record(line, f"{path}:{number}"))
            rows.append(number)
    return records, rows


def _table(path: Path) -> tuple[pl.DataFrame, list[int]]:
    """A Parquet or JSON Lines file as a frame, with each row's 1-based row or line number."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        try:
            frame = pl.read_parquet(path)
        except Exception as error:  # polars raises several types for a corrupt file
            raise ArtifactError(f"{path}: unreadable Parquet ({error})") from None
        return frame, list(range(1, frame.height + 1))
    if suffix in JSON_SUFFIXES:
        records, rows = _json_records(path)
        try:
            return pl.DataFrame(records, infer_schema_length=None), rows
        except Exception as error:  # mixed types across records
            raise ArtifactError(f"{path}: records do not share one schema ({error})") from None
    raise ArtifactError(f"{path}: expected a Parquet (.parquet) or JSON Lines (.jsonl, .json) "
                        "file")


def _require_file(path: Path, role: str) -> None:
    if not path.is_file():
        raise ArtifactError(f"{path}: the {role} file is missing")


def _where(frame: pl.DataFrame, i: int) -> str:
    """Where row ``i`` of an audit frame came from, for messages."""
    return f"{frame[SOURCE][i]} row {frame[ROW][i]}"


def _sequences(frame: pl.DataFrame, rows: list[int], source: str, role: str) -> pl.DataFrame:
    """The ``text``/``tokens`` columns of a file, checked, with ``source`` and ``row``."""
    if frame.height == 0:
        raise ArtifactError(f"{source}: no {role} sequences")
    if TEXT not in frame.columns and TOKENS not in frame.columns:
        raise ArtifactError(f"{source}: needs a '{TEXT}' or '{TOKENS}' column; columns present: "
                            f"{', '.join(frame.columns) or 'none'}")
    texts = _text_column(frame, source)
    tokens = _tokens_column(frame, source)
    for text, ids, row in zip(texts, tokens, rows, strict=True):
        if (text is None or not text.strip()) and (ids is None or ids.len() == 0):
            raise ArtifactError(f"{source} row {row}: empty {role} sequence (no text, no tokens)")
    return pl.DataFrame([pl.Series(SOURCE, [source] * frame.height, pl.String),
                         pl.Series(ROW, rows, pl.Int64), texts, tokens])


def _text_column(frame: pl.DataFrame, source: str) -> pl.Series:
    if TEXT not in frame.columns:
        return pl.Series(TEXT, [None] * frame.height, pl.String)
    if frame[TEXT].dtype not in (pl.String, pl.Null):
        raise ArtifactError(f"{source}: column '{TEXT}' holds {frame[TEXT].dtype}, expected "
                            "strings")
    texts = frame[TEXT].cast(pl.String)
    # A blank text beside tokens is no text: it is decoded from the tokens instead.
    return pl.select(pl.when(texts.str.strip_chars() != "").then(texts)).to_series().alias(TEXT)


def _tokens_column(frame: pl.DataFrame, source: str) -> pl.Series:
    if TOKENS not in frame.columns:
        return pl.Series(TOKENS, [None] * frame.height, pl.List(pl.Int64))
    tokens = frame[TOKENS]
    if not isinstance(tokens.dtype, pl.List | pl.Array) or not tokens.dtype.inner.is_integer():
        raise ArtifactError(f"{source}: column '{TOKENS}' holds {tokens.dtype}, expected lists "
                            "of integer token ids")
    tokens = tokens.cast(pl.List(pl.Int64))
    if (tokens.list.drop_nulls().list.len() != tokens.list.len()).any():
        raise ArtifactError(f"{source}: column '{TOKENS}' holds a null token id")
    return tokens.alias(TOKENS)


def read_sequences(path: str | Path, role: str) -> pl.DataFrame:
    """The sequences of one member or non-member file (see the module docstring)."""
    path = Path(path)
    _require_file(path, role)
    frame, rows = _table(path)
    return _sequences(frame, rows, str(path), role)


def read_pairs(path: str | Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Members and non-members of one file with a ``member`` and a ``nonmember`` text column
    per row (the Hugging Face ``iamgroot42/mimir`` rows, saved as Parquet or JSON Lines)."""
    path = Path(path)
    _require_file(path, "member/non-member")
    frame, rows = _table(path)
    missing = [c for c in ("member", "nonmember") if c not in frame.columns]
    if missing:
        raise ArtifactError(f"{path}: needs columns 'member' and 'nonmember'; missing "
                            f"{', '.join(missing)}")
    return tuple(_sequences(frame.select(pl.col(c).alias(TEXT)), rows, f"{path} ({c})", role)
                 for c, role in (("member", "member"), ("nonmember", "non-member")))


def mimir_cache_paths(cache: str | Path, name: str) -> tuple[Path, Path]:
    """MIMIR's member and non-member files for one split name, e.g.
    ``the_pile_arxiv_ngram_13_<0.8>_truncated`` in ``cache_100_200_1000_512``."""
    cache = Path(cache)
    return cache / "train" / f"{name}.jsonl", cache / "test" / f"{name}.jsonl"


def combine(members: pl.DataFrame, nonmembers: pl.DataFrame) -> pl.DataFrame:
    """One audit frame: members first, ``seq_id`` 0.. in that order, ``member`` set."""
    for frame, role in ((members, "member"), (nonmembers, "non-member")):
        if frame.height == 0:
            raise ConfigError(f"the {role} set is empty")
    both = pl.concat([members.with_columns(pl.lit(True).alias(MEMBER)),
                      nonmembers.with_columns(pl.lit(False).alias(MEMBER))])
    both = both.with_columns(pl.int_range(both.height, dtype=pl.Int64).alias(SEQ_ID))
    return both.select(SEQ_ID, MEMBER, SOURCE, ROW, TEXT, TOKENS)


# --------------------------------------------------------------------------- tokenizing


def tokenize(frame: pl.DataFrame, tokenizer=None, max_tokens: int | None = None) -> pl.DataFrame:
    """Fill ``tokens`` from ``text`` where missing, and ``text`` from ``tokens`` where missing.

    Texts are encoded without special tokens and cut to ``max_tokens`` (the model's
    context); a text that was cut is replaced by the decoding of the tokens kept, so that
    its zlib length and the blind baseline see what the model scores. Without a tokenizer,
    every row must already have tokens. Given tokens are never cut (:func:`validate` names
    a sequence too long).
    """
    texts, tokens = frame[TEXT].to_list(), frame[TOKENS].to_list()
    missing = [i for i, ids in enumerate(tokens) if ids is None]
    if missing and tokenizer is None:
        raise ConfigError(f"{_where(frame, missing[0])}: text without tokens and no tokenizer "
                          "to encode it")
    if missing:
        _encode(tokenizer, texts, tokens, missing, max_tokens)
    if tokenizer is not None:
        for i in (i for i, text in enumerate(texts) if text is None):
            texts[i] = tokenizer.decode(tokens[i])
    return frame.with_columns(pl.Series(TEXT, texts, pl.String),
                              pl.Series(TOKENS, tokens, pl.List(pl.Int64)))


def _encode(tokenizer, texts: list, tokens: list, rows: list[int], max_tokens: int | None) -> None:
    """Encode ``texts[rows]`` in one call into ``tokens``, cutting (and re-decoding) long ones."""
    encoded = tokenizer([texts[i] for i in rows], add_special_tokens=False)["input_ids"]
    for i, ids in zip(rows, encoded, strict=True):
        if max_tokens is not None and len(ids) > max_tokens:
            ids = ids[:max_tokens]
            texts[i] = tokenizer.decode(ids)
        tokens[i] = ids


def check_tokenizer_agrees(frame: pl.DataFrame, tokenizer, limit: int = 256) -> None:
    """Rows given with both a text and tokens: the tokenizer must encode the text to exactly
    those tokens (checked on the first ``limit`` such rows); otherwise the tokens were made by
    another tokenizer, and one line names the first row that differs."""
    if tokenizer is None:
        return
    both = frame.with_row_index("_i").filter(pl.col(TEXT).is_not_null()
                                             & pl.col(TOKENS).is_not_null()).head(limit)
    if both.height == 0:
        return
    encoded = tokenizer(both[TEXT].to_list(), add_special_tokens=False)["input_ids"]
    for i, ids, given in zip(both["_i"].to_list(), encoded, both[TOKENS].to_list(), strict=True):
        if list(ids) != list(given):
            first = next((j for j, (a, b) in enumerate(zip(ids, given, strict=False)) if a != b),
                         min(len(ids), len(given)))
            raise ConfigError(f"{_where(frame, i)}: the tokenizer encodes the text to other "
                              f"token ids than the given tokens (first at token {first}); the "
                              "tokens were made by another tokenizer")


def token_arrays(frame: pl.DataFrame) -> list[np.ndarray]:
    """The ``tokens`` column as one int64 array per row."""
    return [np.asarray(ids, dtype=np.int64) for ids in frame[TOKENS].to_list()]


def texts_or_token_strings(frame: pl.DataFrame) -> list[str]:
    """Each row's text, or where there is none its token ids joined by spaces (what zlib and
    the blind baseline read for pre-tokenized input without a tokenizer)."""
    return [text if text is not None else " ".join(map(str, ids))
            for text, ids in zip(frame[TEXT].to_list(), frame[TOKENS].to_list(), strict=True)]


# --------------------------------------------------------------------------- validation


def check_token_range(frame: pl.DataFrame, vocab_size: int) -> None:
    """Every token id in ``[0, vocab_size)``; otherwise name the first sequence that is not."""
    lows = frame[TOKENS].list.min().to_numpy()
    highs = frame[TOKENS].list.max().to_numpy()
    bad = np.flatnonzero((lows < 0) | (highs >= vocab_size))
    if bad.size:
        i = int(bad[0])
        value = int(highs[i]) if highs[i] >= vocab_size else int(lows[i])
        raise ConfigError(f"{_where(frame, i)}: token id {value} outside the tokenizer's "
                          f"vocabulary [0, {vocab_size}); the tokens were made by another "
                          "tokenizer")


def check_lengths(frame: pl.DataFrame, min_tokens: int, max_tokens: int | None) -> None:
    """Every sequence between ``min_tokens`` and ``max_tokens`` tokens long."""
    lengths = frame[TOKENS].list.len().to_numpy()
    short = np.flatnonzero(lengths < min_tokens)
    if short.size:
        i = int(short[0])
        raise ConfigError(f"{_where(frame, i)}: {lengths[i]} tokens, fewer than the "
                          f"{min_tokens} needed to score it")
    if max_tokens is not None and (long := np.flatnonzero(lengths > max_tokens)).size:
        i = int(long[0])
        raise ConfigError(f"{_where(frame, i)}: {lengths[i]} tokens, more than the model's "
                          f"context of {max_tokens}")


def normalize_text(text: str) -> str:
    """NFKC, lowercase, whitespace runs collapsed: texts equal up to formatting compare equal."""
    return " ".join(unicodedata.normalize("NFKC", text).lower().split())


def _text_keys(frame: pl.DataFrame) -> list[str | None]:
    return [None if t is None else normalize_text(t) for t in frame[TEXT].to_list()]


def _token_keys(frame: pl.DataFrame) -> list[bytes]:
    return [np.asarray(ids, np.int64).tobytes() for ids in frame[TOKENS].to_list()]


def check_exact_overlap(members: pl.DataFrame, nonmembers: pl.DataFrame) -> None:
    """No member equal to a non-member: the same tokens, or the same normalized text."""
    for keys in (_token_keys, _text_keys):
        first_nonmember: dict = {}
        for j, key in enumerate(keys(nonmembers)):
            first_nonmember.setdefault(key, j)
        first_nonmember.pop(None, None)
        for i, key in enumerate(keys(members)):
            if key in first_nonmember:
                raise ConfigError(f"member {_where(members, i)} also appears among the "
                                  f"non-members ({_where(nonmembers, first_nonmember[key])})")


def window_hashes(tokens: np.ndarray, span: int) -> np.ndarray:
    """A 64-bit polynomial hash of every ``span``-token window of one sequence (the text
    track's span hash, for sequences of any length); empty when it is shorter than ``span``."""
    if tokens.size < span:
        return np.empty(0, dtype=np.uint64)
    windows = np.lib.stride_tricks.sliding_window_view(tokens.astype(np.uint64), span)
    powers = _HASH_BASE ** np.arange(span - 1, -1, -1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        return (windows * powers).sum(axis=1, dtype=np.uint64)


def _all_windows(sequences: list[np.ndarray], span: int) -> tuple[np.ndarray, ...]:
    """Hashes of every window of every sequence, with the sequence and offset of each."""
    hashes = [window_hashes(s, span) for s in sequences]
    owner = np.repeat(np.arange(len(sequences)), [h.size for h in hashes])
    offset = np.concatenate([np.arange(h.size) for h in hashes] or [np.empty(0, np.int64)])
    return np.concatenate(hashes or [np.empty(0, np.uint64)]), owner, offset


def shared_span(members: list[np.ndarray], nonmembers: list[np.ndarray],
                span: int) -> tuple[int, int, int, int] | None:
    """The first (member, member offset, non-member, non-member offset) whose ``span``-token
    windows are equal, or ``None``. Hash matches are confirmed token by token."""
    m_hash, m_seq, m_off = _all_windows(members, span)
    n_hash, n_seq, n_off = _all_windows(nonmembers, span)
    order = np.argsort(n_hash, kind="stable")
    n_hash, n_seq, n_off = n_hash[order], n_seq[order], n_off[order]
    for c in np.flatnonzero(np.isin(m_hash, n_hash)):
        i, a = int(m_seq[c]), int(m_off[c])
        lo, hi = np.searchsorted(n_hash, m_hash[c], "left"), np.searchsorted(n_hash, m_hash[c],
                                                                             "right")
        for j, b in zip(n_seq[lo:hi].tolist(), n_off[lo:hi].tolist(), strict=True):
            if np.array_equal(members[i][a:a + span], nonmembers[j][b:b + span]):
                return i, a, j, b
    return None


def check_span_overlap(members: pl.DataFrame, nonmembers: pl.DataFrame, span: int) -> None:
    """No member sharing a run of ``span`` tokens with a non-member, at any offsets."""
    found = shared_span(token_arrays(members), token_arrays(nonmembers), span)
    if found is not None:
        i, a, j, b = found
        raise ConfigError(f"member {_where(members, i)} shares a {span}-token span with "
                          f"non-member {_where(nonmembers, j)} (tokens {a}..{a + span - 1} and "
                          f"{b}..{b + span - 1}); members and non-members must not overlap")


def validate(frame: pl.DataFrame, vocab_size: int, *, span: int = DEFAULT_SPAN,
             min_tokens: int = 2, max_tokens: int | None = None) -> None:
    """All the checks of the module docstring, cheapest first; the first failure raises a
    :class:`ConfigError` whose one line names the input."""
    members, nonmembers = frame.filter(pl.col(MEMBER)), frame.filter(~pl.col(MEMBER))
    for part, role in ((members, "member"), (nonmembers, "non-member")):
        if part.height == 0:
            raise ConfigError(f"the {role} set is empty")
    if frame[TOKENS].null_count():
        raise ConfigError("some sequences have no tokens yet: tokenize before validating")
    check_token_range(frame, vocab_size)
    check_lengths(frame, min_tokens, max_tokens)
    check_exact_overlap(members, nonmembers)
    check_span_overlap(members, nonmembers, span)
