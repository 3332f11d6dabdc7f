"""The corpus stage's work: load documents, build the tokenizer, deduplicate and cut them into
the four pools, and write what every track reads through :mod:`pipeline.core.corpus`.

Every step is counted (``data/metrics/corpus.json``; its wall times go to
``data/corpus/timings.json``, beside the data and out of the metrics, so `dvc metrics diff`
shows results, not timing noise); bad input stops here with a
:class:`~pipeline.tracks.corpus.corpus.CorpusError` naming the file or the key.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import polars as pl

from pipeline.core import corpus as shared
from pipeline.core.io import tokens_frame, write_json, write_parquet, write_text
from pipeline.tracks.corpus.config import CorpusConfig, CorpusParams
from pipeline.tracks.corpus.corpus import CorpusError, load_corpus
from pipeline.tracks.corpus.ingest import ingest
from pipeline.tracks.corpus.tokenize import (
    gpt2_tokenizer,
    token_dtype,
    train_bpe_tokenizer,
    vocab_size_of,
)

log = logging.getLogger(__name__)

MIN_SEQUENCES_PER_SIDE = 2  # the membership attack needs two of each to calibrate and evaluate
TIMINGS = shared.CORPUS / "timings.json"


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
    for side in shared.POOLS:
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
    for pool in shared.POOLS:
        write_parquet(tokens_frame(result.pool(pool), dtype).with_columns(
            pl.Series(shared.DOCUMENT, result.documents[pool])), shared.pool_path(pool, root))
    write_text(tokenizer.backend_tokenizer.to_str(), root / shared.TOKENIZER)
    info = {
        "corpus_name": loaded["corpus_name"],
        "source": config.source,
        "tokenizer": config.tokenizer,
        "vocab_size": vocab_size,
        "seq_len": config.seq_len,
        "token_dtype": dtype,
        **{pool: result.counts[pool] for pool in shared.POOLS},
    }
    write_json(info, root / shared.INFO)
    seconds["total"] = time.perf_counter() - started
    metrics = {
        **info,
        "near_dup_threshold": config.near_dup_threshold,
        "load": {k: v for k, v in loaded.items() if k != "corpus_name"},
        "dedup": result.counts,
        "tokens_in_sequences": result.counts["sequences_kept"] * config.seq_len,
    }
    write_json(metrics, root / shared.CORPUS_METRICS)
    write_json({k: round(v, 3) for k, v in seconds.items()}, root / TIMINGS)
    log.info("corpus: %d members, %d non-members of %d tokens (%.1f s)", info["members"],
             info["nonmembers"], config.seq_len, seconds["total"])
    return metrics


def build_corpus(params: CorpusParams, root: Path) -> None:
    """Stage corpus_build."""
    prepare_corpus(params.corpus, root)
