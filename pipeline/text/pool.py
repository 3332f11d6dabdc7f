"""Reading what the ``text_corpus`` stage wrote: the member pool, the held-out non-members,
the corpus description and the tokenizer (to turn token ids back into text)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from tokenizers import Tokenizer

from pipeline.core.errors import ArtifactError
from pipeline.core.io import read_json, read_tokens
from pipeline.text import layout


def read_corpus_info(root: Path = Path(".")) -> dict[str, Any]:
    info = read_json(root / layout.CORPUS_INFO)
    missing = {"vocab_size", "seq_len", "corpus_name", "members", "nonmembers"} - set(info)
    if missing:
        raise ArtifactError(f"{root / layout.CORPUS_INFO}: missing keys {sorted(missing)}")
    return info


def read_pool(root: Path = Path(".")) -> tuple[np.ndarray, np.ndarray]:
    """The member pool and the held-out non-members, as int64 ``[n, seq_len]`` arrays."""
    return read_tokens(root / layout.MEMBERS), read_tokens(root / layout.NONMEMBERS)


def read_reference_pools(root: Path = Path(".")) -> tuple[np.ndarray, np.ndarray]:
    """The reference pool (where references train) and the validation split (where the
    oracle is chosen): other documents than the members' and the non-members'."""
    return read_tokens(root / layout.REFERENCE_POOL), read_tokens(root / layout.VALIDATION)


def load_decoder(root: Path = Path(".")) -> Tokenizer:
    """The corpus stage's tokenizer, to turn token ids back into text."""
    path = root / layout.TOKENIZER
    if not path.is_file():
        raise ArtifactError(f"{path}: missing (run the corpus stage first)")
    try:
        return Tokenizer.from_file(str(path))
    except Exception as error:  # the tokenizers library raises a bare Exception
        raise ArtifactError(f"{path}: unreadable tokenizer ({error})") from error
