"""Stage ``profiles_score``: the match-score grid of every model (one job per model), and
the main cell's entropies and hidden states."""

from __future__ import annotations

from pathlib import Path

from pipeline.core.stage import stage_main
from pipeline.profiles.config import ProfilesParams
from pipeline.profiles.score import ScoreJob, collect, score_jobs


def jobs(params: ProfilesParams, root: Path) -> list[ScoreJob]:
    return score_jobs(params.profiles, params.runtime, root)


def work(params: ProfilesParams, root: Path) -> None:
    collect(params.profiles, root)


PARAMS = ProfilesParams
main = stage_main(__name__)

if __name__ == "__main__":
    main()
