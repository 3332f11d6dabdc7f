"""The track's data, read from the shared corpus (:mod:`pipeline.core.corpus`): its member pool
(training) and held-out non-members, cut into the lengths this track needs, and the checks
that lengths and model folders match that corpus.

A pool sequence of S tokens gives ⌊S / n⌋ non-overlapping sequences of n tokens; sequences
never span two pool sequences, so held-out ones share no text with training ones beyond what
the corpus's deduplication allowed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.core import corpus as shared
from pipeline.core.errors import ArtifactError, ConfigError
from pipeline.core.io import read_json
from pipeline.tracks.retention.config import RetentionConfig


@dataclass(frozen=True)
class Corpus:
    members: np.ndarray      # [n, S] int64, training
    nonmembers: np.ndarray   # [m, S] int64, held out
    vocab_size: int
    seq_len: int
    blank_id: int
    name: str


def read_corpus(root: Path = Path(".")) -> Corpus:
    info = shared.read_info(root)
    return Corpus(shared.read_pool("members", root), shared.read_pool("nonmembers", root),
                  int(info["vocab_size"]), int(info["seq_len"]), shared.blank_id(root),
                  str(info["corpus_name"]))


def cut(sequences: np.ndarray, length: int) -> np.ndarray:
    """Non-overlapping sequences of ``length`` tokens from each row, in order."""
    per_row = sequences.shape[1] // length
    return np.ascontiguousarray(sequences[:, : per_row * length].reshape(-1, length))


def check_lengths(config: RetentionConfig, corpus: Corpus) -> None:
    """Every length the track cuts must fit in the corpus's sequences; the error names the
    parameter and the corpus file."""
    where = shared.INFO
    if config.seq_len > corpus.seq_len:
        raise ConfigError(f"retention.seq_len={config.seq_len} exceeds the corpus sequence "
                          f"length {corpus.seq_len} ({where})")
    memory = config.memory
    if memory.length > corpus.seq_len:
        raise ConfigError(
            f"retention.memory.n_chunks × retention.memory.chunk_len = {memory.n_chunks} × "
            f"{memory.chunk_len} = {memory.length} exceeds the corpus sequence length "
            f"{corpus.seq_len} ({where}); lower them or lengthen corpus.seq_len")


def check_encoder(directory: Path, corpus: Corpus, length: int) -> None:
    """An encoder folder must speak the corpus tokenizer's vocabulary and take ``length``
    tokens; otherwise an error names the folder."""
    path = directory / "config.json"
    if not path.is_file():
        raise ArtifactError(f"{path}: missing (run the retention_encoders stage first)")
    config = read_json(path)
    vocab = config.get("vocab_size")
    if vocab != corpus.vocab_size:
        raise ArtifactError(
            f"{directory}: encoder vocabulary {vocab} does not match the corpus tokenizer's "
            f"{corpus.vocab_size} ({shared.TOKENIZER}); retrain the encoders on this corpus")
    if config.get("n_positions", 0) < length:
        raise ArtifactError(f"{directory}: encoder takes {config.get('n_positions')} "
                            f"positions, fewer than the {length} tokens it must embed")


def fingerprint_of(directory: Path) -> str:
    """The fingerprint a trained model folder records (what a reader's fingerprint cites)."""
    path = directory / "training.json"
    content = read_json(path)
    if "fingerprint" not in content:
        raise ArtifactError(f"{path}: no fingerprint")
    return str(content["fingerprint"])
