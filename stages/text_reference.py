"""Stage ``text_reference``: train the oracle candidates (whole member pool) and the same-size
references (largest N), pick the oracle by held-out loss, and write every reference's code
length of every sequence."""

from __future__ import annotations

from pathlib import Path

from pipeline.core.stage import stage_main
from pipeline.core.trainer import TrainJob
from pipeline.text.config import TextParams
from pipeline.text.reference import reference_jobs, score_references


def jobs(params: TextParams, root: Path) -> list[TrainJob]:
    return reference_jobs(params.text, params.runtime, root)


def work(params: TextParams, root: Path) -> None:
    score_references(params.text, root)


PARAMS = TextParams
main = stage_main(__name__)

if __name__ == "__main__":
    main()
