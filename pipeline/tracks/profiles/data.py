"""Members with a known repetition count, non-members, and corpus n-gram counts.

Members are drawn from the shared corpus's member pool and stratified over
``data.repetitions`` (``data.counts`` per stratum); the training set holds each member that
many times, plus ``data.unscored_members`` further pool sequences once each (shuffled by the
trainer). Non-members come from the corpus's held-out sequences, which no ladder model
sees. Repetition gives memorization a graded axis within one model; non-members are the
generalization control the paper lacks. The member / non-member split is the corpus
stage's: its member pool and its test non-members come from different documents and share no
run of ``corpus.dedup_span`` tokens.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from pipeline.core import corpus
from pipeline.core.errors import ArtifactError, ConfigError
from pipeline.core.io import read_parquet, write_json, write_parquet
from pipeline.tracks.profiles import layout
from pipeline.tracks.profiles.config import ProfilesConfig

SEQ_ID, TOKENS, MEMBER, REPETITIONS = "seq_id", "tokens", "member", "repetitions"


def read_token_file(path: Path, column: str) -> np.ndarray:
    """``[n, S]`` token ids from a Parquet file of equal-length token lists."""
    if not path.is_file():
        raise ArtifactError(f"{path}: missing (profiles.data.members_path / nonmembers_path)")
    frame = read_parquet(path)
    if column not in frame.columns:
        raise ArtifactError(f"{path}: no column {column!r} (profiles.data.token_column)")
    if isinstance(frame.schema[column], pl.List) and frame[column].list.len().n_unique() > 1:
        raise ArtifactError(f"{path}: sequences of different lengths in {column!r}")
    return np.array(frame[column].to_list(), dtype=np.int64)


def read_corpus(profiles: ProfilesConfig, root: Path) -> tuple[np.ndarray, np.ndarray, dict]:
    """Member pool, held-out sequences and a corpus description: the text track's, or the
    pre-tokenized files of ``source: tokens``."""
    data = profiles.data
    if data.source == "tokens":
        members = read_token_file(root / data.members_path, data.token_column)
        nonmembers = read_token_file(root / data.nonmembers_path, data.token_column)
        if members.shape[1] != nonmembers.shape[1]:
            raise ArtifactError(f"{data.members_path} and {data.nonmembers_path}: sequences of "
                                f"{members.shape[1]} and {nonmembers.shape[1]} tokens differ")
        info = {"vocab_size": data.vocab_size, "seq_len": members.shape[1],
                "corpus_name": f"pre-tokenized sequences ({data.members_path})"}
        return members, nonmembers, info
    return (corpus.read_pool("members", root), corpus.read_pool("nonmembers", root),
            corpus.read_info(root))


def check_lengths(profiles: ProfilesConfig, seq_len: int) -> None:
    """Every (k, L) cell must fit in a corpus sequence."""
    if profiles.grid.longest > seq_len:
        too_long = [(k, n) for k, n in profiles.grid.cells() if k + n > seq_len]
        raise ConfigError(
            f"profiles.grid: k + L of {too_long} exceeds the corpus sequences' {seq_len} tokens"
            "; shorten grid.lengths / grid.contexts, or use longer sequences "
            "(corpus.seq_len, or profiles.data.source: tokens)")


def select_sequences(members: np.ndarray, nonmembers: np.ndarray,
                     profiles: ProfilesConfig) -> tuple[pl.DataFrame, np.ndarray]:
    """One row per scored sequence: ``seq_id``, ``tokens``, ``member``, ``repetitions``
    (0 for non-members); and the unscored members trained on once."""
    data = profiles.data
    per_repetition = data.per_repetition()
    n_members = sum(per_repetition)
    if n_members > len(members):
        raise ConfigError(
            f"profiles.data: {n_members} members (members_per_repetition / counts × "
            f"repetitions) exceed the member pool of {len(members)} sequences "
            f"({corpus.pool_path('members')})")
    rest = len(members) - n_members
    unscored = rest if data.unscored_members == "rest" else data.unscored_members
    if unscored > rest:
        raise ConfigError(f"profiles.data.unscored_members={unscored} exceeds the {rest} pool "
                          f"sequences left after the {n_members} scored members")
    if data.nonmembers > len(nonmembers):
        raise ConfigError(
            f"profiles.data.nonmembers={data.nonmembers} exceeds the {len(nonmembers)} held-out "
            f"sequences ({corpus.pool_path('nonmembers')})")
    rng = np.random.default_rng(data.seed)
    order = rng.permutation(len(members))
    chosen = members[order[:n_members]]
    extra = members[order[n_members:n_members + unscored]]
    held_out = nonmembers[rng.permutation(len(nonmembers))[:data.nonmembers]]
    repetitions = np.repeat(np.asarray(data.repetitions), per_repetition)
    tokens = np.concatenate([chosen, held_out])
    frame = pl.DataFrame({
        SEQ_ID: np.arange(len(tokens), dtype=np.int64),
        TOKENS: tokens.astype(np.int64),
        MEMBER: np.arange(len(tokens)) < n_members,
        REPETITIONS: np.concatenate([repetitions, np.zeros(len(held_out), dtype=np.int64)]),
    }, schema_overrides={TOKENS: pl.Array(pl.Int64, tokens.shape[1])})
    return frame, extra


def training_tokens(sequences: pl.DataFrame, unscored: np.ndarray | None = None) -> np.ndarray:
    """The ladder's training set: each member ``repetitions`` times, in seq_id order, then
    the unscored members once each."""
    members = sequences.filter(pl.col(MEMBER))
    tokens = members[TOKENS].to_numpy()
    repeated = np.repeat(tokens, members[REPETITIONS].to_numpy(), axis=0)
    if unscored is None or not len(unscored):
        return repeated
    return np.concatenate([repeated, unscored.astype(repeated.dtype)])


def ngram_counts(corpus: np.ndarray) -> pl.DataFrame:
    """Counts of every 1-gram and 2-gram (within a sequence) of ``corpus [n, S]``:
    columns ``first`` (−1 for a 1-gram), ``token``, ``count``."""
    unigram = np.unique(corpus.ravel(), return_counts=True)
    pairs = np.stack([corpus[:, :-1].ravel(), corpus[:, 1:].ravel()], axis=1)
    bigram, counts = np.unique(pairs, axis=0, return_counts=True)
    return pl.DataFrame({
        "first": np.concatenate([np.full(len(unigram[0]), -1), bigram[:, 0]]).astype(np.int64),
        "token": np.concatenate([unigram[0], bigram[:, 1]]).astype(np.int64),
        "count": np.concatenate([unigram[1], counts]).astype(np.int64),
    })


def prepare(profiles: ProfilesConfig, root: Path) -> dict:
    """Write the scored sequences, the training set, the n-gram counts and a summary."""
    members, nonmembers, info = read_corpus(profiles, root)
    check_lengths(profiles, int(info["seq_len"]))
    sequences, unscored = select_sequences(members, nonmembers, profiles)
    training = training_tokens(sequences, unscored)
    write_parquet(sequences, root / layout.SEQUENCES)
    write_parquet(pl.DataFrame({TOKENS: training},
                               schema={TOKENS: pl.Array(pl.Int64, training.shape[1])}),
                  root / layout.TRAINING)
    # The corpus the sequences come from: every deduplicated sequence, members and held out.
    write_parquet(ngram_counts(np.concatenate([members, nonmembers])), root / layout.NGRAMS)
    summary = {
        "members": int(sequences[MEMBER].sum()),
        "nonmembers": int((~sequences[MEMBER]).sum()),
        "training_sequences": len(training),
        "unscored_members": len(unscored),
        "repetitions": list(profiles.data.repetitions),
        "seq_len": int(info["seq_len"]),
        "vocab_size": int(info["vocab_size"]),
        "corpus_name": info.get("corpus_name", "unknown"),
        "corpus_tokens": int(members.size + nonmembers.size),
        "split_by": "document (the corpus's member pool and test non-members share no "
                    "document)",
    }
    write_json(summary, root / layout.DATA_INFO)
    return summary


def read_sequences(root: Path) -> pl.DataFrame:
    return read_parquet(root / layout.SEQUENCES)
