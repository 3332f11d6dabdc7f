"""Stage ``text_capacity``: each text shape's capacity on uniform tokens of the corpus's own
vocabulary and sequence length, the yardstick of the text report's peak memorization."""

from __future__ import annotations

from pathlib import Path

from pipeline.core.stage import stage_main
from pipeline.core.trainer import TrainJob
from pipeline.text.config import TextParams
from pipeline.text.identical_capacity import identical_capacity_jobs, measure


def jobs(params: TextParams, root: Path) -> list[TrainJob]:
    return identical_capacity_jobs(params.text, params.runtime, root)


def work(params: TextParams, root: Path) -> None:
    measure(params.text, root)


PARAMS = TextParams
main = stage_main(__name__)

if __name__ == "__main__":
    main()
