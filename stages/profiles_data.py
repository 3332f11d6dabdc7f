"""Stage ``profiles_data``: members with known repetition counts, non-members, the ladder's
training set and the corpus n-gram counts."""

from __future__ import annotations

from pathlib import Path

from pipeline.core.stage import stage_main
from pipeline.profiles.config import ProfilesParams
from pipeline.profiles.data import prepare


def work(params: ProfilesParams, root: Path) -> None:
    prepare(params.profiles, root)


PARAMS = ProfilesParams
main = stage_main(__name__)

if __name__ == "__main__":
    main()
