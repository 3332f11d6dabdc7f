"""Small stand-ins for the profiles tests: a lookup-table language model and a fake corpus."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from pipeline.core.io import write_tokens


class LookupLM(torch.nn.Module):
    """Predicts the token that followed the current one in the stored sequences (whose
    tokens must all differ, so the table is unambiguous); its LM head is the identity, so
    the hidden state it feeds is the one-hot prediction."""

    def __init__(self, stored: np.ndarray, vocab_size: int):
        super().__init__()
        table = torch.zeros(vocab_size, dtype=torch.long)
        for row in stored:
            for a, b in zip(row[:-1], row[1:], strict=True):
                table[a] = int(b)
        self.register_buffer("table", table)
        self.lm_head = torch.nn.Linear(vocab_size, vocab_size, bias=False)
        with torch.no_grad():
            self.lm_head.weight.copy_(torch.eye(vocab_size))

    def get_output_embeddings(self) -> torch.nn.Module:
        return self.lm_head

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        hidden = torch.nn.functional.one_hot(self.table[input_ids],
                                             self.lm_head.in_features).float() * 10
        return self.lm_head(hidden)


def fake_corpus(root: Path, members: int = 400, nonmembers: int = 200, seq_len: int = 16,
                vocab_size: int = 64, seed: int = 0) -> None:
    """The files the text track's corpus stage writes, with random tokens."""
    rng = np.random.default_rng(seed)
    corpus = root / "data" / "text" / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    write_tokens(rng.integers(0, vocab_size, (members, seq_len)), "uint16",
                 corpus / "members.parquet")
    write_tokens(rng.integers(0, vocab_size, (nonmembers, seq_len)), "uint16",
                 corpus / "nonmembers.parquet")
    (corpus / "corpus.json").write_text(json.dumps({
        "corpus_name": "random tokens (test)", "members": members, "nonmembers": nonmembers,
        "seq_len": seq_len, "source": "test", "token_dtype": "uint16", "tokenizer": "bpe",
        "vocab_size": vocab_size}))
