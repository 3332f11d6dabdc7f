"""The corpus track as the pipeline knows it (:mod:`pipeline.core.track`)."""

from __future__ import annotations

from pipeline.core import corpus as shared
from pipeline.core.track import Input, Stage, Track, in_git
from pipeline.tracks.corpus.config import CorpusParams
from pipeline.tracks.corpus.prepare import build_corpus

STAGES = (
    Stage("corpus_build", "loads documents, removes exact and near duplicates (MinHash LSH), "
          "splits the documents into members, reference pool, validation and test, tokenizes "
          "into non-overlapping sequences, removes every sequence sharing a span with a kept "
          "one (any offsets); counts every step", CorpusParams, params=("corpus",),
          outs=(shared.CORPUS, in_git(shared.CORPUS_METRICS, "metrics")), work=build_corpus),
)

PRESETS = {
    # Morris et al. 2025's text setting: FineWeb, the GPT-2 tokenizer, 64-token sequences.
    "paper": {"source": "fineweb-hub", "path": None, "max_documents": 300_000,
              "tokenizer": "gpt2", "seq_len": 64, "holdout_fraction": 0.01,
              "max_holdout": 10_000},
    # Badger 2026: FineWeb-edu, an 8k BPE, 1,024-token sequences (retention cuts 512).
    "paper-retention": {"source": "fineweb-hub", "path": None,
                        "hf_repo": "HuggingFaceFW/fineweb-edu",
                        "hf_file": "sample/10BT/000_00000.parquet", "max_documents": None,
                        "tokenizer": "bpe", "bpe_vocab_size": 8000, "seq_len": 1024,
                        "holdout_fraction": 0.01, "max_holdout": 10_000},
    # The local FineWeb sample beside the checkout (not in the repository).
    "fineweb-local": {"source": "local", "path": "../shared/data/fineweb-legal-2800.parquet"},
}

def inputs(params) -> list[Input]:
    corpus = params.corpus
    return [Input("corpus.path", corpus.path)] if corpus.source == "local" else []


TRACK = Track(
    name="corpus", order=10,
    summary="The shared text corpus (documents → deduplicated sequences in four pools).",
    params=CorpusParams, stages=STAGES, presets=PRESETS, inputs=inputs,
)
