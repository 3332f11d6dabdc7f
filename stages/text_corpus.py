"""Stage ``text_corpus``: documents → deduplicated member / non-member token sequences, the
tokenizer that made them, and every step's count in ``data/metrics/corpus.json``."""

from __future__ import annotations

from pathlib import Path

from pipeline.core.stage import stage_main
from pipeline.text.config import TextParams
from pipeline.text.prepare import prepare_corpus


def work(params: TextParams, root: Path) -> None:
    prepare_corpus(params.text.corpus, root)


PARAMS = TextParams
main = stage_main(__name__)

if __name__ == "__main__":
    main()
