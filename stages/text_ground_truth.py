"""Stage ``text_ground_truth``: the memorization estimator against a Markov chain's exact code
lengths: train a reference and one model per N, then compare estimated and true ``mem_U``."""

from __future__ import annotations

from pathlib import Path

from pipeline.core.stage import stage_main
from pipeline.core.trainer import TrainJob
from pipeline.text.config import TextParams
from pipeline.text.ground_truth import compare, ground_truth_jobs


def jobs(params: TextParams, root: Path) -> list[TrainJob]:
    return ground_truth_jobs(params.text, params.runtime, root)


def work(params: TextParams, root: Path) -> None:
    compare(params.text, root)


PARAMS = TextParams
main = stage_main(__name__)

if __name__ == "__main__":
    main()
