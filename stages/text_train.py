"""Stage ``text_train``: train every (shape, N, seed) of the text grid not yet trained."""

from __future__ import annotations

from pathlib import Path

from pipeline.core.stage import stage_main
from pipeline.core.trainer import TrainJob
from pipeline.text.config import TextParams
from pipeline.text.training import grid_jobs


def jobs(params: TextParams, root: Path) -> list[TrainJob]:
    return grid_jobs(params.text, params.runtime, root)


PARAMS = TextParams
main = stage_main(__name__)

if __name__ == "__main__":
    main()
