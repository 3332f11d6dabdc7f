"""Small stand-ins for the profiles tests: a lookup-table language model and a fake corpus."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from tests.fake_corpus import write_fake_corpus


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
    """The corpus stage's files, with random tokens."""
    write_fake_corpus(root, vocab_size, seq_len, members, nonmembers, seed, low=0)
