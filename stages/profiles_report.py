"""Stage ``profiles_report``: figures, DVC plot data, ``data/metrics/profiles.json`` and the
Markdown report of the profiles track, the paper's numbers beside ours."""

from __future__ import annotations

from pathlib import Path

from pipeline.core.stage import stage_main
from pipeline.profiles.config import ProfilesParams
from pipeline.profiles.report import write_report


def work(params: ProfilesParams, root: Path) -> None:
    write_report(params.profiles, root)


PARAMS = ProfilesParams
main = stage_main(__name__)

if __name__ == "__main__":
    main()
