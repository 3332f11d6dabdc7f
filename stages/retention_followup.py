"""Stage ``retention_followup``: jobs that start from a trained memory model: the
curriculum's second (combined) phase, and a retention decoder on each trainable memory encoder."""

from __future__ import annotations

from pathlib import Path

from pipeline.core.stage import stage_main
from pipeline.retention.config import RetentionParams
from pipeline.retention.corpus import read_corpus
from pipeline.retention.jobs import Builder


def jobs(params: RetentionParams, root: Path) -> list:
    builder = Builder(params.retention, params.runtime, read_corpus(root), root)
    return builder.followup_jobs()


PARAMS = RetentionParams
main = stage_main(__name__)

if __name__ == "__main__":
    main()
