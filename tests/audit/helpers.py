"""Small stand-ins for the audit tests: tiny GPT-2 models, a word-level tokenizer, a uniform
model, and a model trained to memorize a few sequences."""

from __future__ import annotations

import numpy as np
import polars as pl
import torch
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

from pipeline.tracks.audit.inputs import combine


def tiny_gpt2(vocab: int = 32, positions: int = 64, seed: int = 0, eos: int | None = None,
              width: int = 16) -> GPT2LMHeadModel:
    """An untrained one-layer GPT-2 (no dropout), built in the test: no download."""
    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=vocab, n_positions=positions, n_embd=width, n_layer=1,
                        n_head=2, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                        bos_token_id=eos, eos_token_id=eos)
    return GPT2LMHeadModel(config).eval()


class UniformLM(torch.nn.Module):
    """Equal logits for every token: the exact reference for uniformly random tokens."""

    def __init__(self, vocab: int) -> None:
        super().__init__()
        self.vocab = vocab
        self.anchor = torch.nn.Parameter(torch.zeros(()))  # gives the model a device

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return torch.zeros(*input_ids.shape, self.vocab) + 0.0 * self.anchor


def memorizing_gpt2(sequences: np.ndarray, vocab: int, steps: int = 150,
                    seed: int = 0) -> GPT2LMHeadModel:
    """A tiny GPT-2 trained full-batch until it has memorized ``sequences`` ``[n, S]``."""
    model = tiny_gpt2(vocab, positions=sequences.shape[1], seed=seed, width=32).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    ids = torch.from_numpy(sequences.astype(np.int64))
    for _ in range(steps):
        loss = model(ids, labels=ids).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


def word_tokenizer(words: list[str]) -> PreTrainedTokenizerFast:
    """A whitespace word-level tokenizer over ``words`` (plus ``[UNK]``, id 0)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    vocab = {"[UNK]": 0} | {w: i + 1 for i, w in enumerate(dict.fromkeys(words))}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    backend.decoder = decoders.WordPiece(prefix="##")  # joins words with spaces
    return PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]")


def token_frame(members: list[list[int]], nonmembers: list[list[int]]) -> pl.DataFrame:
    """An audit frame of pre-tokenized members and non-members (files m.parquet, n.parquet)."""
    def part(rows: list[list[int]], name: str) -> pl.DataFrame:
        return pl.DataFrame({"source": name, "row": range(1, len(rows) + 1),
                             "text": [None] * len(rows), "tokens": rows},
                            schema={"source": pl.String, "row": pl.Int64, "text": pl.String,
                                    "tokens": pl.List(pl.Int64)})
    return combine(part(members, "m.parquet"), part(nonmembers, "n.parquet"))
