"""Load a text corpus into a polars DataFrame with columns ``text`` and ``id`` (both Utf8).

Three sources:

* ``"python-docs"``: offline and self-contained; the documentation text that ships with
  Python itself (``pydoc_data`` topics plus docstrings of the standard library).
* ``"fineweb-hub"``: FineWeb Parquet read lazily from the Hugging Face Hub (needs network).
* ``"local"``: a path, directory or glob of FineWeb-schema ``.parquet`` / ``.jsonl`` /
  ``.json`` (JSON Lines) files.

Every loader returns ``(documents, counts)``; empty or whitespace-only documents are
dropped and counted, and any unreadable input raises :class:`CorpusError` naming the file.
"""

from __future__ import annotations

import ast
import glob
import itertools
import json
import os
import queue
import socket
import sysconfig
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import polars as pl

from pipeline.core.errors import PipelineError

SOURCES = ("python-docs", "fineweb-hub", "local")
PARQUET_SUFFIXES = (".parquet",)
JSONL_SUFFIXES = (".jsonl", ".json")
MIN_PYTHON_DOC_CHARS = 200
HUB_PROBE_TIMEOUT_S = 3.0
# Directory names under the stdlib whose files are not documentation.
_SKIPPED_STDLIB_DIRS = frozenset(
    {"test", "tests", "idle_test", "site-packages", "dist-packages", "__pycache__"}
)
_LOCAL_HINT = (
    'Use local files instead: source "local" with path: ../shared/data/*.parquet '
    "(FineWeb-schema Parquet or JSON Lines with a `text` column)."
)


class CorpusError(PipelineError, ValueError):
    """The corpus cannot be loaded or processed; the message names the file and the reason."""


def load_corpus(
    source: str,
    *,
    path: str | None = None,
    hf_repo: str = "HuggingFaceFW/fineweb",
    hf_file: str = "sample/10BT/000_00000.parquet",
    max_documents: int | None = None,
) -> tuple[pl.DataFrame, dict[str, Any]]:
    """Load documents from ``source`` and return ``(documents, counts)``.

    ``path`` is used by ``"local"`` only, ``hf_repo``/``hf_file`` by ``"fineweb-hub"`` only.

    ``documents`` has columns ``text`` and ``id`` (Utf8; ``id`` is null where the source
    has none), in a deterministic order, at most ``max_documents`` rows, none of them
    empty or whitespace-only. ``counts`` holds ``corpus_name`` (human-readable),
    ``documents_read`` (records seen before any skipping), ``skipped_empty``,
    ``skipped_undecodable``, ``skipped_short`` (python-docs only: shorter than
    ``MIN_PYTHON_DOC_CHARS``), ``documents`` (rows returned) and, for file sources,
    ``files`` (files read).
    """
    if max_documents is not None and max_documents < 1:
        raise CorpusError(f"max_documents must be a positive integer or None, got {max_documents}")
    if source == "python-docs":
        return _load_python_docs(max_documents)
    if source == "fineweb-hub":
        return _load_hub(hf_repo, hf_file, max_documents)
    if source == "local":
        if not path:
            raise CorpusError('source "local" needs a path (a file, directory or glob)')
        return _load_local(path, max_documents)
    raise CorpusError(f"unknown corpus source {source!r}; expected one of {', '.join(SOURCES)}")


def _new_counts(corpus_name: str) -> dict[str, Any]:
    return {
        "corpus_name": corpus_name,
        "documents_read": 0,
        "skipped_empty": 0,
        "skipped_undecodable": 0,
        "skipped_short": 0,
        "documents": 0,
    }


