"""Known answers through the core trainer (unchanged): an autoencoder on uniform tokens
regenerates them; a decoder on the null memory reaches exactly the per-position majority
rate; blank-copy stays at the floor without memory and reaches ~1 with a lossless one; a
frozen encoder comes out of training bit-identical."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from pipeline.core.config import TrainConfig
from pipeline.core.model import GPTConfig
from pipeline.core.trainer import TrainJob
from pipeline.tracks.retention.evaluate import evaluate_memory, evaluate_reconstruction
from pipeline.tracks.retention.metrics import majority_rate
from pipeline.tracks.retention.models import (
    NULL,
    AutoencoderSpec,
    DecoderShape,
    MemoryModel,
    MemorySpec,
    ProbeSpec,
    load_folder,
)
from pipeline.tracks.retention.objectives import MemoryObjective, ReconstructionObjective


def train(tmp_path: Path, spec, objective, tokens, steps: int, lr: float, batch: int = 64):
    job_type = TrainJob
    job = job_type(
        run_id="run", model=spec, objective=objective, tokens=tokens, reference_bits=1.0,
        train=TrainConfig(steps=steps, batch_size=batch, lr=lr, eval_points=2,
                          early_stop=False),
        seed=0, model_dir=tmp_path / "model", curve_path=tmp_path / "curve.csv",
        checkpoint_dir=tmp_path / "checkpoint")
    job.run()
    return load_folder(tmp_path / "model")


def decoder(vocab: int, length: int, width: int = 64, layers: int = 1) -> DecoderShape:
    return DecoderShape(vocab, length, width, layers, width, 2, "unroll", width)


@pytest.mark.slow  # ~30 s on a quiet 2-core machine, over a minute when it is shared
def test_autoencoder_regenerates_uniform_tokens(tmp_path):
    tokens = np.random.default_rng(0).integers(0, 16, (256, 8))
    spec = AutoencoderSpec(GPTConfig(16, 8, 1, 64, 2), decoder(16, 8), "post_norm")
    model = train(tmp_path, spec, ReconstructionObjective(), tokens, steps=400, lr=0.01)
    assert evaluate_reconstruction(model, tokens, 256)["accuracy"] >= 0.99


def test_null_memory_decoder_reaches_the_per_position_majority_rate(tmp_path):
    rng = np.random.default_rng(0)
    modes = np.array([3, 5, 1, 7])
    tokens = np.where(rng.random((512, 4)) < 0.6, modes, rng.integers(0, 8, (512, 4)))
    spec = ProbeSpec(decoder(8, 4, width=16), "pre_norm", NULL)
    model = train(tmp_path, spec, ReconstructionObjective(), tokens, steps=150, lr=0.01)
    accuracy = evaluate_reconstruction(model, tokens, 512)["accuracy"]
    assert abs(accuracy - majority_rate(tokens)) < 1e-9  # it predicts each position's mode


@dataclass(frozen=True)
class LosslessMemorySpec:
    """A memory model whose memory is the chunk itself, one-hot: nothing is lost."""

    memory: MemorySpec

    def build(self) -> MemoryModel:
        return LosslessMemoryModel(self.memory)


class LosslessMemoryModel(MemoryModel):
    def __init__(self, spec: MemorySpec):
        super().__init__(spec, None)
        self.reads_memory = True
        self.projection = torch.nn.Linear(spec.chunk_len * spec.vocab_size, spec.d_model)

    def memories(self, chunks):
        one_hot = torch.nn.functional.one_hot(chunks, self.spec.vocab_size).float()
        return self.projection(one_hot.flatten(2))

    def save_pretrained(self, directory, extra_files=None):
        Path(directory).mkdir(parents=True, exist_ok=True)
        save_file(self.state_dict(), Path(directory) / "weights.safetensors")
        for name, content in (extra_files or {}).items():
            (Path(directory) / name).write_text(json.dumps(content))


def test_blank_copy_needs_the_memory(tmp_path):
    rng = np.random.default_rng(0)
    tokens, heldout = rng.integers(1, 8, (1024, 8)), rng.integers(1, 8, (256, 8))
    spec = MemorySpec(vocab_size=8, n_chunks=2, chunk_len=4, n_layer=1, d_model=32, n_head=2,
                      memory="none", memory_state="pre_norm")
    objective = MemoryObjective("blank_copy", blank_id=0)

    without = train(tmp_path / "none", spec, objective, tokens, steps=150, lr=0.01)
    floor, _ = evaluate_memory(without, heldout, 256, 2, blank_id=0)
    assert floor["blank_copy_accuracy"] < 1 / 7 + 0.05  # uniform over 7 tokens

    lossless = LosslessMemorySpec(replace(spec, memory="trainable"))
    TrainJob(run_id="lossless", model=lossless, objective=objective, tokens=tokens,
             reference_bits=1.0, seed=0, model_dir=tmp_path / "lossless",
             train=TrainConfig(steps=150, batch_size=64, lr=0.01, eval_points=2,
                               early_stop=False),
             curve_path=tmp_path / "lossless.csv", checkpoint_dir=tmp_path / "ck").run()
    model = lossless.build()
    model.load_state_dict(load_file(tmp_path / "lossless" / "weights.safetensors"))
    with_memory, _ = evaluate_memory(model, heldout, 256, 2, blank_id=0)
    assert with_memory["blank_copy_accuracy"] > 0.95


def weights_digest(path: Path) -> str:
    state = load_file(path)
    digest = hashlib.sha256()
    for key in sorted(state):
        digest.update(key.encode() + state[key].numpy().tobytes())
    return digest.hexdigest()


def test_a_frozen_encoder_is_unchanged_by_training(tmp_path):
    torch.manual_seed(0)
    encoder_dir = tmp_path / "encoder"
    GPTConfig(16, 8, 1, 16, 2).build().save_pretrained(encoder_dir)
    before = weights_digest(encoder_dir / "model.safetensors")
    tokens = np.random.default_rng(0).integers(0, 16, (64, 8))

    probe = ProbeSpec(decoder(16, 8, width=16), "pre_norm", "enc", str(encoder_dir))
    train(tmp_path / "probe", probe, ReconstructionObjective(), tokens, steps=5, lr=0.05)
    memory = MemorySpec(vocab_size=16, n_chunks=2, chunk_len=4, n_layer=1, d_model=16, n_head=2,
                        memory="frozen", memory_state="pre_norm", encoder_fingerprint="enc",
                        encoder_dir=str(encoder_dir))
    train(tmp_path / "memory", memory, MemoryObjective("combined", 0), tokens, steps=5,
          lr=0.05)

    assert weights_digest(encoder_dir / "model.safetensors") == before
    for run in ("probe", "memory"):
        saved = tmp_path / run / "model" / "encoder" / "model.safetensors"
        assert weights_digest(saved) == before


def test_an_untrained_encoder_is_sealed_and_redone_when_damaged(tmp_path, caplog):
    from pipeline.tracks.retention.jobs import InitJob

    job = InitJob("lm-b0", GPTConfig(16, 8, 1, 16, 2), seed=0, model_dir=tmp_path / "lm-b0")
    assert not job.is_done()
    job.run()
    assert job.is_done()
    weights = job.model_dir / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-8] + b"\0" * 8)
    assert not job.is_done()
    assert "model.safetensors" in caplog.text


def test_a_job_whose_spec_names_a_folder_has_a_fingerprint_without_its_path(tmp_path):
    """A spec that reads another model's folder cites it by fingerprint: the same job built
    in a moved project has the same fingerprint, budgeted or not."""
    from dataclasses import replace

    from pipeline.tracks.retention.models import ProbeSpec

    def job(folder: str, **train) -> TrainJob:
        spec = ProbeSpec(DecoderShape(16, 4, 8, 1, 8, 1, "unroll", 8), "pre_norm", "abc", folder)
        return TrainJob(run_id="probe", model=spec, objective=ReconstructionObjective(),
                        tokens=np.zeros((4, 4), dtype=np.int64), reference_bits=16.0,
                        train=TrainConfig(steps=2, batch_size=2, lr=0.01, **train), seed=0,
                        model_dir=tmp_path / "m", curve_path=tmp_path / "c.csv",
                        checkpoint_dir=tmp_path / "k")

    here, moved = job("/a/project/encoder"), job("/elsewhere/encoder")
    assert here.fingerprint == moved.fingerprint
    assert replace(here, model=replace(here.model, encoder_fingerprint="other")).fingerprint \
        != here.fingerprint
    assert job("/a", budget_seconds=1.0).fingerprint == job("/b", budget_seconds=1.0).fingerprint
