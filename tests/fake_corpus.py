"""A stand-in for the corpus stage's output (:mod:`pipeline.core.corpus`): what the tracks that
read the shared corpus find on disk, with uniform random tokens."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl

from pipeline.core import corpus
from pipeline.core.io import tokens_frame, write_json, write_parquet


def write_fake_corpus(root: Path, vocab_size: int = 32, seq_len: int = 16, members: int = 96,
                      nonmembers: int = 24, seed: int = 0, low: int = 1) -> None:
    """The four pools of uniform tokens ``low..V−1`` (0 is ``<|endoftext|>``, the blank), a
    minimal tokenizer file and the corpus description."""
    rng = np.random.default_rng(seed)
    sizes = {"members": members, "reference": members, "validation": nonmembers,
             "nonmembers": nonmembers}
    for pool, size in sizes.items():
        tokens = rng.integers(low, vocab_size, (size, seq_len))
        frame = tokens_frame(tokens, "uint16").with_columns(
            pl.Series(corpus.DOCUMENT, np.arange(size)))
        write_parquet(frame, corpus.pool_path(pool, root))
    vocab = {"<|endoftext|>": 0, **{f"t{i}": i for i in range(1, vocab_size)}}
    tokenizer = {"added_tokens": [{"id": 0, "content": "<|endoftext|>"}],
                 "model": {"type": "BPE", "vocab": vocab}}
    (root / corpus.TOKENIZER).write_text(json.dumps(tokenizer))
    write_json({"corpus_name": "random tokens (test)", "source": "test", "tokenizer": "bpe",
                "token_dtype": "uint16", "vocab_size": vocab_size, "seq_len": seq_len, **sizes},
               root / corpus.INFO)
