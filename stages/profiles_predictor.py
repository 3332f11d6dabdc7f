"""Stage ``profiles_predictor``: one memorization predictor per scored model, with its
trivial floors."""

from __future__ import annotations

from pathlib import Path

from pipeline.core.stage import stage_main
from pipeline.profiles.config import ProfilesParams
from pipeline.profiles.predictor import predict_models


def work(params: ProfilesParams, root: Path) -> None:
    predict_models(params.profiles, root)


PARAMS = ProfilesParams
main = stage_main(__name__)

if __name__ == "__main__":
    main()
