"""Wall-clock budget: the run ends when the budget is spent, idle or loaded, its schedule
follows elapsed time, and a resumed run spends only what is left."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from pipeline.core.config import RuntimeConfig, TrainConfig
from pipeline.core.io import read_json
from pipeline.core.model import GPTConfig
from pipeline.core.objectives import NextTokenObjective
from pipeline.core.schedule import budget_learning_rate, eval_fractions
from pipeline.core.trainer import TrainJob
from pipeline.tracks.capacity.synthetic import uniform_tokens

V, S = 64, 8
BUDGET = 1.5


@dataclass(frozen=True)
class LoadedObjective(NextTokenObjective):
    """Next-token loss on a machine whose load makes each step ``delay`` seconds slower; with
    ``after`` set, the load starts once ``after`` seconds of training have gone by."""

    delay: float = 0.0
    after: float = 0.0

    def loss(self, model, batch):
        if model.training:
            started = _clock.setdefault(id(self), time.perf_counter())
            if time.perf_counter() - started >= self.after:
                time.sleep(self.delay)
        return super().loss(model, batch)


_clock: dict[int, float] = {}


def make_job(root: Path, objective=None, runtime: dict | None = None, **train) -> TrainJob:
    settings = dict(steps=1000, batch_size=8, lr=0.01, eval_points=5, early_stop=False,
                    budget_seconds=BUDGET)
    settings.update(train)
    _clock.clear()
    return TrainJob(
        run_id="budgeted",
        model=GPTConfig(V, S, n_layer=1, d_model=8, n_head=2),
        objective=objective or NextTokenObjective("skip"),
        tokens=uniform_tokens(16, S, V, seed=0),
        reference_bits=(S - 1) * 6.0,
        train=TrainConfig(**settings),
        seed=0,
        model_dir=root / "model",
        curve_path=root / "curve.csv",
        checkpoint_dir=root / "ckpt",
        runtime=RuntimeConfig(**{"checkpoint_every": 10**6, **(runtime or {})}),
    )


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_a_budget_is_off_by_default_and_changes_no_fingerprint(tmp_path):
    unbudgeted = make_job(tmp_path, budget_seconds=None)
    assert type(unbudgeted) is TrainJob
    assert "budget_seconds" not in unbudgeted.train.model_dump()
    budgeted = make_job(tmp_path)
    assert budgeted.fingerprint != unbudgeted.fingerprint
    assert make_job(tmp_path, budget_seconds=3.0).fingerprint != budgeted.fingerprint


def test_the_schedule_is_a_function_of_the_budget_spent():
    config = TrainConfig(steps=1, batch_size=1, lr=1.0, warmup_fraction=0.1, min_lr_ratio=0.1,
                         eval_points=5, budget_seconds=10.0)
    assert budget_learning_rate(0.05, config) == pytest.approx(0.5)
    assert budget_learning_rate(0.1, config) == pytest.approx(1.0)
    assert budget_learning_rate(0.55, config) == pytest.approx(0.55)
    assert budget_learning_rate(1.0, config) == pytest.approx(0.1)
    assert eval_fractions(config) == [0.0, 0.25, 0.5, 0.75, 1.0]


@pytest.mark.parametrize("delay", [0.0, 0.01], ids=["idle", "loaded"])
def test_the_run_ends_when_its_budget_is_spent(tmp_path, delay):
    job = make_job(tmp_path, LoadedObjective(delay=delay))
    summary = job.run()
    assert summary.train_seconds == pytest.approx(BUDGET, rel=0.05)
    assert summary.wall_seconds < 2 * BUDGET  # evaluations are short
    assert summary.steps > 10
    recorded = read_json(job.model_dir / "training.json")
    assert recorded["budget_seconds"] == BUDGET and recorded["steps"] == summary.steps
    assert job.is_done()


def test_the_schedule_follows_elapsed_time_not_steps(tmp_path):
    # Steps are cheap for the first half of the budget and 10 ms slower after it: a step
    # schedule would put the middle of its decay in the first half; a time schedule does not.
    config_settings = dict(warmup_fraction=0.0, min_lr_ratio=0.0)
    job = make_job(tmp_path, LoadedObjective(delay=0.01, after=BUDGET / 2), **config_settings)
    summary = job.run()
    curve = {row["step"]: row for row in _rows(job.curve_path)}
    steps = sorted(curve)
    assert len(steps) == 5
    # Far more steps in the idle first half than in the loaded second half.
    assert steps[2] - steps[0] > 2 * (steps[4] - steps[2])
    for row, fraction in zip((curve[s] for s in steps[1:]), eval_fractions(job.train)[1:],
                             strict=True):
        # Each point is measured within a step (≤ ~12 ms, < 1% of the budget) of its time.
        assert row["lr"] == pytest.approx(budget_learning_rate(fraction, job.train), abs=3e-4)
    assert summary.train_seconds == pytest.approx(BUDGET, rel=0.05)


def _rows(path: Path) -> list[dict]:
    import polars as pl

    return pl.read_csv(path).to_dicts()


class Interrupt(Exception):
    pass


def test_a_resumed_run_spends_only_what_is_left_of_its_budget(tmp_path):
    job = make_job(tmp_path, LoadedObjective(delay=0.002), runtime={"checkpoint_every": 20})
    seen = 0

    def interrupt_halfway(units: int) -> None:
        nonlocal seen
        seen += units
        if seen >= job.train.steps // 2:
            raise Interrupt

    with pytest.raises(Interrupt):
        job.run(interrupt_halfway)
    checkpoint = torch.load(job.checkpoint_dir / "last.pt", weights_only=True)
    spent = checkpoint["state"]["train_seconds"]
    assert 0.3 * BUDGET < spent < 0.55 * BUDGET

    started = time.perf_counter()
    summary = job.run()
    second_session = time.perf_counter() - started
    assert summary.resumed_from_step == checkpoint["state"]["step"] > 0
    assert summary.train_seconds == pytest.approx(BUDGET, rel=0.05)
    assert second_session < BUDGET - 0.5 * spent  # it did not start the budget over
    assert summary.steps > summary.resumed_from_step
