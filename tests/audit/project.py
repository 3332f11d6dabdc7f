"""A stand-in for what the audit reads of the corpus and text tracks (source text): the corpus
pools with a real word-level tokenizer, two text-grid runs (one trained until it memorized its
members, one that saw nothing) with their scored ``pool_index``, and an oracle reference (the
unseen run's untrained twin).
Written by the test, in seconds: no corpus build, no text stage."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import torch

from pipeline.core import corpus
from pipeline.core.integrity import seal
from pipeline.core.io import tokens_frame, write_json, write_parquet
from pipeline.core.model import GPT, GPTConfig
from pipeline.tracks.audit import layout

V, S = 48, 16
MEMORIZED, UNSEEN, ORACLE = "L1-D32-N24-S0", "L1-D32-N40-S0", "oracle-L1-D32"


def write_tokenizer(path: Path, vocab_size: int) -> None:
    """A word-level tokenizer whose ids are the words ``w0 .. w{V-1}`` (id 0 is
    ``<|endoftext|>``)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    vocab = {"<|endoftext|>": 0} | {f"w{i}": i for i in range(1, vocab_size)}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="<|endoftext|>"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer.decoder = decoders.WordPiece(prefix="##")  # joins words with spaces
    tokenizer.save(str(path))


def write_corpus(root: Path, members: int = 120, nonmembers: int = 60, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    sizes = {"members": members, "reference": members, "validation": nonmembers,
             "nonmembers": nonmembers}
    for pool, size in sizes.items():
        tokens = rng.integers(1, V, (size, S))
        write_parquet(tokens_frame(tokens, "uint16").with_columns(
            pl.Series(corpus.DOCUMENT, np.arange(size))), corpus.pool_path(pool, root))
    write_tokenizer(root / corpus.TOKENIZER, V)
    write_json({"corpus_name": "random words (test)", "source": "test", "tokenizer": "bpe",
                "token_dtype": "uint16", "vocab_size": V, "seq_len": S, **sizes},
               root / corpus.INFO)


def trained_gpt(tokens: np.ndarray | None, steps: int = 300, seed: int = 0) -> GPT:
    """A 1×32 GPT trained full-batch on ``tokens`` (None: untrained)."""
    torch.manual_seed(seed)
    model = GPT(GPTConfig(V, S, n_layer=1, d_model=32, n_head=2))
    if tokens is not None:
        ids = torch.from_numpy(tokens.astype(np.int64))
        optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
        for _ in range(steps):
            logits = model(ids[:, :-1])
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, V), ids[:, 1:].reshape(-1))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model.eval()


def save_model(model: GPT, folder: Path) -> None:
    model.save_pretrained(folder, extra_files={"training.json": {"fingerprint": folder.name}})
    seal(folder)


def write_text_project(root: Path) -> dict[str, np.ndarray]:
    """The corpus, the two runs (their ``pool_index`` and ``nll_bits``) and the oracle; returns
    each run's training rows of the member pool."""
    write_corpus(root)
    members = corpus.read_pool("members", root)
    rows = {MEMORIZED: np.random.default_rng(0).permutation(len(members))[:24],
            UNSEEN: np.random.default_rng(0).permutation(len(members))[:40]}
    models = {MEMORIZED: trained_gpt(members[rows[MEMORIZED]]), UNSEEN: trained_gpt(None, seed=1)}
    for run, model in models.items():
        save_model(model, root / layout.TEXT_MODELS / run)
        with torch.no_grad():
            ids = torch.from_numpy(members[rows[run]])
            logp = torch.log_softmax(model(ids[:, :-1]), -1).gather(-1, ids[:, 1:, None])
        nll = (-logp.squeeze(-1).sum(-1) / np.log(2)).double().numpy()
        # As the text track writes it: the training rows (``member``), then held-out rows
        # whose ``pool_index`` indexes the held-out pool, not the member pool.
        held_out = np.arange(len(corpus.read_pool("nonmembers", root)))
        write_parquet(pl.DataFrame({
            "member": np.r_[np.ones(len(nll), bool), np.zeros(len(held_out), bool)],
            "pool_index": np.r_[rows[run], held_out].astype(np.int64),
            "nll_bits": np.r_[nll, np.full(len(held_out), 1e3)]}),
            layout.text_run_scores(run, root))
    # The oracle: the unseen run's untrained twin, the best reference there is for random
    # tokens a model never saw (its code lengths equal the unseen run's: mem_U is 0 there).
    save_model(trained_gpt(None, seed=1), root / layout.TEXT_REFERENCE_MODELS / ORACLE)
    write_json({"oracle": ORACLE}, root / layout.TEXT_SELECTION)
    return rows


def text_audit(**overrides) -> dict:
    """The ``audit`` group auditing the two runs (intervals with few resamples: fast)."""
    group = {
        "source": "text",
        "text": {"targets": [{"run": MEMORIZED, "expect": "memorized"},
                             {"run": UNSEEN, "expect": "chance"}],
                 "max_members": 40, "seed": 0},
        "extraction": {"prefixes": [4, 8], "lengths": [4, 8], "max_sequences": 40},
        "blind": {"folds": 3},
        "expect": {"memorized_auc": 0.9, "chance_band": 0.3},
        "resamples": 200,
    }
    for key, value in overrides.items():
        group[key] = value
    return group
