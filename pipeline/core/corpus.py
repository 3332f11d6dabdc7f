"""The shared text corpus, as every track reads it.

The corpus track (``pipeline.tracks.corpus``) turns documents into deduplicated token
sequences split *by document* into four pools, and writes them here; the text, profiles,
retention and audit tracks read them through this module only, so no track re-declares
another's paths:

* ``members``: the pool the text grid and the other tracks train on, in a seeded order;
* ``reference``: where reference models train (other documents, no shared span);
* ``validation``: where the oracle is chosen (other documents);
* ``nonmembers``: held-out test sequences (other documents).

Each pool is a token Parquet (one fixed-size list per sequence, :mod:`pipeline.core.io`) with
a ``document`` column; ``corpus.json`` describes the corpus (name, tokenizer, vocabulary,
sequence length, pool sizes) and ``tokenizer.json`` turns ids back into text.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.core.errors import ArtifactError
from pipeline.core.io import read_json, read_parquet, read_tokens
from pipeline.core.layout import DATA, METRICS

CORPUS = DATA / "corpus"
POOLS = ("members", "reference", "validation", "nonmembers")
INFO = CORPUS / "corpus.json"
TOKENIZER = CORPUS / "tokenizer.json"
CORPUS_METRICS = METRICS / "corpus.json"
DOCUMENT = "document"  # each sequence's document (index among the documents kept)
BLANK_TOKEN = "<|endoftext|>"  # never inside a sequence: sequences never span documents
REQUIRED_INFO = ("corpus_name", "vocab_size", "seq_len", *POOLS)
_MISSING = "missing (run the corpus stage first: dvc repro corpus_build)"


def pool_path(pool: str, root: Path = Path(".")) -> Path:
    if pool not in POOLS:
        raise ValueError(f"unknown corpus pool {pool!r}; one of {POOLS}")
    return root / CORPUS / f"{pool}.parquet"


def read_info(root: Path = Path(".")) -> dict[str, Any]:
    """The corpus description; a missing file or key is named."""
    path = root / INFO
    if not path.is_file():
        raise ArtifactError(f"{path}: {_MISSING}")
    info = read_json(path)
    missing = [key for key in REQUIRED_INFO if key not in info]
    if missing:
        raise ArtifactError(f"{path}: missing keys {missing}")
    return info


def read_pool(pool: str, root: Path = Path(".")) -> np.ndarray:
    """One pool's sequences as int64 ``[n, seq_len]``."""
    return read_tokens(pool_path(pool, root))


def read_documents(pool: str, root: Path = Path(".")) -> np.ndarray:
    """Each sequence's document index, for splits by document."""
    return read_parquet(pool_path(pool, root), columns=[DOCUMENT])[DOCUMENT].to_numpy()


def load_tokenizer(root: Path = Path(".")):
    """The corpus's tokenizer (a ``tokenizers.Tokenizer``), to turn ids back into text."""
    from tokenizers import Tokenizer

    path = root / TOKENIZER
    if not path.is_file():
        raise ArtifactError(f"{path}: {_MISSING}")
    try:
        return Tokenizer.from_file(str(path))
    except Exception as error:  # the tokenizers library raises a bare Exception
        raise ArtifactError(f"{path}: unreadable tokenizer ({error})") from error


def blank_id(root: Path = Path(".")) -> int:
    """The id of ``<|endoftext|>`` in the corpus tokenizer (the blank of blank-copy)."""
    path = root / TOKENIZER
    if not path.is_file():
        raise ArtifactError(f"{path}: {_MISSING}")
    try:
        content = json.loads(path.read_text())
        added = {t["content"]: t["id"] for t in content.get("added_tokens", [])}
        vocab = content["model"]["vocab"]
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise ArtifactError(f"{path}: unreadable tokenizer ({error})") from error
    for table in (added, vocab):
        if BLANK_TOKEN in table:
            return int(table[BLANK_TOKEN])
    raise ArtifactError(f"{path}: has no {BLANK_TOKEN} token to use as the blank")


GPT2_VOCAB = 50_257


def planned_vocabulary(corpus_params) -> int:
    """The vocabulary the ``corpus`` params group will give, before the corpus is built (for
    cost plans): GPT-2's, or the trained BPE's size."""
    return GPT2_VOCAB if corpus_params.tokenizer == "gpt2" else corpus_params.bpe_vocab_size
