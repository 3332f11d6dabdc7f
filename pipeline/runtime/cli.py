"""Entry-point plumbing: logging, and a failure caused by the user or the environment
(bad params, a missing or corrupt input, no permission, a full disk) reported as one clear
line naming the file or key (exit status 2) instead of a traceback. Bugs keep theirs."""

from __future__ import annotations

import errno
import logging
import sys
from collections.abc import Callable

from pipeline.core.errors import PipelineError

USER_ERRORS = (PipelineError, FileNotFoundError)
# What the environment refuses, with what to do about it; any other OSError is a bug.
ENVIRONMENT_ERRORS = {
    errno.EACCES: "permission denied: make it writable, or run where you may write",
    errno.EPERM: "operation not permitted: check the file's owner and permissions",
    errno.EROFS: "read-only filesystem: run from a writable copy of the project",
    errno.ENOSPC: "no space left on the device: free some space and rerun (done work is kept)",
    errno.EDQUOT: "disk quota exceeded: free some space and rerun (done work is kept)",
}


def environment_error(error: OSError) -> str | None:
    """One line naming the file and what to do, for a failure the environment caused."""
    advice = ENVIRONMENT_ERRORS.get(error.errno)
    if advice is None:
        return None
    return f"{error.filename or 'a file'}: {advice}"


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
    except OSError as error:
        message = environment_error(error)
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(2) from None
