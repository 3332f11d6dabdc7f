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

import polars as pl

from pipeline.core.io import tokens_frame, write_json, write_parquet, write_text
from pipeline.text import layout
from pipeline.text.config import CorpusConfig
from pipeline.text.corpus import CorpusError, load_corpus
from pipeline.text.ingest import POOLS, ingest
from pipeline.text.tokenize import gpt2_tokenizer, token_dtype, train_bpe_tokenizer, vocab_size_of

log = logging.getLogger(__name__)

DOCUMENT = "document"  # the column giving each sequence's document (index among those kept)
MIN_SEQUENCES_PER_SIDE = 2  # the membership attack needs two of each to calibrate and evaluate
POOL_FILES = {"members": layout.MEMBERS, "reference": layout.REFERENCE_POOL,
              "validation": layout.VALIDATION, "nonmembers": layout.NONMEMBERS}


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

    # A trained BPE learns from member documents only: ingest splits, then trains it.
    tokenizers = ({"tokenizer": gpt2_tokenizer()} if config.tokenizer == "gpt2" else
                  {"train_tokenizer": lambda texts: train_bpe_tokenizer(texts,
                                                                        config.bpe_vocab_size)})
    result = ingest(
        documents, **tokenizers, seq_len=config.seq_len, dedup_span=config.dedup_span,
        near_dup_threshold=config.near_dup_threshold, holdout_fraction=config.holdout_fraction,
        reference_fraction=config.reference_fraction,
        validation_fraction=config.validation_fraction,
        max_holdout=config.max_holdout, seed=config.seed, num_perm=config.num_perm,
    )
    tokenizer = result.tokenizer
    vocab_size = vocab_size_of(tokenizer)
    log.info("tokenizer %s: vocabulary of %d", config.tokenizer, vocab_size)
    seconds |= result.seconds
    for side in POOLS:
        count = result.counts[side]
        if count < MIN_SEQUENCES_PER_SIDE:
            raise CorpusError(
                f"only {count} {side} sequences after deduplication "
                f"({result.counts['sequences_kept']} sequences kept): need at least "
                f"{MIN_SEQUENCES_PER_SIDE}; use more documents (corpus.max_documents, "
                "corpus.path) or change corpus.holdout_fraction, reference_fraction or "
                "validation_fraction"
            )

    dtype = token_dtype(vocab_size).name
    # Each row's document travels with it, for splits by document downstream.
    for pool, path in POOL_FILES.items():
        write_parquet(tokens_frame(result.pool(pool), dtype).with_columns(
            pl.Series(DOCUMENT, result.documents[pool])), root / path)
    write_text(tokenizer.backend_tokenizer.to_str(), root / layout.TOKENIZER)
    info = {
        "corpus_name": loaded["corpus_name"],
        "source": config.source,
        "tokenizer": config.tokenizer,
        "vocab_size": vocab_size,
        "seq_len": config.seq_len,
        "token_dtype": dtype,
        **{pool: result.counts[pool] for pool in POOLS},
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
