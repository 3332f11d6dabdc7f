"""A stand-in for the text track's corpus output: what the retention stages read from disk."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from pipeline.core.io import write_json, write_tokens
from pipeline.retention import layout


def write_corpus(root: Path, vocab_size: int = 32, seq_len: int = 16, members: int = 96,
                 nonmembers: int = 24, seed: int = 0) -> None:
    """Token pools of uniform tokens 1..V−1 (0 is ``<|endoftext|>``, the blank), a minimal
    tokenizer file and the corpus description."""
    rng = np.random.default_rng(seed)
    write_tokens(rng.integers(1, vocab_size, (members, seq_len)), "uint16",
                 root / layout.MEMBERS)
    write_tokens(rng.integers(1, vocab_size, (nonmembers, seq_len)), "uint16",
                 root / layout.NONMEMBERS)
    vocab = {"<|endoftext|>": 0, **{f"t{i}": i for i in range(1, vocab_size)}}
    tokenizer = {"added_tokens": [{"id": 0, "content": "<|endoftext|>"}],
                 "model": {"type": "BPE", "vocab": vocab}}
    (root / layout.TOKENIZER).write_text(json.dumps(tokenizer))
    write_json({"vocab_size": vocab_size, "seq_len": seq_len, "corpus_name": "uniform stand-in",
                "members": members, "nonmembers": nonmembers}, root / layout.CORPUS_INFO)
