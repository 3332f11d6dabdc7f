"""Stage ``profiles_train``: train every ladder size not yet trained (nothing for
``model_source: hf``)."""

from __future__ import annotations

from pathlib import Path

from pipeline.core.io import read_json
from pipeline.core.stage import stage_main
from pipeline.core.trainer import TrainJob
from pipeline.profiles import layout
from pipeline.profiles.config import ProfilesParams
from pipeline.profiles.ladder import ladder_jobs


def jobs(params: ProfilesParams, root: Path) -> list[TrainJob]:
    vocab = int(read_json(root / layout.DATA_INFO)["vocab_size"])
    return ladder_jobs(params.profiles, params.runtime, vocab, root)


def work(params: ProfilesParams, root: Path) -> None:
    # DVC needs its outputs to exist even when the ladder is not trained here (hf).
    (root / layout.MODELS).mkdir(parents=True, exist_ok=True)
    (root / layout.CURVES).mkdir(parents=True, exist_ok=True)


PARAMS = ProfilesParams
main = stage_main(__name__)

if __name__ == "__main__":
    main()
