"""``python -m stages <name>``: run one declared stage as `dvc repro` does; a user error is one
line on stderr and exit status 2."""

from __future__ import annotations

import sys

from pipeline.runtime.cli import exit_on_user_error


def main(argv: list[str]) -> None:
    if len(argv) != 1:
        sys.exit("usage: python -m stages <stage name> (the stages are listed in dvc.yaml)")

    def run() -> None:
        from pipeline.dvcfile import find_stage
        from pipeline.runtime.stage import run_stage

        run_stage(find_stage(argv[0]))

    exit_on_user_error(run)


if __name__ == "__main__":
    main(sys.argv[1:])
