"""Entry-point plumbing: logging, and a user-caused failure reported as one clear line
(exit status 2) instead of a traceback. Bugs keep their traceback."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from pipeline.core.errors import PipelineError

USER_ERRORS = (PipelineError, FileNotFoundError)


def setup_logging() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for noisy in ("httpx", "filelock", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def exit_on_user_error(main: Callable[[], object]) -> None:
    """Run ``main``; a user error becomes a one-line message and exit status 2."""
    setup_logging()
    try:
        main()
    except USER_ERRORS as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
