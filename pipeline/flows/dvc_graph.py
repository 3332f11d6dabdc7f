"""DVC's view of the project, for the flow: the stage graph, staleness, and the repository
lock, used exactly as `dvc repro` uses them.

The flow holds DVC's repository lock from start to end (a `dvc repro` started meanwhile
fails at once with DVC's "Unable to acquire lock"), and every DVC operation goes through one
:class:`DvcProject` under a thread lock, so stage commits are serialized.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dvc.repo import Repo, lock_repo


class DvcProject:
    """One DVC repository held open and locked by the flow."""

    def __init__(self, repo: Repo):
        self.repo = repo
        self._lock = threading.Lock()
        # DVC addresses a stage relative to the working directory; ours may be elsewhere.
        self._dvcfile = str(Path(repo.root_dir) / "dvc.yaml")

    def stage_graph(self) -> dict[str, list[str]]:
        """Each stage of ``dvc.yaml`` with the stages it depends on (from DVC's own graph)."""
        with self._lock:
            graph = self.repo.index.graph
            return {stage.name: sorted(up.name for up in graph.successors(stage))
                    for stage in graph.nodes}

    def is_stale(self, stage: str) -> bool:
        """What `dvc status <stage>` says: changed deps, params, outs or command."""
        with self._lock:
            return bool(self.repo.status(targets=[self._target(stage)]))

    def remove_outputs(self, stage: str) -> None:
        """Remove the stage's non-persistent outputs before it runs, as `dvc repro` does, so a
        shrunken grid leaves no stale file behind."""
        with self._lock:
            (dvc_stage,) = self.repo.stage.collect(self._target(stage))
            dvc_stage.remove_outs(ignore_remove=False, force=False)

    def commit(self, stage: str) -> None:
        """Record the stage's deps, params and outs in dvc.lock, as `dvc repro` would."""
        with self._lock:
            self.repo.commit(self._target(stage), force=True)
            # Cached stage and index objects describe dvc.lock as it was; drop them.
            self.repo._reset()

    def _target(self, stage: str) -> str:
        return f"{self._dvcfile}:{stage}"


@contextmanager
def locked_project(root: str | Path) -> Iterator[DvcProject]:
    """The repository at ``root`` with DVC's lock held for the whole block."""
    with Repo(str(root)) as repo, lock_repo(repo):
        yield DvcProject(repo)
