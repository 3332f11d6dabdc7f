"""Stage ``profiles_analyze``: the degeneracy gate, shares of M, transitions, boundary
effects and embeddings."""

from __future__ import annotations

from pathlib import Path

from pipeline.core.stage import stage_main
from pipeline.profiles.analysis import analyse
from pipeline.profiles.config import ProfilesParams


def work(params: ProfilesParams, root: Path) -> None:
    analyse(params.profiles, root)


PARAMS = ProfilesParams
main = stage_main(__name__)

if __name__ == "__main__":
    main()
