"""Stacked training: each model of a stack ends where it would alone (same seed, data and
order), stops early on its own, checkpoints and resumes like a single run."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
import torch
from safetensors.torch import load_file

from pipeline.core.config import RuntimeConfig, TrainConfig
from pipeline.core.model import GPTConfig
from pipeline.core.objectives import NextTokenObjective
from pipeline.core.stacked import StackedTrainJob, stack_jobs
from pipeline.core.trainer import TrainJob, train_model
from pipeline.tracks.capacity.synthetic import uniform_tokens

V, S = 64, 8


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make_job(root: Path, seed: int, n_sequences: int, runtime: dict | None = None,
             **train) -> TrainJob:
    settings = dict(steps=50, batch_size=8, lr=0.01, eval_points=5, early_stop=False)
    settings.update(train)
    run_id = f"N{n_sequences}-S{seed}"
    return TrainJob(
        run_id=run_id,
        model=GPTConfig(V, S, n_layer=1, d_model=8, n_head=2),
        objective=NextTokenObjective("skip"),
        tokens=uniform_tokens(n_sequences, S, V, seed=seed),
        reference_bits=(S - 1) * 6.0,
        train=TrainConfig(**settings),
        seed=seed,
        model_dir=root / run_id / "model",
        curve_path=root / run_id / "curve.csv",
        checkpoint_dir=root / run_id / "ckpt",
        runtime=RuntimeConfig(**{"checkpoint_every": 10, **(runtime or {})}),
    )


GRID = [(0, 16), (1, 24), (2, 32)]


def assert_same_model(a: TrainJob, b: TrainJob, rel: float = 1e-4, atol: float = 1e-6) -> None:
    wa, wb = load_file(a.model_dir / "model.safetensors"), load_file(b.model_dir /
                                                                     "model.safetensors")
    assert wa.keys() == wb.keys()
    for key in wa:
        a_, b_ = wa[key], wb[key]
        if key.endswith("c_attn.bias"):
            # The key bias shifts every score of a query alike, which softmax ignores: its
            # gradient is pure rounding noise, which Adam scales up to whole steps. Only the
            # query and value biases mean something.
            a_, b_ = a_.view(3, -1)[[0, 2]], b_.view(3, -1)[[0, 2]]
        torch.testing.assert_close(a_, b_, rtol=rel, atol=atol)
    ca, cb = pl.read_csv(a.curve_path), pl.read_csv(b.curve_path)
    assert ca["step"].to_list() == cb["step"].to_list()
    for column in ("loss", "memorized_bits", "lr"):
        assert ca[column].to_list() == pytest.approx(cb[column].to_list(), rel=rel, abs=1e-3,
                                                     nan_ok=True)


def test_each_stacked_model_ends_where_it_would_alone(tmp_path):
    alone = [make_job(tmp_path / "alone", seed, n) for seed, n in GRID]
    stacked = [make_job(tmp_path / "stacked", seed, n) for seed, n in GRID]
    singles = [train_model(job) for job in alone]
    [stack] = stack_jobs(stacked)
    assert isinstance(stack, StackedTrainJob) and not stack.is_done()
    summaries = stack.run()
    assert stack.is_done() and all(job.is_done() for job in stacked)
    for single, together, a, b in zip(singles, summaries, alone, stacked, strict=True):
        assert together.run_id == single.run_id and together.steps == single.steps == 50
        assert together.final_loss == pytest.approx(single.final_loss, rel=1e-4)
        assert together.fingerprint == single.fingerprint
        assert_same_model(a, b)
        assert sorted(p.name for p in a.model_dir.iterdir()) == \
            sorted(p.name for p in b.model_dir.iterdir())
        assert not b.checkpoint_dir.exists()


def test_a_model_that_stops_early_leaves_the_stack(tmp_path):
    settings = dict(steps=300, batch_size=2, lr=0.02, eval_points=30, early_stop=True)
    grid = [(0, 2), (1, 16)]
    alone = [make_job(tmp_path / "alone", s, n, **settings) for s, n in grid]
    stacked = [make_job(tmp_path / "stacked", s, n, **settings) for s, n in grid]
    singles = [train_model(job) for job in alone]
    assert singles[0].fully_memorized and singles[0].steps < 300 == singles[1].steps
    summaries = StackedTrainJob(tuple(stacked)).run()
    for single, together, a, b in zip(singles, summaries, alone, stacked, strict=True):
        assert together.steps == single.steps
        assert together.fully_memorized == single.fully_memorized
        assert together.memorized_bits == pytest.approx(single.memorized_bits, rel=1e-4)
        # Six times the steps of the test above: rounding differences grow a little.
        assert_same_model(a, b, rel=1e-3, atol=1e-4)
        assert b.is_done() and not b.checkpoint_dir.exists()


def test_runtime_compile_compiles_a_stack_and_changes_no_result(tmp_path, monkeypatch):
    # Dynamo's eager backend: the stack's loss is traced and run as compiled code would be,
    # in seconds (the default backend takes a minute to compile on a CPU). A member that stops
    # early changes the stack's size, which the compiled loss must follow.
    compiled = []

    def eager_compile(fn, **options):
        compiled.append(fn)
        return torch._dynamo.optimize("eager")(fn)

    monkeypatch.setattr(torch, "compile", eager_compile)
    torch._dynamo.reset()
    settings = dict(steps=300, batch_size=2, lr=0.02, eval_points=30, early_stop=True)
    grid = [(0, 2), (1, 16)]
    plain = [make_job(tmp_path / "plain", s, n, **settings) for s, n in grid]
    fast = [make_job(tmp_path / "compiled", s, n, runtime={"compile": True}, **settings)
            for s, n in grid]
    expected = StackedTrainJob(tuple(plain)).run()
    assert not compiled
    summaries = StackedTrainJob(tuple(fast)).run()
    assert len(compiled) == 1
    assert summaries[0].steps == expected[0].steps < 300 == summaries[1].steps
    for a, b in zip(plain, fast, strict=True):
        assert_same_model(a, b, rel=1e-3, atol=1e-4)


class Interrupt(Exception):
    pass


def test_a_stack_resumes_from_its_members_checkpoints_and_so_does_a_single_run(tmp_path):
    alone = [make_job(tmp_path / "alone", seed, n) for seed, n in GRID]
    for job in alone:
        train_model(job)
    stacked = [make_job(tmp_path / "stacked", seed, n) for seed, n in GRID]
    stack = StackedTrainJob(tuple(stacked))
    done = 0

    def interrupt(units: int) -> None:
        nonlocal done
        done += units
        if done >= 25 * len(GRID):
            raise Interrupt

    with pytest.raises(Interrupt):
        stack.run(interrupt)
    assert all((job.checkpoint_dir / "last.pt").is_file() for job in stacked)
    assert not any(job.model_dir.exists() for job in stacked)
    # A member's checkpoint is a single run's: the trainer alone resumes it.
    single = train_model(stacked[0])
    assert single.resumed_from_step == 20
    summaries = stack.run()
    assert [s.run_id for s in summaries] == [job.run_id for job in stacked[1:]]
    assert all(s.resumed_from_step == 20 for s in summaries)
    for a, b in zip(alone, stacked, strict=True):
        assert_same_model(a, b)


def test_only_jobs_of_one_shape_settings_and_batch_are_stacked(tmp_path):
    jobs = [make_job(tmp_path, 0, 16), make_job(tmp_path, 1, 16), make_job(tmp_path, 2, 4),
            make_job(tmp_path, 3, 16, lr=0.02), make_job(tmp_path, 4, 16),
            make_job(tmp_path, 5, 16, budget_seconds=1.0)]
    groups = stack_jobs(jobs)
    assert [[j.id for j in g.jobs] if isinstance(g, StackedTrainJob) else g.id
            for g in groups] == [["N16-S0", "N16-S1", "N16-S4"], "N4-S2", "N16-S3", "N16-S5"]
