"""The job abstraction and the local scheduler: pending jobs, unique ids, results from worker
processes, and a stage run through its ``jobs`` and ``work`` functions."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from pipeline.core.config import TrackParams
from pipeline.core.track import Stage
from pipeline.runtime.jobs import pending, run_jobs
from pipeline.runtime.stage import run_stage


@dataclass(frozen=True)
class TouchJob:
    """Writes a file; done when the file exists."""

    path: Path

    @property
    def id(self) -> str:
        return self.path.name

    @property
    def fingerprint(self) -> str:
        return self.path.name

    @property
    def size(self) -> int:
        return 1

    def is_done(self) -> bool:
        return self.path.is_file()

    def run(self, on_progress=None) -> int:
        self.path.write_text(str(os.getpid()))
        if on_progress:
            on_progress(1)
        return os.getpid()


def test_pending_skips_done_jobs_and_rejects_duplicate_ids(tmp_path):
    done, todo = TouchJob(tmp_path / "done"), TouchJob(tmp_path / "todo")
    done.run()
    assert pending([done, todo]) == [todo]
    with pytest.raises(ValueError, match="duplicate job ids"):
        pending([todo, todo])


def test_run_jobs_uses_worker_processes(tmp_path):
    jobs = [TouchJob(tmp_path / f"job{i}") for i in range(4)]
    pids = run_jobs(jobs, workers=2, threads_per_worker=1)
    assert sorted(pids) == sorted(int(job.path.read_text()) for job in jobs)
    assert os.getpid() not in pids and all(job.is_done() for job in jobs)


def test_a_stage_runs_its_pending_jobs_then_its_work(tmp_path):
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"runtime": {"workers": 1}}))
    calls = []
    stage = Stage("fake", "a fake stage", TrackParams, params=(),
                  jobs=lambda params, root: [TouchJob(root / "a"), TouchJob(root / "b")],
                  work=lambda params, root: calls.append(sorted(p.name for p in root.iterdir())))
    (tmp_path / "a").write_text("already done")
    run_stage(stage, tmp_path)
    assert calls == [["a", "b", "params.yaml"]]
    assert (tmp_path / "a").read_text() == "already done"  # done jobs are not rerun


@dataclass(frozen=True)
class SlowTouchJob(TouchJob):
    """Writes its file after two seconds, unless stopped first."""

    def run(self, on_progress=None) -> int:
        import time

        time.sleep(2)
        return super().run(on_progress)


@dataclass(frozen=True)
class FailingJob(TouchJob):
    def run(self, on_progress=None) -> int:
        raise ValueError(f"{self.path.name} failed")


def test_a_failing_job_stops_the_others_before_they_write(tmp_path):
    import time

    with pytest.raises(ValueError, match="bad failed"):
        run_jobs([SlowTouchJob(tmp_path / "slow"), FailingJob(tmp_path / "bad")], workers=2,
                 threads_per_worker=1)
    time.sleep(3)  # past when the slow job would have written
    assert not (tmp_path / "slow").exists()


def test_the_pool_starts_the_costliest_jobs_first():
    from dataclasses import dataclass

    from pipeline.runtime.jobs import longest_first

    @dataclass
    class Sized:
        id: str
        size: int

    @dataclass
    class Costed(Sized):
        cost: float

    jobs = [Sized("a", 10), Costed("b", 10, 50.0), Sized("c", 30), Costed("d", 40, 5.0)]
    assert [job.id for job in longest_first(jobs)] == ["b", "c", "a", "d"]
