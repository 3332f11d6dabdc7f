"""The retention track's numerics version guard: its networks and objectives, built at a fixed
seed, must give the losses recorded for the current ``NUMERICS_VERSION`` of
``pipeline/tracks/retention/models.py`` (the version every retention job's fingerprint names,
beside the core's). A change to what an autoencoder, a retention decoder or a memory model
computes fails here until that version is bumped and the losses are recorded again:

    python -m tests.retention.test_golden --record
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

from pipeline.core.model import GPTConfig
from pipeline.tracks.retention.models import (
    NULL,
    NUMERICS_VERSION,
    AutoencoderSpec,
    DecoderShape,
    MemorySpec,
    ProbeSpec,
)
from pipeline.tracks.retention.objectives import MemoryObjective, ReconstructionObjective

RECORD = Path(__file__).parent / "golden.json"
DECODER = DecoderShape(16, 8, 16, 1, 16, 2, "unroll", 16)
MEMORY = MemorySpec(16, n_chunks=2, chunk_len=4, n_layer=1, d_model=16, n_head=2,
                    memory="trainable", memory_state="pre_norm",
                    encoder=GPTConfig(16, 4, 1, 16, 2))


def cases() -> dict:
    return {
        "autoencoder": (AutoencoderSpec(GPTConfig(16, 8, 1, 16, 2), DECODER, "pre_norm"),
                        ReconstructionObjective()),
        "null_probe": (ProbeSpec(DECODER, "pre_norm", NULL), ReconstructionObjective()),
        **{f"memory_{kind}": (MEMORY, MemoryObjective(kind, 0, "blank_copy"))
           for kind in ("causal", "copy", "blank_copy", "combined")},
    }


def losses() -> dict[str, float]:
    tokens = torch.randint(1, 16, (4, 8), generator=torch.Generator().manual_seed(0))
    found = {}
    for name, (spec, objective) in cases().items():
        torch.manual_seed(0)
        model = spec.build()
        with torch.no_grad():
            found[name] = float(objective.loss(model, tokens))
    return found


def test_retention_numerics_match_the_recorded_version():
    record = json.loads(RECORD.read_text())
    assert NUMERICS_VERSION in record, (
        "record the losses: python -m tests.retention.test_golden --record")
    assert losses() == pytest.approx(record[NUMERICS_VERSION], rel=1e-5), (
        "the retention networks compute something else: if meant, bump NUMERICS_VERSION in "
        "pipeline/tracks/retention/models.py and record the losses again")


if __name__ == "__main__":
    record = json.loads(RECORD.read_text()) if RECORD.is_file() else {}
    if sys.argv[1:] != ["--record"] or NUMERICS_VERSION in record:
        sys.exit("usage: python -m tests.retention.test_golden --record (bump the version first "
                 "if it is recorded already)")
    record[NUMERICS_VERSION] = losses()
    RECORD.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
