"""The trainer: exact resume, early stop, skip-if-trained, schedule, convergence judgement."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from pipeline.config import TrainConfig
from pipeline.model import GPTConfig
from pipeline.synthetic import uniform_tokens
from pipeline.train import (
    TrainJob,
    eval_steps,
    is_converged,
    is_trained,
    learning_rate,
    train_model,
)

V, S = 64, 8


def make_job(root: Path, n_sequences: int = 16, **train) -> TrainJob:
    settings = dict(steps=40, batch_size=8, lr=0.01, eval_points=5, checkpoint_every=10,
                    early_stop=False)
    settings.update(train)
    return TrainJob(
        run_id="tiny",
        model=GPTConfig(V, S, n_layer=1, d_model=8, n_head=2),
        tokens=uniform_tokens(n_sequences, S, V, seed=0),
        reference_bits=(S - 1) * 6.0,
        train=TrainConfig(**settings),
        seed=0,
        first_token="skip",
        model_dir=root / "model",
        curve_path=root / "curve.csv",
        checkpoint_dir=root / "ckpt",
    )


class Interrupt(Exception):
    pass


def test_resumed_run_ends_where_uninterrupted_run_does(tmp_path):
    uninterrupted = train_model(make_job(tmp_path / "a"))

    seen = 0

    def kill_after_25(steps: int) -> None:
        nonlocal seen
        seen += steps
        if seen >= 25:
            raise Interrupt

    job = make_job(tmp_path / "b")
    with pytest.raises(Interrupt):
        train_model(job, on_steps=kill_after_25)
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
    assert not is_trained(job)
    train_model(job)
    assert is_trained(job)
    assert is_trained(make_job(tmp_path, steps=10, workers=2))  # speed knobs don't matter
    assert not is_trained(make_job(tmp_path, steps=10, lr=0.02))


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
    micro = train_model(make_job(tmp_path / "micro", steps=20, micro_batch_size=3))
    assert micro.memorized_bits == pytest.approx(whole.memorized_bits, rel=1e-4)
    assert micro.final_loss == pytest.approx(whole.final_loss, rel=1e-4)
    a = load_file(tmp_path / "whole" / "model" / "model.safetensors")
    b = load_file(tmp_path / "micro" / "model" / "model.safetensors")
    # Only summation order differs; Adam's normalization lifts that rounding to ~1e-5.
    assert all(torch.allclose(a[k], b[k], atol=1e-4) for k in a)
