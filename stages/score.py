"""Stage ``score``: per-sequence NLL and unintended memorization of every trained model."""

from __future__ import annotations

from pipeline.cli import run_stage
from pipeline.config import load_params
from pipeline.score_runs import score_grid


def main() -> None:
    score_grid(load_params())


if __name__ == "__main__":
    run_stage(main)
