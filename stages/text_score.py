"""Stage ``text_score``: per-sequence memorization, losses, extraction, membership attack and
rarity of every trained text model."""

from __future__ import annotations

from pipeline.cli import run_stage
from pipeline.config import load_params
from pipeline.text.score import score_text_grid


def main() -> None:
    score_text_grid(load_params())


if __name__ == "__main__":
    run_stage(main)