def _drop_empty(frame: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """Drop null, empty and whitespace-only texts; return the rest and how many were dropped."""
    keep = frame.filter(pl.col("text").is_not_null() & (pl.col("text").str.strip_chars() != ""))
    return keep, frame.height - keep.height


def _frame(texts: Sequence[str | None], ids: Sequence[str | None]) -> pl.DataFrame:
    return pl.DataFrame({"text": texts, "id": ids}, schema={"text": pl.Utf8, "id": pl.Utf8})


def _finish(
    parts: list[pl.DataFrame], counts: dict[str, Any], max_documents: int | None
) -> tuple[pl.DataFrame, dict[str, Any]]:
    documents = pl.concat(parts) if parts else _frame([], [])
    if max_documents is not None:
        documents = documents.head(max_documents)
    counts["documents"] = documents.height
    return documents, counts


# --- python-docs -----------------------------------------------------------------------


def _load_python_docs(max_documents: int | None) -> tuple[pl.DataFrame, dict[str, Any]]:
    """Python's bundled documentation: ``pydoc_data`` topics, then stdlib docstrings."""
    from pydoc_data.topics import topics

    counts = _new_counts(
        "Python documentation (pydoc_data topics + standard-library docstrings; NOT FineWeb)"
    )
    texts: list[str] = []
    ids: list[str] = []

    def add(text: str | None, doc_id: str) -> bool:
        """Add one candidate; return True once ``max_documents`` are collected."""
        counts["documents_read"] += 1
        if text is None or not text.strip():
            counts["skipped_empty"] += 1
        elif len(text) < MIN_PYTHON_DOC_CHARS:
            counts["skipped_short"] += 1
        else:
            texts.append(text)
            ids.append(doc_id)
        return max_documents is not None and len(texts) >= max_documents

    candidates = itertools.chain(
        ((topics[name], f"pydoc-topic:{name}") for name in sorted(topics)),
        ((text, f"stdlib:{where}") for where, text in _stdlib_docstrings()),
    )
    for text, doc_id in candidates:
        if add(text, doc_id):
            break
    return _finish([_frame(texts, ids)], counts, max_documents)


def _stdlib_docstrings() -> Iterator[tuple[str, str]]:
    """Yield ``(location, docstring)`` for modules, classes and functions of the stdlib.

    Files are visited in sorted order and nodes in ``ast.walk`` order, so the sequence is
    deterministic for a given Python installation. Test directories, site-packages and
    files that do not parse (e.g. deliberately broken test data) are skipped.
    """
    root = Path(sysconfig.get_paths()["stdlib"])
    files = []
    for folder, subfolders, names in os.walk(root):
        # Pruning in place stops os.walk from descending into skipped directories.
        subfolders[:] = [d for d in subfolders if d not in _SKIPPED_STDLIB_DIRS]
        files += [Path(folder, n) for n in names if n.endswith(".py") and not n.startswith("test_")]
    for file in sorted(files):
        try:
            tree = ast.parse(file.read_bytes(), filename=str(file))
        except (SyntaxError, ValueError, OSError):
            continue
        rel = file.relative_to(root).as_posix()
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node, clean=True)
                if doc:
                    name = getattr(node, "name", "<module>")
                    yield f"{rel}:{name}:{getattr(node, 'lineno', 0)}", doc


# --- fineweb-hub -----------------------------------------------------------------------


def _load_hub(
    hf_repo: str, hf_file: str, max_documents: int | None
) -> tuple[pl.DataFrame, dict[str, Any]]:
    """Read FineWeb rows lazily from the Hub; fail fast with a hint when offline."""
    uri = f"hf://datasets/{hf_repo}/{hf_file}"
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}:
        raise CorpusError(f"cannot read {uri}: HF_HUB_OFFLINE is set. {_LOCAL_HINT}")
    host, port = _hub_probe_target()
    reason = _probe(host, port, HUB_PROBE_TIMEOUT_S)
    if reason is not None:
        raise CorpusError(
            f"cannot read {uri}: {host}:{port} is unreachable ({reason}). {_LOCAL_HINT}"
        )
    try:
        frame = pl.scan_parquet(uri).select("text", "id")
        if max_documents is not None:
            frame = frame.head(max_documents)
        raw = frame.collect()
    except Exception as err:  # polars raises several unrelated types for I/O and schema errors
        raise CorpusError(f"cannot read {uri}: {err}. {_LOCAL_HINT}") from err
    counts = _new_counts(f"FineWeb ({hf_repo}/{hf_file}, read from the Hugging Face Hub)")
    counts["files"] = 1
    counts["documents_read"] = raw.height
    documents, counts["skipped_empty"] = _drop_empty(
        raw.select(pl.col("text").cast(pl.Utf8), pl.col("id").cast(pl.Utf8))
    )
    return _finish([documents], counts, max_documents)


def _hub_probe_target() -> tuple[str, int]:
    """Host and port a Hub request would first contact (the HTTPS proxy when one is set)."""
    proxy = os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy")
    parsed = urlparse(proxy or os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    default_port = 443 if parsed.scheme == "https" else 80
    return parsed.hostname or "huggingface.co", parsed.port or default_port


def _probe(host: str, port: int, timeout_s: float) -> str | None:
    """Return None if a TCP connection to host:port opens within ``timeout_s``, else why not.

    DNS lookups ignore socket timeouts, so the whole probe runs in a daemon thread that is
    abandoned if it does not answer in time.
    """
    answer: queue.Queue[str | None] = queue.Queue(maxsize=1)

    def connect() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout_s):
                answer.put(None)
        except OSError as err:
            answer.put(f"{type(err).__name__}: {err}")

    threading.Thread(target=connect, daemon=True).start()
    try:
        return answer.get(timeout=timeout_s + 0.5)
    except queue.Empty:
        return f"no answer within {timeout_s:g} s"


# --- local files -----------------------------------------------------------------------


