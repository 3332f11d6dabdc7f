"""Stage ``text_train``: train every (shape, N, seed) of the text grid not yet trained."""

from __future__ import annotations

from pipeline.cli import run_stage
from pipeline.config import load_params
from pipeline.text.training import train_text_grid


def main() -> None:
    train_text_grid(load_params())


if __name__ == "__main__":
    run_stage(main)
