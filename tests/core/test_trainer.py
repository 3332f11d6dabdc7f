"""The trainer: exact resume, early stop, skip-if-trained, schedule, convergence judgement."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from pipeline.core.config import RuntimeConfig, TrainConfig
from pipeline.core.errors import ConfigError
from pipeline.core.integrity import NonFiniteError
from pipeline.core.model import GPTConfig
from pipeline.core.objectives import NextTokenObjective
from pipeline.core.schedule import eval_steps, learning_rate
from pipeline.core.trainer import TrainJob, is_converged, train_model
from pipeline.tracks.capacity.synthetic import uniform_tokens

V, S = 64, 8


def make_job(root: Path, n_sequences: int = 16, runtime: dict | None = None,
             **train) -> TrainJob:
    settings = dict(steps=40, batch_size=8, lr=0.01, eval_points=5, early_stop=False)
    settings.update(train)
    return TrainJob(
        run_id="tiny",
        model=GPTConfig(V, S, n_layer=1, d_model=8, n_head=2),
        objective=NextTokenObjective("skip"),
        tokens=uniform_tokens(n_sequences, S, V, seed=0),
        reference_bits=(S - 1) * 6.0,
        train=TrainConfig(**settings),
        seed=0,
        model_dir=root / "model",
        curve_path=root / "curve.csv",
        checkpoint_dir=root / "ckpt",
        runtime=RuntimeConfig(**{"checkpoint_every": 10, **(runtime or {})}),
    )


class Interrupt(Exception):
    pass


def interrupt_after(limit: int):
    """A progress callback that interrupts training once ``limit`` steps are done."""
    seen = 0

    def on_steps(steps: int) -> None:
        nonlocal seen
        seen += steps
        if seen >= limit:
            raise Interrupt

    return on_steps


def test_resumed_run_ends_where_uninterrupted_run_does(tmp_path):
    uninterrupted = train_model(make_job(tmp_path / "a"))

    job = make_job(tmp_path / "b")
    with pytest.raises(Interrupt):
        train_model(job, on_progress=interrupt_after(25))
    assert (job.checkpoint_dir / "last.pt").is_file()
    assert not job.model_dir.exists()  # nothing half-written

    resumed = train_model(job)
    assert resumed.resumed_from_step == 20
    assert resumed.steps == uninterrupted.steps == 40
    assert resumed.memorized_bits == uninterrupted.memorized_bits
    a = load_file(tmp_path / "a" / "model" / "model.safetensors")
    b = load_file(tmp_path / "b" / "model" / "model.safetensors")
    assert all((a[k] == b[k]).all() for k in a)
    assert (tmp_path / "a" / "curve.csv").read_text() == (tmp_path / "b" / "curve.csv").read_text()
    assert not job.checkpoint_dir.exists()  # removed once the run is saved


def test_small_dataset_is_fully_memorized_and_stops_early(tmp_path):
    summary = train_model(make_job(tmp_path, n_sequences=2, steps=2000, eval_points=40,
                                   early_stop=True, lr=0.02))
    assert summary.fully_memorized and summary.converged
    assert summary.steps < 2000
    assert summary.memorized_bits >= 0.99 * summary.dataset_bits


def test_trained_run_is_skipped_until_its_settings_change(tmp_path):
    job = make_job(tmp_path, steps=10)
    assert not job.is_done()
    train_model(job)
    assert job.is_done()
    # runtime never enters the fingerprint
    assert make_job(tmp_path, steps=10, runtime={"workers": 2, "micro_batch_size": 2,
                                                 "checkpoint_every": 3}).is_done()
    assert not make_job(tmp_path, steps=10, lr=0.02).is_done()


def test_a_run_without_a_curve_path_writes_no_curve(tmp_path):
    # The benchmarks' runs: the trainer then needs no polars (pipeline.benchmark.gpu).
    job = replace(make_job(tmp_path, steps=10), curve_path=None)
    summary = train_model(job)
    assert summary.steps == 10 and job.is_done()
    assert not (tmp_path / "curve.csv").exists()


def test_warmup_then_cosine_to_min_lr():
    config = TrainConfig(steps=100, batch_size=1, lr=1.0, warmup_fraction=0.1, min_lr_ratio=0.1)
    assert learning_rate(0, config) == pytest.approx(0.1)
    assert learning_rate(9, config) == pytest.approx(1.0)
    assert learning_rate(55, config) == pytest.approx(0.55)
    assert learning_rate(100, config) == pytest.approx(0.1)
    assert eval_steps(TrainConfig(steps=100, batch_size=1, lr=1.0, eval_points=5)) == [
        0, 25, 50, 75, 100]


def _curve(values):
    return [{"step": 10 * i, "memorized_bits": v} for i, v in enumerate(values)]


def test_convergence_is_judged_on_the_last_window():
    config = TrainConfig(steps=100, batch_size=1, lr=1.0)
    assert is_converged(_curve([0, 50, 90, 99, 100, 100, 100, 100, 100, 100, 100]), 1000,
                        config) == (True, False)
    assert is_converged(_curve([0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100]), 1000,
                        config) == (False, False)
    assert is_converged(_curve([0, 500, 995]), 1000, config) == (True, True)


def test_micro_batches_give_the_same_training_as_whole_batches(tmp_path):
    whole = train_model(make_job(tmp_path / "whole", steps=20))
    micro = train_model(make_job(tmp_path / "micro", steps=20,
                                 runtime={"micro_batch_size": 3}))
    assert micro.memorized_bits == pytest.approx(whole.memorized_bits, rel=1e-4)
    assert micro.final_loss == pytest.approx(whole.final_loss, rel=1e-4)
    a = load_file(tmp_path / "whole" / "model" / "model.safetensors")
    b = load_file(tmp_path / "micro" / "model" / "model.safetensors")
    # Only summation order differs; Adam's normalization lifts that rounding to ~1e-5.
    assert all(torch.allclose(a[k], b[k], atol=1e-4) for k in a)


class MeanPoolAutoencoder(torch.nn.Module):
    """A toy encoder-decoder: one vector per sequence (mean of embeddings), from which every
    position is decoded. Nothing of a causal LM: it tests that the trainer is
    objective-agnostic."""

    def __init__(self, vocab: int, length: int, width: int):
        super().__init__()
        self.embed = torch.nn.Embedding(vocab, width)
        self.position = torch.nn.Parameter(torch.randn(length, width) * 0.1)
        self.head = torch.nn.Linear(width, vocab)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        memory = self.embed(tokens).mean(dim=1, keepdim=True)
        return self.head(torch.tanh(memory + self.position))

    def save_pretrained(self, directory, extra_files=None):
        import json

        from safetensors.torch import save_file

        from pipeline.core.io import atomic_dir

        with atomic_dir(directory) as tmp:
            save_file(self.state_dict(), tmp / "model.safetensors")
            for name, content in (extra_files or {}).items():
                (tmp / name).write_text(json.dumps(content))


@dataclass(frozen=True)
class AutoencoderSpec:
    vocab: int
    length: int
    width: int

    def build(self) -> MeanPoolAutoencoder:
        return MeanPoolAutoencoder(self.vocab, self.length, self.width)


@dataclass(frozen=True)
class ReconstructionObjective:
    """Regenerate the whole input from its one vector; code length in bits per sequence."""

    def loss(self, model, batch):
        logits = model(batch)
        return torch.nn.functional.cross_entropy(logits.flatten(0, 1), batch.flatten())

    def sequence_bits(self, model, tokens, *, device="cpu", autocast_dtype=None):
        with torch.no_grad():
            batch = torch.as_tensor(tokens, device=device)
            logits = model(batch)
            nats = torch.nn.functional.cross_entropy(logits.transpose(1, 2), batch,
                                                     reduction="none").sum(dim=1)
        return (nats / math.log(2)).double().numpy()


def test_trainer_takes_an_encoder_decoder_objective_unchanged(tmp_path):
    job = TrainJob(
        run_id="autoencoder",
        model=AutoencoderSpec(vocab=16, length=4, width=32),
        objective=ReconstructionObjective(),
        tokens=uniform_tokens(8, 4, 16, seed=0),
        reference_bits=4 * 4.0,  # uniform tokens over 16 symbols: 4 bits each
        train=TrainConfig(steps=300, batch_size=8, lr=0.03, eval_points=4, early_stop=False),
        seed=0,
        model_dir=tmp_path / "model",
        curve_path=tmp_path / "curve.csv",
        checkpoint_dir=tmp_path / "ckpt",
    )
    summary = job.run()
    assert summary.memorized_bits > 0.9 * summary.dataset_bits  # it learned to reconstruct
    assert (tmp_path / "model" / "model.safetensors").is_file() and job.is_done()


def test_divergence_stops_with_run_step_and_what_to_change(tmp_path):
    job = make_job(tmp_path, lr=1e6)
    with pytest.raises(NonFiniteError, match=r"tiny: training diverged at step \d+: loss .*"
                                             r"train.lr \(now 1000000.0\)"):
        train_model(job)
    assert not job.model_dir.exists()


def test_a_damaged_model_is_not_done_and_a_damaged_checkpoint_not_resumed(tmp_path, caplog):
    job = make_job(tmp_path)
    train_model(job)
    assert job.is_done()
    weights = job.model_dir / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-10] ^= 0xFF
    weights.write_bytes(bytes(data))
    assert not job.is_done()
    assert "content differs from its checksum" in caplog.text


def test_a_resumed_run_counts_the_time_of_all_its_sessions(tmp_path):
    job = make_job(tmp_path)
    with pytest.raises(Interrupt):
        train_model(job, interrupt_after(25))
    checkpoint = torch.load(job.checkpoint_dir / "last.pt", weights_only=True)
    summary = train_model(job)
    assert summary.resumed_from_step == 20
    assert summary.wall_seconds > checkpoint["state"]["seconds"] > 0


def test_a_device_this_machine_lacks_is_a_config_error():
    from pipeline.core.device import resolve_device

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ConfigError, match="runtime.device: 'cuda' is not available"):
        resolve_device("cuda")
    assert resolve_device("auto") == "cpu"
