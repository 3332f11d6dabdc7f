"""Entry-point plumbing shared by the stage modules: logging, and bad input reported as one
clear message (exit status 2) instead of a traceback."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from pipeline.config import ConfigError
from pipeline.io import ArtifactError
from pipeline.text.corpus import CorpusError

USER_ERRORS = (ConfigError, ArtifactError, FileNotFoundError, CorpusError)


def setup_logging() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for noisy in ("httpx", "filelock", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def run_stage(main: Callable[[], object]) -> None:
    """Run a stage's ``main``; user errors become a one-line message and exit status 2."""
    setup_logging()
    try:
        main()
    except USER_ERRORS as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