def _resolve_files(pattern: str) -> list[Path]:
    """Expand a file, directory or glob into a sorted list of supported files."""
    suffixes = PARQUET_SUFFIXES + JSONL_SUFFIXES
    if glob.has_magic(pattern):
        files = sorted(Path(p) for p in glob.glob(pattern, recursive=True) if Path(p).is_file())
        if not files:
            raise CorpusError(f"the glob {pattern!r} matches no files")
    elif Path(pattern).is_dir():
        files = sorted(p for p in Path(pattern).iterdir() if p.suffix.lower() in suffixes)
        if not files:
            raise CorpusError(f"the directory {pattern} holds no {'/'.join(suffixes)} files")
    elif Path(pattern).is_file():
        files = [Path(pattern)]
    else:
        raise CorpusError(f"no such file or directory: {pattern}")
    for file in files:
        if file.suffix.lower() not in suffixes:
            raise CorpusError(
                f"{file}: unsupported file type {file.suffix!r}; "
                f"expected one of {', '.join(suffixes)}"
            )
    return files


def _load_local(pattern: str, max_documents: int | None) -> tuple[pl.DataFrame, dict[str, Any]]:
    files = _resolve_files(pattern)
    counts = _new_counts(f"local corpus files: {pattern} ({len(files)} file(s))")
    counts["files"] = 0
    parts: list[pl.DataFrame] = []
    kept = 0
    for file in files:
        undecodable = 0
        if file.suffix.lower() in PARQUET_SUFFIXES:
            raw = _read_parquet(file)
        else:
            raw, undecodable = _read_jsonl(file)
            counts["skipped_undecodable"] += undecodable
        counts["files"] += 1
        counts["documents_read"] += raw.height + undecodable
        documents, empty = _drop_empty(raw)
        counts["skipped_empty"] += empty
        parts.append(documents)
        kept += documents.height
        if max_documents is not None and kept >= max_documents:
            break
    return _finish(parts, counts, max_documents)


def _read_parquet(file: Path) -> pl.DataFrame:
    try:
        schema = pl.read_parquet_schema(file)
    except Exception as err:  # a truncated or non-Parquet file surfaces as several types
        raise CorpusError(f"{file}: not a readable Parquet file ({err})") from err
    if "text" not in schema:
        raise CorpusError(
            f"{file}: missing required column 'text'; "
            f"columns present: {', '.join(schema) or 'none'}"
        )
    if schema["text"] != pl.String:
        raise CorpusError(f"{file}: column 'text' has type {schema['text']}, expected a string")
    columns = ["text", "id"] if "id" in schema else ["text"]
    try:
        raw = pl.read_parquet(file, columns=columns)
        ids = raw["id"] if "id" in schema else pl.Series("id", [None] * raw.height)
        return pl.DataFrame({"text": raw["text"], "id": ids.cast(pl.Utf8)})
    except Exception as err:  # invalid UTF-8, corrupt pages, an id that is not castable
        raise CorpusError(f"{file}: cannot read columns {columns} ({err})") from err


def _read_jsonl(file: Path) -> tuple[pl.DataFrame, int]:
    """Read JSON Lines; lines that are not valid UTF-8 are skipped and counted.

    Returns the documents and the number of undecodable lines. Blank lines are ignored.
    """
    try:
        data = file.read_bytes()
    except OSError as err:
        raise CorpusError(f"{file}: cannot read ({err})") from err
    texts: list[str | None] = []
    ids: list[str | None] = []
    undecodable = 0
    for lineno, raw_line in enumerate(data.splitlines(), start=1):
        try:
            line = raw_line.decode("utf-8")
        except UnicodeDecodeError:
            undecodable += 1
            continue
        if lineno == 1:
            line = line.removeprefix("\ufeff")  # a UTF-8 byte-order mark
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise CorpusError(
                f"{file}:{lineno}: not valid JSON ({err.msg}); "
                ".jsonl/.json files are read as JSON Lines, one object per line"
            ) from err
        if not isinstance(record, dict):
            raise CorpusError(
                f"{file}:{lineno}: expected a JSON object, got {type(record).__name__}"
            )
        if "text" not in record:
            raise CorpusError(
                f"{file}:{lineno}: missing required column 'text'; "
                f"columns present: {', '.join(record) or 'none'}"
            )
        text = record["text"]
        if text is not None and not isinstance(text, str):
            raise CorpusError(
                f"{file}:{lineno}: column 'text' is a {type(text).__name__}, expected a string"
            )
        if text is not None and _has_surrogates(text):
            # JSON escapes can encode lone surrogates, which are not valid UTF-8 text.
            undecodable += 1
            continue
        doc_id = record.get("id")
        texts.append(text)
        ids.append(None if doc_id is None else str(doc_id))
    return _frame(texts, ids), undecodable


def _has_surrogates(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
