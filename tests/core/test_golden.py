"""The numerics version guard: a tiny model trained a fixed number of steps must come out as
the weights recorded for the current ``NUMERICS_VERSION``.

A model's fingerprint names ``NUMERICS_VERSION`` instead of the trainer's source, so moving
or editing code retrains nothing. What keeps that honest is this test: a change to what
training computes (initialization, schedule, loss, optimizer, precision handling) changes
these weights and fails here until the version is bumped and the new weights are recorded:

    python -m tests.core.test_golden --record   # refuses to overwrite an existing version

Exact bytes depend on the CPU's kernels (an AVX-512 and an AVX2 machine round differently),
so the SHA-256 is compared where the recording machine's torch version and CPU capability
match, and the weights within a tolerance everywhere (a numerics change moves them by far
more than rounding does).
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

from pipeline.core.config import RuntimeConfig, TrainConfig
from pipeline.core.model import GPTConfig
from pipeline.core.objectives import NextTokenObjective
from pipeline.core.trainer import NUMERICS_VERSION, TrainJob

GOLDEN = Path(__file__).parent / "golden"
RECORD = GOLDEN / "numerics.json"


def golden_job(root: Path) -> TrainJob:
    """A 1×16 GPT on 24 uniform sequences: warmup, cosine decay, clipping, checkpoints and
    evaluations all take part in its 120 steps."""
    tokens = np.random.default_rng(0).integers(0, 64, (24, 16))
    return TrainJob(
        run_id="golden", model=GPTConfig(64, 16, n_layer=1, d_model=16, n_head=2),
        objective=NextTokenObjective("skip"), tokens=tokens, reference_bits=15 * 6.0,
        train=TrainConfig(steps=120, batch_size=8, lr=0.02, eval_points=4, early_stop=False),
        seed=0, model_dir=root / "model", curve_path=root / "curve.csv",
        checkpoint_dir=root / "checkpoint", runtime=RuntimeConfig(checkpoint_every=50))


def train_golden() -> tuple[dict[str, torch.Tensor], str]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            job = golden_job(Path(tmp))
            job.run()
            weights = job.model_dir / "model.safetensors"
            return load_file(weights), hashlib.sha256(weights.read_bytes()).hexdigest()
    finally:
        torch.set_num_threads(threads)


def platform() -> dict[str, str]:
    return {"torch": torch.__version__, "cpu": torch.backends.cpu.get_cpu_capability()}


def test_training_numerics_match_the_recorded_version():
    record = json.loads(RECORD.read_text())
    assert NUMERICS_VERSION in record, (
        f"no golden weights for NUMERICS_VERSION {NUMERICS_VERSION!r}: record them with "
        "`python -m tests.core.test_golden --record`")
    entry = record[NUMERICS_VERSION]
    weights, digest = train_golden()
    golden = load_file(GOLDEN / entry["weights"])
    assert golden.keys() == weights.keys()
    advice = ("trained weights moved beyond rounding; if the change is meant, bump "
              "NUMERICS_VERSION in pipeline/core/trainer.py and record the new weights")
    for name, value in golden.items():
        assert torch.allclose(weights[name], value, rtol=1e-4, atol=1e-5), f"{name}: {advice}"
    if platform() == entry["platform"]:
        assert digest == entry["sha256"], "same platform, other bytes: the numerics changed"


def record_golden() -> None:
    record = json.loads(RECORD.read_text()) if RECORD.is_file() else {}
    if NUMERICS_VERSION in record:
        sys.exit(f"golden weights for NUMERICS_VERSION {NUMERICS_VERSION!r} exist already: "
                 "bump the version in pipeline/core/trainer.py first (models trained under the "
                 "old numerics must not keep their fingerprints)")
    with tempfile.TemporaryDirectory() as tmp:
        job = golden_job(Path(tmp))
        torch.set_num_threads(1)
        job.run()
        name = f"numerics-{NUMERICS_VERSION}.safetensors"
        data = (job.model_dir / "model.safetensors").read_bytes()
        (GOLDEN / name).write_bytes(data)
    record[NUMERICS_VERSION] = {"weights": name, "sha256": hashlib.sha256(data).hexdigest(),
                                "platform": platform()}
    RECORD.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    print(f"recorded {GOLDEN / name} for NUMERICS_VERSION {NUMERICS_VERSION!r}")


if __name__ == "__main__":
    if sys.argv[1:] != ["--record"]:
        sys.exit("usage: python -m tests.core.test_golden --record")
    record_golden()
