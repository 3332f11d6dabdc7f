"""Stage ``corpus``: documents → deduplicated member / non-member token sequences, the
tokenizer that made them, and every step's count in ``data/metrics/corpus.json``."""

from __future__ import annotations

from pipeline.cli import run_stage
from pipeline.config import load_params
from pipeline.text.prepare import prepare_corpus


def main() -> None:
    prepare_corpus(load_params().corpus)


if __name__ == "__main__":
    run_stage(main)
