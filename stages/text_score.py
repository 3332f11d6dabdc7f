"""Stage ``text_score``: per-sequence memorization, losses, extraction, membership attack and
rarity of every trained text model."""

from __future__ import annotations

from pathlib import Path

from pipeline.core.stage import stage_main
from pipeline.text.config import TextParams
from pipeline.text.score import score_text_grid


def work(params: TextParams, root: Path) -> None:
    score_text_grid(params.text, root)


PARAMS = TextParams
main = stage_main(__name__)

if __name__ == "__main__":
    main()
