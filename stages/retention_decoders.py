"""Stage ``retention_decoders``: freeze each encoder and train the same retention decoder on
its memory (and on the null, constant memory). A new decoder setting reruns only this stage
and what follows; the encoders are reused."""

from __future__ import annotations

from pathlib import Path

from pipeline.core.stage import stage_main
from pipeline.retention.config import RetentionParams
from pipeline.retention.corpus import read_corpus
from pipeline.retention.jobs import Builder


def jobs(params: RetentionParams, root: Path) -> list:
    builder = Builder(params.retention, params.runtime, read_corpus(root), root)
    return builder.decoder_jobs()


PARAMS = RetentionParams
main = stage_main(__name__)

if __name__ == "__main__":
    main()
