"""The corpus stage's work: load documents, build the tokenizer, deduplicate and cut them into
member and non-member sequences, and write everything later text stages read.

Every step is counted (``data/metrics/corpus.json``); bad input stops here with a
:class:`~pipeline.text.corpus.CorpusError` naming the file or the key, never deep in training.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from transformers import PreTrainedTokenizerBase

from pipeline.core.io import write_json, write_text, write_tokens
from pipeline.text import layout
from pipeline.text.config import CorpusConfig
from pipeline.text.corpus import CorpusError, load_corpus
from pipeline.text.ingest import ingest
from pipeline.text.tokenize import gpt2_tokenizer, token_dtype, train_bpe_tokenizer, vocab_size_of

log = logging.getLogger(__name__)

MIN_SEQUENCES_PER_SIDE = 2  # the membership attack needs two of each to calibrate and evaluate


def build_tokenizer(config: CorpusConfig, texts: list[str]) -> PreTrainedTokenizerBase:
    """GPT-2's BPE (the paper's), or a byte-level BPE trained on the loaded documents."""
    if config.tokenizer == "gpt2":
        return gpt2_tokenizer()
    return train_bpe_tokenizer(texts, config.bpe_vocab_size)


def prepare_corpus(config: CorpusConfig, root: Path = Path(".")) -> dict[str, Any]:
    """Run the whole corpus stage; returns the metrics it also writes."""
    started = time.perf_counter()
    seconds: dict[str, float] = {}
    documents, loaded = load_corpus(
        config.source, path=config.path, hf_repo=config.hf_repo, hf_file=config.hf_file,
        max_documents=config.max_documents,
    )
    seconds["load"] = time.perf_counter() - started
    log.info("loaded %d documents from %s", documents.height, loaded["corpus_name"])
    if documents.height == 0:
        raise CorpusError(
            f"corpus ({config.source}{': ' + config.path if config.path else ''}) has no "
            f"non-empty document: {loaded['documents_read']} read, "
            f"{loaded['skipped_empty']} empty, {loaded['skipped_undecodable']} undecodable"
        )

    step = time.perf_counter()
    tokenizer = build_tokenizer(config, documents["text"].to_list())
    vocab_size = vocab_size_of(tokenizer)
    seconds["tokenizer"] = time.perf_counter() - step
    log.info("tokenizer %s: vocabulary of %d", config.tokenizer, vocab_size)

    result = ingest(
        documents, tokenizer=tokenizer, seq_len=config.seq_len,
        near_dup_threshold=config.near_dup_threshold, holdout_fraction=config.holdout_fraction,
        max_holdout=config.max_holdout, seed=config.seed, num_perm=config.num_perm,
    )
    seconds |= result.seconds
    for side, count in (("members", result.counts["members"]),
                        ("nonmembers", result.counts["nonmembers"])):
        if count < MIN_SEQUENCES_PER_SIDE:
            raise CorpusError(
                f"only {count} {side} after deduplication ({result.counts['sequences_kept']} "
                f"sequences kept): need at least {MIN_SEQUENCES_PER_SIDE}; use more documents "
                "(corpus.max_documents, corpus.path) or change corpus.holdout_fraction"
            )

    dtype = token_dtype(vocab_size).name
    write_tokens(result.members, dtype, root / layout.MEMBERS)
    write_tokens(result.nonmembers, dtype, root / layout.NONMEMBERS)
    write_text(tokenizer.backend_tokenizer.to_str(), root / layout.TOKENIZER)
    info = {
        "corpus_name": loaded["corpus_name"],
        "source": config.source,
        "tokenizer": config.tokenizer,
        "vocab_size": vocab_size,
        "seq_len": config.seq_len,
        "token_dtype": dtype,
        "members": result.counts["members"],
        "nonmembers": result.counts["nonmembers"],
    }
    write_json(info, root / layout.CORPUS_INFO)
    seconds["total"] = time.perf_counter() - started
    metrics = {
        **info,
        "near_dup_threshold": config.near_dup_threshold,
        "load": {k: v for k, v in loaded.items() if k != "corpus_name"},
        "dedup": result.counts,
        "tokens_in_sequences": result.counts["sequences_kept"] * config.seq_len,
        "seconds": {k: round(v, 3) for k, v in seconds.items()},
    }
    write_json(metrics, root / layout.CORPUS_METRICS)
    log.info("corpus: %d members, %d non-members of %d tokens (%.1f s)", info["members"],
             info["nonmembers"], config.seq_len, seconds["total"])
    return metrics
