"""Stage ``profiles_predictor``: one memorization predictor per scored model (one job each),
with its trivial floors."""

from __future__ import annotations

from pathlib import Path

from pipeline.core.stage import stage_main
from pipeline.profiles.config import ProfilesParams
from pipeline.profiles.predictor import PredictorJob, collect, predictor_jobs


def jobs(params: ProfilesParams, root: Path) -> list[PredictorJob]:
    return predictor_jobs(params.profiles, root)


def work(params: ProfilesParams, root: Path) -> None:
    collect(params.profiles, root)


PARAMS = ProfilesParams
main = stage_main(__name__)

if __name__ == "__main__":
    main()
