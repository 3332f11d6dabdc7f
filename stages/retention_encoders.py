"""Stage ``retention_encoders``: the probed encoders: causal LMs at each training budget
(budget 0 untrained) and an autoencoder (encoder + decoder trained jointly) per probed length."""

from __future__ import annotations

from pathlib import Path

from pipeline.core.stage import stage_main
from pipeline.retention.config import RetentionParams
from pipeline.retention.corpus import read_corpus
from pipeline.retention.jobs import Builder


def jobs(params: RetentionParams, root: Path) -> list:
    builder = Builder(params.retention, params.runtime, read_corpus(root), root)
    return builder.encoder_jobs()


PARAMS = RetentionParams
main = stage_main(__name__)

if __name__ == "__main__":
    main()
