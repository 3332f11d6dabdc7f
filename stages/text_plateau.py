"""Stage ``text_plateau``: the runs around each text shape's peak trained again for longer,
so the report can say whether the peak is a plateau in steps or a step budget."""

from __future__ import annotations

from pathlib import Path

from pipeline.core.stage import stage_main
from pipeline.core.trainer import TrainJob
from pipeline.text.config import TextParams
from pipeline.text.plateau import compare_step_budgets, plateau_jobs


def jobs(params: TextParams, root: Path) -> list[TrainJob]:
    return plateau_jobs(params.text, params.runtime, root)


def work(params: TextParams, root: Path) -> None:
    compare_step_budgets(params.text, root)


PARAMS = TextParams
main = stage_main(__name__)

if __name__ == "__main__":
    main()
