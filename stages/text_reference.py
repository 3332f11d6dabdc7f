"""Stage ``text_reference``: train the oracle candidates (whole member pool) and the same-size
references (largest N), pick the oracle by held-out loss, and write every reference's code
length of every sequence."""

from __future__ import annotations

from pipeline.cli import run_stage
from pipeline.config import load_params
from pipeline.text.reference import score_references, train_references


def main() -> None:
    params = load_params()
    train_references(params)
    score_references(params)


if __name__ == "__main__":
    run_stage(main)
