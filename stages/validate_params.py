"""Stage ``validate_params``: validate the whole ``params.yaml`` before any other stage runs.

DVC tracks parameters by the keys each stage lists, so a misspelt or unknown key (``foo: 1``
at the top level) would otherwise be a dependency of no stage and pass silently. This stage
tracks the whole file, fails naming the key, and writes a fixed marker that every other stage
depends on: the marker never changes, so a valid edit reruns only the stages whose own params
changed.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.core.io import write_json
from pipeline.core.stage import stage_main
from pipeline.params import PARAMS_FILE, Params

MARKER = Path("data") / "params.valid.json"


def work(params: Params, root: Path) -> None:
    write_json({PARAMS_FILE: "valid"}, root / MARKER)


PARAMS = Params
main = stage_main(__name__)

if __name__ == "__main__":
    main()
